/**
 * The Lua scripts of the Redis session store. Each decision that reads and
 * then writes runs as one script, so concurrent refreshes on several replicas
 * cannot interleave (Redis runs a script to completion before anything else).
 *
 * Every key of a user's sessions is in the user's shard, one of 256 chosen by
 * the user id (sessions.tokens.ts `shardOf`), written as a hash tag, so a
 * Redis Cluster keeps the whole shard in one slot and every script below runs
 * on the one node that owns it. `p` is the store's prefix with the shard's tag,
 * `gh:{a7}`; under it:
 *   s:<sid>      hash   the session; TTL = its idle deadline (never past its absolute expiry)
 *   rt:<sha256>  hash   a refresh-token record {sid, state, rotated_at, expires_at}; state is
 *                       'active' (one per session) or 'rotated'. A token's successor is its
 *                       child HMAC(chain key, token), which only the service can compute: it
 *                       passes the child's hash with the presented one (sessions.tokens.ts).
 *                       A refresh token names its shard (`a7.<secret>`), so the record is found
 *   sf:<sid>     set    the session's token hashes (its family), deleted with it
 *   u:<uid>      set    the user's session ids (stale ids are pruned when listed)
 *   revoked      zset   the shard's revoked session ids -> until (epoch ms); the revocation
 *                       list is the union of the 256 shards'
 *
 * The session scripts declare one key, the shard's `revoked` set, which routes
 * them to the shard's slot (every key they touch is in it; they derive the
 * others from the token record, so they take `p` as ARGV[1]).
 *
 * Expiry is decided against the service's `now` argument; TTLs only collect
 * garbage. Lua numbers are doubles: epoch ms fit exactly (13 digits).
 */

/** Deletes a session with its token family and index entry, and lists it as revoked. */
const REVOKE_FN = `
local function revoke(p, sid, uid, untilMs, now)
  local family = p .. 'sf:' .. sid
  for _, h in ipairs(redis.call('SMEMBERS', family)) do redis.call('DEL', p .. 'rt:' .. h) end
  redis.call('DEL', family, p .. 's:' .. sid)
  redis.call('SREM', p .. 'u:' .. uid, sid)
  local previous = tonumber(redis.call('ZSCORE', p .. 'revoked', sid) or '0')
  redis.call('ZADD', p .. 'revoked', math.max(untilMs, previous), sid)
  redis.call('ZREMRANGEBYSCORE', p .. 'revoked', '-inf', now)
end
local function live(p, sid, now)
  local s = redis.call('HMGET', p .. 's:' .. sid, 'user_id', 'expires_at', 'idle_expires_at')
  if s[1] and tonumber(s[2]) > now and tonumber(s[3]) > now then return s[1], tonumber(s[2]) end
  return nil
end
`;

/**
 * KEYS: the shard's revoked set. ARGV: prefix, sid, uid, refresh hash, now, expires_at, idle_expires_at, then
 * the session's field/value pairs.
 */
export const CREATE = `
local p, sid, uid, hash = ARGV[1], ARGV[2], ARGV[3], ARGV[4]
local now, exp, idle = tonumber(ARGV[5]), tonumber(ARGV[6]), tonumber(ARGV[7])
local sKey = p .. 's:' .. sid
redis.call('HSET', sKey, unpack(ARGV, 8))
redis.call('PEXPIRE', sKey, idle - now)
local rt = p .. 'rt:' .. hash
redis.call('HSET', rt, 'sid', sid, 'state', 'active', 'rotated_at', '0', 'expires_at', ARGV[7])
redis.call('PEXPIRE', rt, idle - now)
redis.call('SADD', p .. 'sf:' .. sid, hash)
redis.call('PEXPIRE', p .. 'sf:' .. sid, exp - now)
local u = p .. 'u:' .. uid
redis.call('SADD', u, sid)
if redis.call('PTTL', u) < exp - now then redis.call('PEXPIRE', u, exp - now) end
return 1
`;

/**
 * One step of rotation with reuse detection. KEYS: the shard's revoked set. ARGV: prefix, presented hash,
 * child hash, now, grace ms, idle ms, ip ('' keeps), user agent ('' keeps),
 * revoked-until, project ('' for any: a session of another is 'invalid', untouched). Returns {'invalid'}, {'reused', sid, uid, cause},
 * {'descend', sid, uid}, or {'rotated' | 'current', sid, HGETALL of the session}.
 *
 * Presented token active: it becomes rotated and its child (whose hash the
 * service passes) becomes the session's active token. Rotated, within the
 * grace window of its own rotation (the window does not slide): its child
 * already exists; if that is active it is the answer again ('current', no new
 * record), if it is rotated too the service repeats this step with the child
 * ('descend'). Rotated, past the window: reuse, the session is revoked. So a
 * session never has two active tokens. A chain that cannot be followed (the
 * child missing or not of this session, or already there for an active
 * token) is not the two-tabs case we can prove: it is treated as reuse too.
 */
