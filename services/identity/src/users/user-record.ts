import type { UserRecord } from '@gatehouse/contracts';
import type { UserRow } from '../db/schema.ts';

/**
 * The wire form of a stored user. The password hash never leaves identity:
 * other services only learn whether there is one (`has_password`).
 */
export function toUserRecord(row: UserRow): UserRecord {
  return {
    id: row.id,
    project_id: row.project_id,
    email: row.email,
    email_verified: row.email_verified,
    name: row.name,
    avatar_url: row.avatar_url,
    role: row.role,
    metadata: row.metadata,
    mfa_enabled: row.mfa_enabled,
    banned: row.banned,
    has_password: row.password_hash !== null,
    created_at: new Date(row.created_at).toISOString(),
    updated_at: new Date(row.updated_at).toISOString(),
  };
}
