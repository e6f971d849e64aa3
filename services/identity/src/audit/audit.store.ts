import type { AuditEvent, AuditEventType } from '@gatehouse/contracts';
import type { Kysely } from 'kysely';
import { withDatabaseErrors } from '../db/errors.ts';
import type { AuditEventRow, Database } from '../db/schema.ts';

/** What the list is narrowed to; `before` is an id (the cursor's position). */
export interface AuditFilter {
  userId?: string;
  type?: AuditEventType;
  /** At or after. */
  since?: Date;
  /** Strictly before. */
  until?: Date;
  before?: string;
  limit: number;
}

/**
 * Where the audit log is kept. Both methods throw `service_unavailable` when
 * the database is down, and a catalog code (`validation_failed`...) for an
 * event it cannot store.
 */
export interface AuditStore {
  /** Stores the events in one statement; an id already stored is skipped (a redelivered batch is stored once). */
  insert(events: AuditEvent[]): Promise<void>;
  /** The project's events matching `filter`, newest first. */
  list(projectId: string, filter: AuditFilter): Promise<AuditEventRow[]>;
}

export class PostgresAuditStore implements AuditStore {
  readonly #db: Kysely<Database>;

  constructor(db: Kysely<Database>) {
    this.#db = db;
  }

  async insert(events: AuditEvent[]): Promise<void> {
    if (events.length === 0) return;
    await withDatabaseErrors(() =>
      this.#db
        .insertInto('audit_events')
        .values(
          events.map((e) => ({
            id: e.id,
            project_id: e.project_id,
            type: e.type,
            user_id: e.user_id,
            actor_id: e.actor_id,
            ip: e.ip,
            user_agent: e.user_agent,
            at: new Date(e.at),
            data: JSON.stringify(e.data),
          })),
        )
        .onConflict((oc) => oc.column('id').doNothing())
        .execute(),
    );
  }

  async list(projectId: string, filter: AuditFilter): Promise<AuditEventRow[]> {
    return withDatabaseErrors(() => {
      let q = this.#db.selectFrom('audit_events').selectAll().where('project_id', '=', projectId);
      if (filter.userId !== undefined) q = q.where('user_id', '=', filter.userId);
      if (filter.type !== undefined) q = q.where('type', '=', filter.type);
      if (filter.since !== undefined) q = q.where('at', '>=', filter.since);
      if (filter.until !== undefined) q = q.where('at', '<', filter.until);
      if (filter.before !== undefined) q = q.where('id', '<', filter.before);
      return q.orderBy('id', 'desc').limit(filter.limit).execute();
    });
  }
}
