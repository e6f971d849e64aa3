// Test support shared by the packages' tests: `import { ... } from '@gatehouse/kit/testing'`.

export { RecordingAuditSink } from '../audit-queue/recording.ts';
export { makeTestCertificates, type TestCertificates } from './certificates.ts';
export { embeddedEnv } from './embedded-env.ts';
export * from './oauth-peers/index.ts';
export { freePort, PrivateNats, type PrivateNatsOptions, tcpUp } from './private-nats.ts';
export { PrivateRedis, type PrivateRedisOptions } from './private-redis.ts';
export { PrivateRedisCluster, PrivateRedisSentinel } from './private-redis-topologies.ts';
