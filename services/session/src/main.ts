import {
  connectBus,
  createLogger,
  environment,
  loadConfig,
  redisOptions,
  requireSecretKey,
  Shutdown,
} from '@gatehouse/kit';
import { Redis } from 'ioredis';
import { RedisSessionStore, startSession } from './app.ts';

const config = loadConfig(environment());
const log = createLogger({ service: 'session', level: config.logLevel });
if (!config.redisUrl) throw new Error('REDIS_URL is required when the session service runs on its own');
const secretKey = requireSecretKey(config);

const shutdown = new Shutdown(log);
shutdown.listen();
// Fail fast while Redis is down (callers get service_unavailable and retry),
// reconnect forever in the background (ioredis' default retry strategy).
// Credentials in REDIS_URL; TLS from rediss:// or REDIS_TLS_CA (redisOptions).
const redis = new Redis(config.redisUrl, {
  ...redisOptions(config),
  maxRetriesPerRequest: 1,
  enableOfflineQueue: false,
  connectTimeout: 2000,
  commandTimeout: 2000,
});
redis.on('error', (err) => log.warn({ err: err.message }, 'redis error'));
shutdown.add('redis', () => redis.quit());
// Without the offline queue nothing may be sent before the first connect.
if (redis.status !== 'ready') {
  log.info('waiting for redis');
  await new Promise((resolve) => redis.once('ready', resolve));
}

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
