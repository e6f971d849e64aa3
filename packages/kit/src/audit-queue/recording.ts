import type { AuditEvent, AuditEventType } from '@gatehouse/contracts';
import { validAuditEvent } from './event.ts';
import type { AuditSink } from './queue.ts';

/**
 * Test support: a sink that keeps every event it is given, in order. Unlike
 * the real queues it throws on a malformed event, so a test sees the mistake.
 */
export class RecordingAuditSink implements AuditSink {
  readonly events: AuditEvent[] = [];

  record(event: AuditEvent): void {
    this.events.push(structuredClone(validAuditEvent(event)));
  }

  /** The events of `type`, in order. */
  ofType(type: AuditEventType): AuditEvent[] {
    return this.events.filter((e) => e.type === type);
  }
}
