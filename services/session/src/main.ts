import {
  connectBus,
  connectRedis,
  createLogger,
  environment,
  loadConfig,
  requireSecretKey,
  Shutdown,
} from '@gatehouse/kit';
import { RedisSessionStore, startSession } from './app.ts';

const config = loadConfig(environment());
const log = createLogger({ service: 'session', level: config.logLevel });
const secretKey = requireSecretKey(config);

const shutdown = new Shutdown(log);
shutdown.listen();
// Credentials in REDIS_URL; TLS from rediss:// or REDIS_TLS_CA (see kit connectRedis).
const redis = await connectRedis(config, 'session', log, shutdown);

const bus = await connectBus(config, 'session', log);
shutdown.add('bus', () => bus.transport.close());
// Sessions and signing keys in the one Redis.
const store = new RedisSessionStore(redis);
const service = await startSession({
  bus,
  sessionStore: store,
  keyStore: store,
  config,
  log,
  secretKey,
  previousSecretKeys: config.secretKeyPrevious,
});
shutdown.add('session', () => service.close());
log.info('session ready');
