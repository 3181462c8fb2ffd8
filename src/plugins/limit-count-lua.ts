import { lua } from './shared/redis.js';

/*
 * limit-count's Redis scripts. Batched mode uses FIXED too: it asks for a lease of batch_size
 * requests and spends what it was granted locally; the sum of grants never exceeds the limit.
 * Each one reads the clock with TIME inside Redis so every gateway agrees on window boundaries
 * whatever its own clock, and does its read-decide-write in one atomic step (one round trip).
 * A counter's base name carries a {hash tag}, so the per-window keys derived from it live in
 * the same Redis Cluster slot.
 * Every decision answers {admitted, remaining, ms until the window resets, ms until one more
 * may pass}.
 */

const PRELUDE = `
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)

-- Fixed window: of want requests asking together, admit as many as fit (count + n <= limit);
-- refused requests are not counted.
local function fixed(base, limit, win, want)
  local idx = math.floor(now / win)
  local elapsed = now - idx * win
  local key = base .. ':' .. idx
  local cur = tonumber(redis.call('GET', key) or '0')
  local grant = math.min(want, limit - cur)
  if grant <= 0 then return 0, 0, win - elapsed, win - elapsed end
  cur = redis.call('INCRBY', key, grant)
  if cur == grant then redis.call('PEXPIRE', key, win) end
  return grant, limit - cur, win - elapsed, win - elapsed
end

-- Sliding window (the two-window approximation of Cloudflare and Apex): the previous window's
-- count weighted by how much of it still overlaps the last win ms, plus the current count.
-- Admits as many of want requests as keep the estimate <= limit.
local function sliding(base, limit, win, want)
  local idx = math.floor(now / win)
  local elapsed = now - idx * win
  local key = base .. ':' .. idx
  local pkey = base .. ':' .. (idx - 1)
  local cur = tonumber(redis.call('GET', key) or '0')
  local prev = tonumber(redis.call('GET', pkey) or '0')
  local est = prev * (win - elapsed) / win + cur
  local grant = math.min(want, math.floor(limit - est))
  if grant < 0 then grant = 0 end
  if grant > 0 then
    cur = redis.call('INCRBY', key, grant)
    if cur == grant then redis.call('PEXPIRE', key, 2 * win) end
  end
  -- when may one more request pass: once enough of the previous window has slid out
  local retry = win - elapsed
  local room = limit - cur - 1
  if room >= 0 and prev > 0 then
    retry = math.ceil(win * (1 - room / prev) - elapsed)
    if retry < 1 then retry = 1 end
  end
  return grant, math.max(0, math.floor(limit - est - grant)), win - elapsed, retry
end
`;

/** One counter: KEYS[1] its base name; ARGV limit, window ms, requests asking. */
export const FIXED = lua(`${PRELUDE}
local a, b, c, d = fixed(KEYS[1], tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3]))
return {a, b, c, d}
`);

export const SLIDING = lua(`${PRELUDE}
local a, b, c, d = sliding(KEYS[1], tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3]))
return {a, b, c, d}
`);

/**
 * Several counters in one call (strict mode, one Redis server): KEYS their base names; ARGV
 * four per key: algorithm (0 fixed, 1 sliding), limit, window ms, requests asking. Replies the
 * four numbers of each key in KEYS order. Not for Redis Cluster (keys of different slots).
 */
export const MULTI = lua(`${PRELUDE}
local out = {}
for i = 1, #KEYS do
  local j = (i - 1) * 4
  local decide = ARGV[j + 1] == '1' and sliding or fixed
  local a, b, c, d = decide(KEYS[i], tonumber(ARGV[j + 2]), tonumber(ARGV[j + 3]), tonumber(ARGV[j + 4]))
  out[j + 1] = a
  out[j + 2] = b
  out[j + 3] = c
  out[j + 4] = d
end
return out
`);