export const REFRESH = `${REVOKE_FN}
local p, now = ARGV[1], tonumber(ARGV[4])
local rtKey = p .. 'rt:' .. ARGV[2]
local rec = redis.call('HMGET', rtKey, 'sid', 'state', 'rotated_at', 'expires_at')
local sid = rec[1]
if not sid or tonumber(rec[4]) <= now then return {'invalid'} end
local uid, exp = live(p, sid, now)
if not uid then return {'invalid'} end
local sKey = p .. 's:' .. sid
if ARGV[10] ~= '' and redis.call('HGET', sKey, 'project_id') ~= ARGV[10] then return {'invalid'} end
local childKey = p .. 'rt:' .. ARGV[3]
local child = redis.call('HMGET', childKey, 'sid', 'state', 'expires_at')
local function touch()
  redis.call('HSET', sKey, 'last_used_at', ARGV[4])
  if ARGV[7] ~= '' then redis.call('HSET', sKey, 'ip', ARGV[7]) end
  if ARGV[8] ~= '' then redis.call('HSET', sKey, 'user_agent', ARGV[8]) end
end
if rec[2] == 'rotated' then
  if now - tonumber(rec[3]) > tonumber(ARGV[5]) then
    -- A retired token after the grace window: someone kept a copy. Kill the family.
    revoke(p, sid, uid, tonumber(ARGV[9]), now)
    return {'reused', sid, uid, 'replayed'}
  end
  -- Within the window (two tabs at once): rotated_at stays, so the window does not slide.
  if child[1] ~= sid or (tonumber(child[3]) or 0) <= now then
    revoke(p, sid, uid, tonumber(ARGV[9]), now)
    return {'reused', sid, uid, 'broken_chain'}
  end
  if child[2] == 'rotated' then return {'descend', sid, uid} end
  -- The child is the active token: hand it out again, store nothing new.
  touch()
  return {'current', sid, redis.call('HGETALL', sKey)}
end
if child[1] then
  revoke(p, sid, uid, tonumber(ARGV[9]), now)
  return {'reused', sid, uid, 'broken_chain'}
end
-- Kept until the session's absolute expiry so a later reuse is still recognised.
redis.call('HSET', rtKey, 'state', 'rotated', 'rotated_at', ARGV[4], 'expires_at', exp)
redis.call('PEXPIRE', rtKey, exp - now)
local tokenExp = math.min(now + tonumber(ARGV[6]), exp)
redis.call('HSET', childKey, 'sid', sid, 'state', 'active', 'rotated_at', '0', 'expires_at', tokenExp)
redis.call('PEXPIRE', childKey, tokenExp - now)
redis.call('SADD', p .. 'sf:' .. sid, ARGV[3])
redis.call('HSET', sKey, 'idle_expires_at', tokenExp)
touch()
redis.call('PEXPIRE', sKey, tokenExp - now)
return {'rotated', sid, redis.call('HGETALL', sKey)}
`;

/** KEYS: the shard's revoked set. ARGV: prefix, sid, owner, until, now. Returns the owner's id or false. */
export const REVOKE_ONE = `${REVOKE_FN}
local p, sid, owner, now = ARGV[1], ARGV[2], ARGV[3], tonumber(ARGV[5])
local uid = live(p, sid, now)
if not uid or owner ~= uid then return false end
revoke(p, sid, uid, tonumber(ARGV[4]), now)
return uid
`;

/** KEYS: the shard's revoked set. ARGV: prefix, uid, except sid ('' for none), until, now. Returns the revoked ids. */
export const REVOKE_USER = `${REVOKE_FN}
local p, uid, except, now = ARGV[1], ARGV[2], ARGV[3], tonumber(ARGV[5])
local revoked = {}
for _, sid in ipairs(redis.call('SMEMBERS', p .. 'u:' .. uid)) do
  if sid ~= except then
    if live(p, sid, now) then
      revoke(p, sid, uid, tonumber(ARGV[4]), now)
      table.insert(revoked, sid)
    elseif redis.call('EXISTS', p .. 's:' .. sid) == 0 then
      redis.call('SREM', p .. 'u:' .. uid, sid)
    end
  end
end
return revoked
`;

