import {
  AUDIT_DATA_FIELDS,
  type AuditData,
  type AuditEvent,
  AuditEvent as AuditEventSchema,
  type AuditEventType,
} from '@gatehouse/contracts';
import { newId } from '../ids.ts';
import { validate } from '../validation.ts';

/** The data fields an event of type `T` may carry (AUDIT_DATA_FIELDS). */
export type AuditDataOf<T extends AuditEventType> = Pick<AuditData, (typeof AUDIT_DATA_FIELDS)[T][number]>;

export interface AuditEventInput<T extends AuditEventType> {
  type: T;
  project_id: string;
  user_id?: string | null;
  actor_id?: string | null;
  ip?: string | null;
  user_agent?: string | null;
  data?: AuditDataOf<T>;
  /** When it happened; now by default. */
  at?: Date;
}

/**
 * A new audit event (a UUID v7 id, `at` now). `data` is cut down to the
 * fields AUDIT_DATA_FIELDS allows for the type, whatever the caller passed:
 * a request body spread into it by mistake leaves nothing of itself in the
 * event. The caller still hands it to an AuditSink, which validates it.
 */
export function auditEvent<T extends AuditEventType>(input: AuditEventInput<T>): AuditEvent {
  const allowed: readonly string[] = AUDIT_DATA_FIELDS[input.type];
  const given = (input.data ?? {}) as Record<string, unknown>;
  const data: Record<string, unknown> = {};
  for (const field of allowed) if (given[field] !== undefined) data[field] = given[field];
  return {
    v: 1,
    id: newId(),
    project_id: input.project_id,
    type: input.type,
    user_id: input.user_id ?? null,
    actor_id: input.actor_id ?? null,
    ip: input.ip ? input.ip.slice(0, 64) : null,
    user_agent: input.user_agent ? input.user_agent.slice(0, 512) : null,
    at: (input.at ?? new Date()).toISOString(),
    data: data as AuditData,
  };
}

/** `event` checked against the contract's schema; throws `validation_failed`. */
export function validAuditEvent(event: unknown): AuditEvent {
  return validate(AuditEventSchema, event, 'audit event');
}
