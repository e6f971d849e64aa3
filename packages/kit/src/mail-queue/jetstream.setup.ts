import { mailQueue } from '@gatehouse/contracts';
import {
  AckPolicy,
  DeliverPolicy,
  DiscardPolicy,
  JetStreamApiCodes,
  JetStreamApiError,
  type JetStreamManager,
  RetentionPolicy,
  StorageType,
} from '@nats-io/jetstream';
import { nanos } from '@nats-io/transport-node';
import type { Logger } from 'pino';

/** Where the jobs live. Tests override every name so they never touch a running stack's `MAIL`. */
export interface MailQueueNames {
  stream: string;
  /** Jobs go to `<subjectPrefix>.<template>`; the stream takes `<subjectPrefix>.>`. */
  subjectPrefix: string;
  consumer: string;
  deadLetterStream: string;
  deadLetterSubject: string;
}

export const DEFAULT_NAMES: MailQueueNames = {
  stream: mailQueue.stream,
  subjectPrefix: mailQueue.subjectPrefix,
  consumer: mailQueue.consumer,
  deadLetterStream: mailQueue.deadLetterStream,
  deadLetterSubject: mailQueue.deadLetterSubject,
};

/** Dead letters are kept 30 days: long enough to notice, look and replay by hand. */
const DEAD_LETTER_MAX_AGE_MS = 30 * 24 * 3_600_000;

const isApiError = (err: unknown, code: number) => err instanceof JetStreamApiError && err.code === code;

/**
 * Creates the job stream and the dead-letter stream, or brings an existing
 * one's subjects and duplicate window up to date. The job stream is a work
 * queue (a job is removed once acked: the stream holds exactly the mail not yet
 * sent) on file storage (a NATS restart keeps it).
 */
export async function ensureStreams(
  jsm: JetStreamManager,
  names: MailQueueNames,
  options: { duplicateWindowMs: number; replicas?: number; log: Logger },
): Promise<void> {
  const duplicateWindow = nanos(options.duplicateWindowMs);
  const num_replicas = options.replicas ?? 1;
  await ensureStream(
    jsm,
    {
      name: names.stream,
      subjects: [`${names.subjectPrefix}.>`],
      retention: RetentionPolicy.Workqueue,
      storage: StorageType.File,
      // A full stream refuses new jobs (the caller gets 503) rather than dropping queued ones.
      discard: DiscardPolicy.New,
      duplicate_window: duplicateWindow,
      num_replicas,
    },
    options.log,
  );
  await ensureStream(
    jsm,
    {
      name: names.deadLetterStream,
      subjects: [names.deadLetterSubject],
      retention: RetentionPolicy.Limits,
      storage: StorageType.File,
      max_age: nanos(DEAD_LETTER_MAX_AGE_MS),
      duplicate_window: duplicateWindow,
      num_replicas,
    },
    options.log,
  );
}

export type StreamSpec = Parameters<JetStreamManager['streams']['add']>[0] & { subjects: string[] };

/**
 * Creates the stream of `spec`, or brings an existing one's subjects and
 * duplicate window up to date (the mail queue's and the audit queue's).
 */
export async function ensureStream(jsm: JetStreamManager, spec: StreamSpec, log: Logger): Promise<void> {
  let current: Awaited<ReturnType<JetStreamManager['streams']['info']>>;
  try {
    current = await jsm.streams.info(spec.name);
  } catch (err) {
    if (!isApiError(err, JetStreamApiCodes.StreamNotFound)) throw err;
    await jsm.streams.add(spec);
    return;
  }
  const { config } = current;
  if (config.retention !== spec.retention) {
    // Retention cannot change in place; say so rather than fail: the stream still holds the jobs.
    log.warn({ stream: spec.name, retention: config.retention }, 'stream has an unexpected retention policy');
  }
  const sameSubjects = config.subjects.join(',') === spec.subjects.join(',');
  const replicas = spec.num_replicas ?? config.num_replicas;
  if (!sameSubjects || config.duplicate_window !== spec.duplicate_window || config.num_replicas !== replicas) {
    // A cluster grown to JETSTREAM_REPLICAS: the stream is copied to the new peers in place.
    await jsm.streams.update(spec.name, {
      subjects: spec.subjects,
      duplicate_window: spec.duplicate_window,
      num_replicas: replicas,
    });
  }
}

/**
 * Creates or updates the durable pull consumer `names.consumer` on everything
 * under `names.subjectPrefix`, with explicit acks. `maxDeliver`: deliveries
 * before the server gives up on a message (-1: never).
 */
export async function ensureConsumer(
  jsm: JetStreamManager,
  names: Pick<MailQueueNames, 'stream' | 'consumer' | 'subjectPrefix'>,
  options: { maxDeliver: number; ackWaitMs: number },
): Promise<void> {
  const wanted = {
    ack_wait: nanos(options.ackWaitMs),
    max_deliver: options.maxDeliver,
  };
  try {
    const { config } = await jsm.consumers.info(names.stream, names.consumer);
    if (config.ack_wait !== wanted.ack_wait || config.max_deliver !== wanted.max_deliver) {
      await jsm.consumers.update(names.stream, names.consumer, wanted);
    }
  } catch (err) {
    if (!isApiError(err, JetStreamApiCodes.ConsumerNotFound)) throw err;
    await jsm.consumers.add(names.stream, {
      ...wanted,
      durable_name: names.consumer,
      ack_policy: AckPolicy.Explicit,
      deliver_policy: DeliverPolicy.All,
      filter_subject: `${names.subjectPrefix}.>`,
    });
  }
}
