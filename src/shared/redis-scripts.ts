/**
 * The Lua scripts the Redis store runs: each is one atomic step on Redis's own clock (TIME),
 * whatever the number of replicas and their clocks.
 *
 * Decisions that must hold across replicas (a claim, a compare-and-set) are fenced: they carry
 * the latest instant, on Redis's clock, at which the replica still waits for the answer, and past
 * it they do nothing and say so (-1). A command that timed out at the replica — a paused Redis
 * that resumes, a slow network — then cannot land afterwards and contradict the "retry" the
 * client was given. Each fenced reply carries Redis's clock, so the replica keeps its reckoning
 * of it current (redis-store.ts).
 */

/** Redis's clock in ms, as a Lua local `now`. */
const NOW = `
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
`;

/** GCRA over Redis's clock: KEYS[1] holds the next free instant (µs); ARGV[1] the gap (µs). */
export const TAKE_SLOT = `
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local gap = tonumber(ARGV[1])
local tat = tonumber(redis.call('GET', KEYS[1]) or '0')
if tat > now then return math.ceil((tat - now) / 1000) end
redis.call('SET', KEYS[1], now + gap, 'PX', math.ceil(gap / 1000) + 1000)
return 0
`;

/** Deletes KEYS[1] only if it holds ARGV[1]. */
export const RELEASE = `
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
`;

/** Takes KEYS[1] for ARGV[1] for ARGV[2] ms if free or already ours. */
export const LEASE = `
local holder = redis.call('GET', KEYS[1])
if holder and holder ~= ARGV[1] then return 0 end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
return 1
`;

/**
 * Claims KEYS[1] for ARGV[1] ms, fenced at ARGV[2] (ms, Redis's clock). With ARGV[3] > 0, KEYS[2]
 * is its owner's ledger (a sorted set: claim → expiry) and the owner may hold at most ARGV[3]
 * live claims. Answers {code, now}: 1 fresh, 0 taken, 2 full (the owner's share), -1 late.
 */
export const CLAIM = `${NOW}
if now > tonumber(ARGV[2]) then return {-1, now} end
if redis.call('EXISTS', KEYS[1]) == 1 then return {0, now} end
local ttl = tonumber(ARGV[1])
local max = tonumber(ARGV[3])
if max > 0 then
  redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', now)
  if redis.call('ZCARD', KEYS[2]) >= max then return {2, now} end
  redis.call('ZADD', KEYS[2], now + ttl, KEYS[1])
  if redis.call('PTTL', KEYS[2]) < ttl then redis.call('PEXPIRE', KEYS[2], ttl) end
end
redis.call('SET', KEYS[1], '1', 'PX', ttl)
return {1, now}
`;

/**
 * Sets KEYS[1] to ARGV[3] for ARGV[4] ms if it holds ARGV[2] (ARGV[1] = '1'), or nothing
 * (ARGV[1] = '0'), fenced at ARGV[5]. Answers {1 if set, 0 if not, -1 late; now; what it held}
 * — nil (false) when nothing.
 */
export const SWAP = `${NOW}
if now > tonumber(ARGV[5]) then return {-1, now} end
local found = redis.call('GET', KEYS[1])
local match
if ARGV[1] == '1' then match = (found == ARGV[2]) else match = (found == false) end
if match then redis.call('SET', KEYS[1], ARGV[3], 'PX', ARGV[4]) end
return {match and 1 or 0, now, found}
`;

/**
 * Keeps answer KEYS[1] = ARGV[1] for ARGV[2] ms only if its weight ARGV[3] fits two ledgers:
 * its caller's (KEYS[2] expiries, KEYS[3] weights and '#' their total), at most ARGV[4], and the
 * one of all answers (KEYS[4], KEYS[5]), at most ARGV[5]. A ledger forgets answers as they
 * expire (at most 512 a call: the rest next time, counted meanwhile), so its total is what Redis
 * holds for it now. Answers 1 when kept, 0 when over a bound (nothing kept).
 */
export const KEEP_WITHIN = `${NOW}
local ttl = tonumber(ARGV[2])
local weight = tonumber(ARGV[3])
local function settle(z, h)
  local total = tonumber(redis.call('HGET', h, '#') or '0')
  local gone = redis.call('ZRANGEBYSCORE', z, '-inf', now, 'LIMIT', 0, 512)
  if #gone > 0 then
    for _, g in ipairs(gone) do total = total - tonumber(redis.call('HGET', h, g) or '0') end
    redis.call('HDEL', h, unpack(gone))
    redis.call('ZREM', z, unpack(gone))
    redis.call('HSET', h, '#', total)
  end
  -- The same answer kept again replaces its earlier weight.
  return total - tonumber(redis.call('HGET', h, KEYS[1]) or '0')
end
local mine = settle(KEYS[2], KEYS[3])
local all = settle(KEYS[4], KEYS[5])
if mine + weight > tonumber(ARGV[4]) or all + weight > tonumber(ARGV[5]) then return 0 end
local function book(z, h, total)
  redis.call('ZADD', z, now + ttl, KEYS[1])
  redis.call('HSET', h, KEYS[1], weight, '#', total + weight)
  for _, k in ipairs({z, h}) do
    if redis.call('PTTL', k) < ttl then redis.call('PEXPIRE', k, ttl) end
  end
end
book(KEYS[2], KEYS[3], mine)
book(KEYS[4], KEYS[5], all)
redis.call('SET', KEYS[1], ARGV[1], 'PX', ttl)
return 1
`;
