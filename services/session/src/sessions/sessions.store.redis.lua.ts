/**
 * The Lua scripts of the Redis session store. Each decision that reads and
 * then writes runs as one script, so concurrent refreshes on several replicas
 * cannot interleave (Redis runs a script to completion before anything else).
 *
 * Keys under the prefix `p`:
 *   s:<sid>      hash   the session; TTL = its idle deadline (never past its absolute expiry)
 *   rt:<sha256>  hash   a refresh-token record {sid, state, rotated_at, expires_at}
 *   sf:<sid>     set    the session's token hashes (its family), deleted with it
 *   u:<uid>      set    the user's session ids (stale ids are pruned when listed)
 *   revoked      zset   revoked session id -> until (epoch ms)
 *
 * Key names derive from the token record, so the scripts take the prefix as
 * an argument rather than declaring KEYS: this store needs one Redis primary
 * (standalone or Sentinel), not Cluster.
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
 * ARGV: prefix, sid, uid, refresh hash, now, expires_at, idle_expires_at, then
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
 * Rotation with reuse detection. ARGV: prefix, presented hash, next hash, now,
 * grace ms, idle ms, ip ('' keeps), user agent ('' keeps), revoked-until.
 * Returns {'invalid'}, {'reused', sid, uid} or {'rotated', sid, HGETALL of the session}.
 */
export const REFRESH = `${REVOKE_FN}
local p, now = ARGV[1], tonumber(ARGV[4])
local rtKey = p .. 'rt:' .. ARGV[2]
local rec = redis.call('HMGET', rtKey, 'sid', 'state', 'rotated_at', 'expires_at')
local sid = rec[1]
if not sid or tonumber(rec[4]) <= now then return {'invalid'} end
local uid, exp = live(p, sid, now)
if not uid then return {'invalid'} end
if rec[2] == 'rotated' then
  if now - tonumber(rec[3]) > tonumber(ARGV[5]) then
    -- A retired token after the grace window: someone kept a copy. Kill the family.
    revoke(p, sid, uid, tonumber(ARGV[9]), now)
    return {'reused', sid, uid}
  end
  -- Within the window (two tabs at once): rotated_at stays, so the window does not slide.
else
  -- Kept until the session's absolute expiry so a later reuse is still recognised.
  redis.call('HSET', rtKey, 'state', 'rotated', 'rotated_at', ARGV[4], 'expires_at', exp)
  redis.call('PEXPIRE', rtKey, exp - now)
end
local tokenExp = math.min(now + tonumber(ARGV[6]), exp)
local nextKey = p .. 'rt:' .. ARGV[3]
redis.call('HSET', nextKey, 'sid', sid, 'state', 'active', 'rotated_at', '0', 'expires_at', tokenExp)
redis.call('PEXPIRE', nextKey, tokenExp - now)
redis.call('SADD', p .. 'sf:' .. sid, ARGV[3])
local sKey = p .. 's:' .. sid
redis.call('HSET', sKey, 'last_used_at', ARGV[4], 'idle_expires_at', tokenExp)
if ARGV[7] ~= '' then redis.call('HSET', sKey, 'ip', ARGV[7]) end
if ARGV[8] ~= '' then redis.call('HSET', sKey, 'user_agent', ARGV[8]) end
redis.call('PEXPIRE', sKey, tokenExp - now)
return {'rotated', sid, redis.call('HGETALL', sKey)}
`;

/** ARGV: prefix, sid, owner ('' for any), until, now. Returns the owner's id or false. */
export const REVOKE_ONE = `${REVOKE_FN}
local p, sid, owner, now = ARGV[1], ARGV[2], ARGV[3], tonumber(ARGV[5])
local uid = live(p, sid, now)
if not uid or (owner ~= '' and owner ~= uid) then return false end
revoke(p, sid, uid, tonumber(ARGV[4]), now)
return uid
`;

/** ARGV: prefix, uid, except sid ('' for none), until, now. Returns the revoked ids. */
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

/**
 * Compare-and-set of the active signing key. KEYS: keys hash, retired hash,
 * active kid. ARGV: expected active kid ('' for none), kid, key JSON, now.
 */
export const ACTIVATE_KEY = `
local current = redis.call('GET', KEYS[3]) or ''
if current ~= ARGV[1] then return 0 end
if current ~= '' then redis.call('HSET', KEYS[2], current, ARGV[4]) end
redis.call('HSET', KEYS[1], ARGV[2], ARGV[3])
redis.call('SET', KEYS[3], ARGV[2])
return 1
`;
