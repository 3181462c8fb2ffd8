import { lua } from './shared/redis.js';

/*
 * limit-count's Redis scripts. Batched mode uses FIXED too: it asks for a lease of batch_size
 * requests and spends what it was granted locally; the sum of grants never exceeds the limit. Each one reads the clock with TIME inside Redis so every gateway
 * agrees on window boundaries whatever its own clock, and does its read-decide-write in one
 * atomic step (one round trip). KEYS[1] is the counter's base name with a {hash tag}, so the
 * per-window keys derived from it live in the same Redis Cluster slot.
 * Replies: {admitted, remaining, ms until the window resets, ms until one more may pass}.
 */

const NOW = `
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local limit = tonumber(ARGV[1])
local win = tonumber(ARGV[2])
local idx = math.floor(now / win)
local elapsed = now - idx * win
`;

/**
 * Fixed window: of ARGV[3] requests asking together, admit as many as fit (count + n <= limit);
 * refused requests are not counted. Reply {admitted, remaining, ms to window end, ms to retry}.
 */
export const FIXED = lua(`${NOW}
local want = tonumber(ARGV[3])
local key = KEYS[1] .. ':' .. idx
local cur = tonumber(redis.call('GET', key) or '0')
local grant = math.min(want, limit - cur)
if grant <= 0 then return {0, 0, win - elapsed, win - elapsed} end
cur = redis.call('INCRBY', key, grant)
if cur == grant then redis.call('PEXPIRE', key, win) end
return {grant, limit - cur, win - elapsed, win - elapsed}
`);

/**
 * Sliding window (the two-window approximation of Cloudflare and Apex): the previous window's
 * count weighted by how much of it still overlaps the last window_ms, plus the current count.
 * Admits as many of ARGV[3] requests as keep the estimate <= limit.
 */
export const SLIDING = lua(`${NOW}
local want = tonumber(ARGV[3])
local key = KEYS[1] .. ':' .. idx
local pkey = KEYS[1] .. ':' .. (idx - 1)
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
return {grant, math.max(0, math.floor(limit - est - grant)), win - elapsed, retry}
`);
