import { connectBus, createLogger, loadConfig, Shutdown } from '@gatehouse/kit';
import { startMailer } from './app.ts';

const config = loadConfig(process.env);
const log = createLogger({ name: 'mailer', level: config.logLevel });
const shutdown = new Shutdown(log);
shutdown.listen();
const bus = await connectBus(config, 'mailer', log);
shutdown.add('bus', () => bus.transport.close());
const service = await startMailer({ bus, log });
shutdown.add('mailer', () => service.close());
log.info('mailer ready');
