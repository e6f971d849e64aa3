import { createLogger, environment, loadConfig, metrics, Shutdown, startTracing } from '@gatehouse/kit';
import { startEmbedded } from './embedded.ts';

// Embedded mode ignores REDIS_URL and NATS_URL: one process, in-memory bus and sessions.
const config = loadConfig(environment());
const log = createLogger({ level: config.logLevel });
const shutdown = new Shutdown(log);
shutdown.listen();
// Every service shares this process, and so its metrics: the gateway's /metrics serves them all.
metrics.collectDefaults();
const tracing = startTracing('embedded');
if (tracing) shutdown.add('tracing', () => tracing.shutdown());
const gatehouse = await startEmbedded(config, log);
shutdown.add('gatehouse', () => gatehouse.close());
log.info({ url: gatehouse.url, publicUrl: config.publicUrl, dataDir: config.dataDir }, 'Gatehouse (embedded) is ready');
