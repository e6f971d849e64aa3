import { Type } from '@sinclair/typebox';
import { requests } from '../subjects.ts';
import { EmptyRequest } from './shapes.ts';

/** The mailer's subjects (mail itself goes through the JetStream queue: mail.ts). */
export const mailerRequests = {
  [requests.mailerHealth]: { request: EmptyRequest, response: Type.Object({ ok: Type.Boolean() }) },
};
