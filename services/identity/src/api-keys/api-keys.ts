import type { ApiKey, Role } from '@gatehouse/contracts';
import { AppError, apiKeyHash, type Bus, type Logger, newApiKey, newId } from '@gatehouse/kit';
import { type Kysely, sql } from 'kysely';
import { withDatabaseErrors } from '../db/errors.ts';
import type { ApiKeyRow, Database } from '../db/schema.ts';
import { notFound } from '../users/user-errors.ts';
import type { UsersStore } from '../users/users.store.ts';

export interface ApiKeysDeps {
  db: Kysely<Database>;
  store: UsersStore;
  bus: Pick<Bus, 'publish'>;
  log: Logger;
}

/** Keys one user may hold at once (revoked ones do not count). */
export const MAX_KEYS_PER_USER = 100;

/** Who a working key acts as. */
export interface KeyHolder {
  key_id: string;
  project_id: string;
  user_id: string;
  role: Role;
  expires_at: string | null;
}

const iso = (d: Date | null): string | null => (d === null ? null : new Date(d).toISOString());

const toApiKey = (row: ApiKeyRow): ApiKey => ({
  id: row.id,
  name: row.name,
  prefix: row.prefix,
  created_at: new Date(row.created_at).toISOString(),
  last_used_at: iso(row.last_used_at),
  expires_at: iso(row.expires_at),
});

/** One answer for every key that does not work: unknown, revoked, expired, or its user banned. */
const refused = () => new AppError('unauthorized', 'this API key is not valid');

/**
 * A user's API keys: made here (shown once, stored as a SHA-256 hash), listed,
 * revoked. The gateway verifies a key by its hash once and keeps the answer;
 * every revocation is published (`events.api_keys.revoked`) so that each
 * gateway drops it at once. Every method throws `service_unavailable` when the
 * database is down.
 */
export class ApiKeys {
  readonly #deps: ApiKeysDeps;

  constructor(deps: ApiKeysDeps) {
    this.#deps = deps;
  }