/** KEYS: a shard's revoked set. ARGV: now. Drops the expired entries, returns the rest WITHSCORES. */
export const LIST_REVOKED = `
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', ARGV[1])
return redis.call('ZRANGE', KEYS[1], 0, -1, 'WITHSCORES')
`;

/**
 * Moves one session of the layout before shards (one Redis primary only: it
 * names its keys itself) into its shard, with its token records; each moved
 * record leaves `legacy:<hash>` -> shard behind for as long as it lives, so a
 * token issued before the move (no shard in it) still finds its record.
 * ARGV: legacy prefix, the shard's prefix, shard, sid, uid, now. Returns 1 when moved.
 */
export const MOVE_LEGACY_SESSION = `
local P, T, shard, sid, uid, now = ARGV[1], ARGV[2], ARGV[3], ARGV[4], ARGV[5], tonumber(ARGV[6])
local old = P .. 's:' .. sid
if redis.call('HGET', old, 'user_id') ~= uid then return 0 end
local family = P .. 'sf:' .. sid
for _, h in ipairs(redis.call('SMEMBERS', family)) do
  local rt = P .. 'rt:' .. h
  local ttl = redis.call('PTTL', rt)
  if ttl ~= -2 then
    redis.call('RENAME', rt, T .. 'rt:' .. h)
    if ttl > 0 then redis.call('SET', P .. 'legacy:' .. h, shard, 'PX', ttl)
    else redis.call('SET', P .. 'legacy:' .. h, shard) end
  end
end
if redis.call('EXISTS', family) == 1 then redis.call('RENAME', family, T .. 'sf:' .. sid) end
redis.call('RENAME', old, T .. 's:' .. sid)
local u = T .. 'u:' .. uid
redis.call('SADD', u, sid)
local left = tonumber(redis.call('HGET', T .. 's:' .. sid, 'expires_at')) - now
if left > 0 and redis.call('PTTL', u) < left then redis.call('PEXPIRE', u, left) end
redis.call('SREM', P .. 'u:' .. uid, sid)
return 1
`;

/**
 * Copies the signing keys of the layout before hash tags (`keys`, `keys:*`)
 * to their tagged names, once: nothing happens when the tagged hash exists.
 * One Redis primary only. ARGV: legacy prefix, tagged prefix. Returns 1 when copied.
 */
export const COPY_LEGACY_KEYS = `
local P, T = ARGV[1], ARGV[2]
if redis.call('EXISTS', T .. 'keys') == 1 or redis.call('EXISTS', P .. 'keys') == 0 then return 0 end
for _, suffix in ipairs({'keys', 'keys:retired', 'keys:publish_until'}) do
  local flat = redis.call('HGETALL', P .. suffix)
  if #flat > 0 then redis.call('HSET', T .. suffix, unpack(flat)) end
end
local active = redis.call('GET', P .. 'keys:active')
if active then redis.call('SET', T .. 'keys:active', active) end
return 1
`;

/**
 * Compare-and-set of the active signing key. KEYS: keys hash, retired hash,
 * active kid, publish-until hash. ARGV: expected active kid ('' for none), kid,
 * key JSON, now, until when the retired key stays published (epoch ms).
 *
 * Signing keys under the prefix and the tag `{keys}:` (one slot on a Redis Cluster), `gh:{keys}:keys`, ...:
 *   keys                hash  kid -> key JSON (the sealed private key)
 *   keys:active         string the active kid
 *   keys:retired        hash  kid -> retired_at (epoch ms, a plain number as earlier releases wrote it)
 *   keys:publish_until  hash  kid -> until when the retired key stays in the JWKS; a separate hash, so
 *                             that replicas of earlier releases, which read keys:retired, still can
 */
export const ACTIVATE_KEY = `
local current = redis.call('GET', KEYS[3]) or ''
if current ~= ARGV[1] then return 0 end
if current ~= '' then
  redis.call('HSET', KEYS[2], current, ARGV[4])
  redis.call('HSET', KEYS[4], current, ARGV[5])
end
redis.call('HSET', KEYS[1], ARGV[2], ARGV[3])
redis.call('SET', KEYS[3], ARGV[2])
return 1
`;

/**
 * Compare-and-set of one stored key's JSON (re-sealing). KEYS: keys hash.
 * ARGV: kid, the JSON expected, the new JSON. Returns 1 when replaced.
 */
export const RESEAL_KEY = `
if redis.call('HGET', KEYS[1], ARGV[1]) ~= ARGV[2] then return 0 end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[3])
return 1
`;
