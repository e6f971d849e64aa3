import { connectBus, createLogger, loadConfig, Shutdown } from '@gatehouse/kit';
import { startMfa } from './app.ts';

const config = loadConfig(process.env);
const log = createLogger({ service: 'mfa', level: config.logLevel });
const shutdown = new Shutdown(log);
shutdown.listen();
const bus = await connectBus(config, 'mfa', log);
shutdown.add('bus', () => bus.transport.close());
const service = await startMfa({ bus, log });
shutdown.add('mfa', () => service.close());
log.info('mfa ready');
