import { after, before } from 'node:test';
import { pino } from 'pino';
import { PrivateNats } from '../testing/private-nats.ts';
import { NatsTransport } from './nats.ts';
import { transportContract } from './transport.contract.ts';

// A private server: the contract serves real subjects in real queue groups, which a Gatehouse
// running against the machine's NATS would answer too.
const nats = new PrivateNats();
before(() => nats.start());
after(() => nats.destroy());

transportContract('nats', () => NatsTransport.connect(nats.url, 'contract-test', pino({ level: 'silent' })));
