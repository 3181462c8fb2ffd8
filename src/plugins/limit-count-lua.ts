import { lua } from './shared/redis.js';

/*
 * limit-count's Redis scripts. Each one reads the clock with TIME inside Redis so every gateway
 * agrees on window boundaries whatever its own clock, and does its read-decide-write in one
 * atomic step (one round trip). KEYS[1] is the counter's base name with a {hash tag}, so the
 * per-window keys derived from it live in the same Redis Cluster slot.
 * Replies: {allowed-or-granted, remaining, ms until reset (or retry)}.
 */

const NOW = `
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local limit = tonumber(ARGV[1])
local win = tonumber(ARGV[2])
local idx = math.floor(now / win)
local elapsed = now - idx * win
`;

/** Fixed window: admit while count + cost <= limit; rejected requests are not counted. */
export const FIXED = lua(`${NOW}
local cost = tonumber(ARGV[3])
local key = KEYS[1] .. ':' .. idx
local cur = tonumber(redis.call('GET', key) or '0')
if cur + cost > limit then return {0, 0, win - elapsed} end
cur = redis.call('INCRBY', key, cost)
if cur == cost then redis.call('PEXPIRE', key, win) end
return {1, limit - cur, win - elapsed}
`);

/**
 * Sliding window (the two-window approximation of Cloudflare and Apex): the previous window's
 * count weighted by how much of it still overlaps the last window_ms, plus the current count.
 */
export const SLIDING = lua(`${NOW}
local cost = tonumber(ARGV[3])
local key = KEYS[1] .. ':' .. idx
local pkey = KEYS[1] .. ':' .. (idx - 1)
local cur = tonumber(redis.call('GET', key) or '0')
local prev = tonumber(redis.call('GET', pkey) or '0')
local est = prev * (win - elapsed) / win + cur
if est + cost > limit then
  local room = limit - cur - cost
  if room < 0 or prev <= 0 then return {0, 0, win - elapsed} end
  local wait = math.ceil(win * (1 - room / prev) - elapsed)
  if wait < 1 then wait = 1 end
  return {0, 0, wait}
end
cur = redis.call('INCRBY', key, cost)
if cur == cost then redis.call('PEXPIRE', key, 2 * win) end
return {1, math.floor(limit - est - cost), win - elapsed}
`);

/**
 * Batched mode: grant this gateway up to ARGV[3] of the window's remaining budget at once; the
 * gateway spends the grant locally. The sum of grants never exceeds the limit.
 */
export const LEASE = lua(`${NOW}
local want = tonumber(ARGV[3])
local key = KEYS[1] .. ':' .. idx
local cur = tonumber(redis.call('GET', key) or '0')
local grant = math.min(want, limit - cur)
if grant <= 0 then return {0, 0, win - elapsed} end
cur = redis.call('INCRBY', key, grant)
if cur == grant then redis.call('PEXPIRE', key, win) end
return {grant, limit - cur, win - elapsed}
`);
