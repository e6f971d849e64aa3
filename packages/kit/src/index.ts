export {
  API_KEY_PREFIX,
  apiKeyHash,
  isApiKeyShaped,
  isPublishableKeyShaped,
  isSecretKeyShaped,
  newApiKey,
  newProjectKeys,
  PUBLISHABLE_KEY_PREFIX,
  SECRET_KEY_PREFIX,
} from './api-keys.ts';
export { type AuditDataOf, type AuditEventInput, auditEvent } from './audit-queue/event.ts';
export { InProcessAuditQueue, type InProcessAuditQueueOptions } from './audit-queue/in-process.ts';
export {
  type AuditQueueNames,
  JetStreamAuditQueue,
  type JetStreamAuditQueueOptions,
} from './audit-queue/jetstream.ts';
export type { AuditBatch, AuditBatchOptions, AuditQueue, AuditSink } from './audit-queue/queue.ts';
export {
  Bus,
  type EventSubjectName,
  type MessageContext,
  type RequestBus,
  type RequestSubjectName,
} from './bus/bus.ts';
export { InProcessTransport } from './bus/in-process.ts';
export { NatsTransport } from './bus/nats.ts';
export { type NatsSecurity, natsConnectionOptions, natsSecurity } from './bus/nats-options.ts';
export { type Headers, type Transport, Unanswered } from './bus/transport.ts';
export {
  type Config,
  embeddedSecretKey,
  environment,
  loadConfig,
  type PasswordHashParams,
  parsePasswordHash,
  requireSecretKey,
} from './config.ts';
export { connectBus, connectBusWithTransport, connectNats } from './connect.ts';
export {
  addressKey,
  type EmailAddressResult,
  normalizeEmail,
  parseEmailAddress,
  requireEmail,
} from './email-address.ts';
export { AppError, isAppError, unavailable } from './errors.ts';
export { newId } from './ids.ts';
export {
  BUS_JSON_LIMITS,
  EDGE_JSON_LIMITS,
  findJsonProblem,
  type JsonLimits,
  type JsonProblem,
  stringProblem,
} from './json-guard.ts';
export { createLogger, type Logger } from './logger.ts';
export { InProcessMailQueue, type InProcessMailQueueOptions } from './mail-queue/in-process.ts';
export { JetStreamMailQueue, type JetStreamMailQueueOptions, type MailQueueNames } from './mail-queue/jetstream.ts';
export {
  DEFAULT_BACKOFF_MS,
  DEFAULT_MAX_ATTEMPTS,
  type MailDeadLetter,
  type MailRetryOptions,
  PermanentMailError,
} from './mail-queue/policy.ts';
export type { MailDelivery, MailQueue } from './mail-queue/queue.ts';
export { HttpRouteSeries, HttpStats, Metrics, metrics } from './metrics.ts';
export { type OAuthProviderKind, type OAuthProviderSettings, oauthProviders } from './oauth-config.ts';
export { type OpsServer, selfCheck, serveOperations, startOpsServer } from './ops-server.ts';
export {
  connectRedis,
  createRedis,
  parseRedisUrl,
  type RedisClient,
  type RedisSecurityOptions,
  type RedisTarget,
  redisOptions,
  traceRedis,
} from './redis.ts';
export { isSealedUnderPrimary, KeyRing, keyId, seal, sealedKeyId, UnsealError, unseal } from './sealed.ts';
export { Shutdown } from './shutdown.ts';
export {
  activeTraceId,
  injectTrace,
  recordSpan,
  runIn,
  SpanKind,
  startSpan,
  startTracing,
  stopTracing,
  traced,
  tracesRequested,
  tracingEnabled,
  withRemoteParent,
} from './tracing.ts';
export { validate } from './validation.ts';
export { waitFor } from './wait.ts';
