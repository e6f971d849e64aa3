import type { AuditData, AuditEvent, AuditEventType, AuditEventView } from '@gatehouse/contracts';
import { AppError, isAppError, type Logger } from '@gatehouse/kit';
import type { AuditEventRow } from '../db/schema.ts';
import type { AuditStore } from './audit.store.ts';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

/** A page's position, opaque to clients: the last event id it showed. */
const cursorOf = (id: string): string => Buffer.from(id, 'utf8').toString('base64url');

function positionOf(cursor: string): string {
  const id = Buffer.from(cursor, 'base64url').toString('utf8');
  if (!UUID.test(id)) {
    throw new AppError('validation_failed', 'the request is invalid', {
      details: [{ field: '/cursor', message: 'not a cursor this list gave out' }],
    });
  }
  return id;
}

const toView = (row: AuditEventRow): AuditEventView => ({
  id: row.id,
  type: row.type as AuditEventType,
  user_id: row.user_id,
  actor_id: row.actor_id,
  ip: row.ip,
  user_agent: row.user_agent,
  at: new Date(row.at).toISOString(),
  data: row.data as AuditData,
});

export interface AuditListQuery {
  projectId: string;
  userId?: string;
  type?: AuditEventType;
  since?: string;
  until?: string;
  limit: number;
  cursor?: string;
}

/**
 * The audit log, written by the queue's consumer in batches and read by the
 * admin API. The events arrive already checked against the contract's
 * schema (the queue validates them), which allow-lists their data.
 */
export class AuditLog {
  readonly #store: AuditStore;
  readonly #log: Logger;

  constructor(deps: { store: AuditStore; log: Logger }) {
    this.#store = deps.store;
    this.#log = deps.log;
  }

  /**
   * Writes a batch in one statement. Throws `service_unavailable` while the
   * database is down (the queue keeps the batch and hands it over again).
   * When the database refuses the batch for what it holds, each event is
   * written alone and those it refuses are logged and dropped: one bad event
   * must not hold back the others for ever.
   */
  async write(events: AuditEvent[], log: Logger = this.#log): Promise<void> {
    try {
      await this.#store.insert(events);
      return;
    } catch (err) {
      if (isAppError(err, 'service_unavailable')) throw err;
      log.warn({ err, events: events.length }, 'audit batch refused by the database: writing its events one by one');
    }
    for (const event of events) {
      try {
        await this.#store.insert([event]);
      } catch (err) {
        if (isAppError(err, 'service_unavailable')) throw err;
        log.error({ err, eventId: event.id, type: event.type }, 'audit event refused by the database: dropped');
      }
    }
  }

  /** Newest first. Throws `validation_failed` for a cursor this list did not give out. */
  async list(query: AuditListQuery): Promise<{ events: AuditEventView[]; next_cursor: string | null }> {
    const before = query.cursor === undefined ? undefined : positionOf(query.cursor);
    // One more than asked tells whether there is a next page, without a count.
    const rows = await this.#store.list(query.projectId, {
      ...(query.userId !== undefined ? { userId: query.userId } : {}),
      ...(query.type !== undefined ? { type: query.type } : {}),
      ...(query.since !== undefined ? { since: new Date(query.since) } : {}),
      ...(query.until !== undefined ? { until: new Date(query.until) } : {}),
      ...(before !== undefined ? { before } : {}),
      limit: query.limit + 1,
    });
    const page = rows.slice(0, query.limit);
    const last = page.at(-1);
    return {
      events: page.map(toView),
      next_cursor: rows.length > query.limit && last ? cursorOf(last.id) : null,
    };
  }
}