  /** Throws `not_found`, `user_banned`, `forbidden` (a guest, or MAX_KEYS_PER_USER reached). */
  async create(input: {
    projectId: string;
    userId: string;
    name: string;
    expiresInDays?: number;
  }): Promise<{ api_key: ApiKey; key: string }> {
    const user = await this.#deps.store.findById(input.projectId, input.userId);
    if (!user) throw notFound();
    if (user.role === 'guest') throw new AppError('forbidden', 'a guest cannot create API keys: sign up first');
    if (user.banned) throw new AppError('user_banned', 'this account is banned');
    const { key, prefix } = newApiKey();
    const expiresAt =
      input.expiresInDays === undefined ? null : new Date(Date.now() + input.expiresInDays * 86_400_000);
    const row = await withDatabaseErrors(() =>
      this.#deps.db.transaction().execute(async (trx) => {
        // The user's row is the lock: two creations at once cannot both pass the count.
        await trx.selectFrom('users').select('id').where('id', '=', user.id).forUpdate().executeTakeFirst();
        const { count } = await trx
          .selectFrom('api_keys')
          .select((eb) => eb.fn.countAll<string>().as('count'))
          .where('user_id', '=', user.id)
          .where('revoked_at', 'is', null)
          .executeTakeFirstOrThrow();
        if (Number(count) >= MAX_KEYS_PER_USER) {
          throw new AppError('forbidden', `a user may hold at most ${MAX_KEYS_PER_USER} API keys: revoke one first`);
        }
        return trx
          .insertInto('api_keys')
          .values({
            id: newId(),
            project_id: user.project_id,
            user_id: user.id,
            name: input.name,
            prefix,
            key_hash: apiKeyHash(key),
            expires_at: expiresAt,
            last_used_at: null,
            revoked_at: null,
          })
          .returningAll()
          .executeTakeFirstOrThrow();
      }),
    );
    return { api_key: toApiKey(row), key };
  }

  /** The user's keys not revoked, newest first (expired ones too, so they can be seen and removed). */
  async list(projectId: string, userId: string): Promise<ApiKey[]> {
    const rows = await withDatabaseErrors(() =>
      this.#deps.db
        .selectFrom('api_keys')
        .selectAll()
        .where('project_id', '=', projectId)
        .where('user_id', '=', userId)
        .where('revoked_at', 'is', null)
        .orderBy('id', 'desc')
        .execute(),
    );
    return rows.map(toApiKey);
  }

  /** Throws `not_found` (also another user's key, or one revoked already). Publishes the revocation. */
  async revoke(projectId: string, userId: string, keyId: string): Promise<void> {
    const row = await withDatabaseErrors(() =>
      this.#deps.db
        .updateTable('api_keys')
        .set({ revoked_at: sql`now()` })
        .where('project_id', '=', projectId)
        .where('user_id', '=', userId)
        .where('id', '=', keyId)
        .where('revoked_at', 'is', null)
        .returning('id')
        .executeTakeFirst(),
    );
    if (!row) throw new AppError('not_found', 'no such API key');
    await this.#published(projectId, userId, [row.id]);
  }

  /** Revokes every key of the user (an account that changed hands); the ids revoked. */
  async revokeAll(projectId: string, userId: string): Promise<string[]> {
    const rows = await withDatabaseErrors(() =>
      this.#deps.db
        .updateTable('api_keys')
        .set({ revoked_at: sql`now()` })
        .where('project_id', '=', projectId)
        .where('user_id', '=', userId)
        .where('revoked_at', 'is', null)
        .returning('id')
        .execute(),
    );
    const ids = rows.map((r) => r.id);
    if (ids.length > 0) await this.#published(projectId, userId, ids);
    return ids;
  }

  /** Who the key of this hash acts as, if it works now. Throws `unauthorized` otherwise. */
  async verify(keyHash: string): Promise<KeyHolder> {
    const row = await withDatabaseErrors(() =>
      this.#deps.db
        .selectFrom('api_keys')
        .innerJoin('users', 'users.id', 'api_keys.user_id')
        .select([
          'api_keys.id as key_id',
          'api_keys.project_id',
          'api_keys.user_id',
          'api_keys.expires_at',
          'users.role',
        ])
        .where('api_keys.key_hash', '=', keyHash)
        .where('api_keys.revoked_at', 'is', null)
        .where((eb) => eb.or([eb('api_keys.expires_at', 'is', null), eb('api_keys.expires_at', '>', sql<Date>`now()`)]))
        .where('users.banned', '=', false)
        .executeTakeFirst(),
    );
    if (!row) throw refused();
    return { ...row, expires_at: iso(row.expires_at) };
  }

  /** Records when keys were last used (a gateway's batch); an older time never overwrites a newer one. */
  async touch(uses: { key_id: string; at: string }[]): Promise<void> {
    if (uses.length === 0) return;
    const ids = uses.map((u) => u.key_id);
    const times = uses.map((u) => u.at);
    await withDatabaseErrors(() =>
      sql`
        update api_keys set last_used_at = v.at
        from (select unnest(${ids}::uuid[]) as id, unnest(${times}::timestamptz[]) as at) as v
        where api_keys.id = v.id and (api_keys.last_used_at is null or api_keys.last_used_at < v.at)
      `.execute(this.#deps.db),
    );
  }

  async #published(projectId: string, userId: string, keyIds: string[]): Promise<void> {
    try {
      await this.#deps.bus.publish('events.api_keys.revoked', {
        v: 1,
        project_id: projectId,
        user_id: userId,
        key_ids: keyIds,
      });
    } catch (err) {
      // The revocation is stored: a gateway that missed the event drops the key when its
      // cached answer ages out (API_KEY_CACHE_SECONDS in the gateway).
      this.#deps.log.error({ err, userId }, 'could not publish an API key revocation');
    }
  }
}
