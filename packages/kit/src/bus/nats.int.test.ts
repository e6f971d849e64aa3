import { pino } from 'pino';
import { NatsTransport } from './nats.ts';
import { transportContract } from './transport.contract.ts';

const url = process.env.TEST_NATS_URL ?? 'nats://127.0.0.1:4222';

transportContract('nats', () => NatsTransport.connect(url, 'contract-test', pino({ level: 'silent' })));
