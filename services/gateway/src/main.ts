import { connectBus, createLogger, environment, loadConfig, redisOptions, Shutdown } from '@gatehouse/kit';
import { Redis } from 'ioredis';
import { RedisRateLimitStore, startGateway } from './app.ts';

const config = loadConfig(environment());
const log = createLogger({ service: 'gateway', level: config.logLevel });
if (!config.redisUrl) throw new Error('REDIS_URL is required when the gateway runs on its own');

const shutdown = new Shutdown(log);
shutdown.listen();
const bus = await connectBus(config, 'gateway', log);
shutdown.add('bus', () => bus.transport.close());
// Fail fast while Redis is down (a 503), reconnect forever in the background.
// Credentials in REDIS_URL; TLS from rediss:// or REDIS_TLS_CA (redisOptions).
const redis = new Redis(config.redisUrl, {
  ...redisOptions(config),
  maxRetriesPerRequest: 1,
  enableOfflineQueue: false,
  connectTimeout: 2000,
});
redis.on('error', (err) => log.warn({ err: err.message }, 'redis error'));
shutdown.add('redis', () => redis.quit());
const gateway = await startGateway({ bus, config, log, rateLimitStore: new RedisRateLimitStore(redis) });
shutdown.add('http', () => gateway.close());
log.info({ port: config.port, publicUrl: config.publicUrl }, 'gateway listening');
