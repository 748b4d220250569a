//! Lua scripts that make multi-step operations atomic on the Redis server.

use std::sync::LazyLock;

use redis::Script;

/// Compare-and-swap. KEYS[1]: the key. ARGV: expected-present flag (`1`/`0`), expected
/// value, new-present flag, new value. Returns 1 when swapped. The new value has no TTL.
pub(super) static COMPARE_AND_SWAP: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
local current = redis.call('GET', KEYS[1])
if ARGV[1] == '1' then
  if current ~= ARGV[2] then return 0 end
elseif current then
  return 0
end
if ARGV[3] == '1' then
  redis.call('SET', KEYS[1], ARGV[4])
else
  redis.call('DEL', KEYS[1])
end
return 1
",
    )
});

/// Take or renew a lease. KEYS[1]: the lease. ARGV[1]: the holder; ARGV[2]: its TTL in
/// milliseconds. Returns 1 when the holder holds the lease now.
pub(super) static LEASE: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
local current = redis.call('GET', KEYS[1])
if current and current ~= ARGV[1] then return 0 end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
return 1
",
    )
});

/// GCRA (bursts of `limit`, then one request every `period / limit`, as the embedded
/// store's `governor` limiters count), on the server's clock so every node agrees. KEYS[1]: the counter. ARGV[1]: limit; ARGV[2]: period in microseconds.
/// Returns {allowed, remaining, retry_after_us, reset_after_us}.
pub(super) static RATE_LIMIT: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
local limit = tonumber(ARGV[1])
local period = tonumber(ARGV[2])
local time = redis.call('TIME')
local now = tonumber(time[1]) * 1000000 + tonumber(time[2])
local interval = period / limit
local tat = tonumber(redis.call('GET', KEYS[1])) or now
local backlog = math.max(tat - now, 0)
local after_this = backlog + interval
if after_this > period + 0.5 then
  return {0, 0, math.ceil(after_this - period), math.floor(backlog)}
end
local remaining = math.max(math.floor((period - after_this) / interval + 1e-6), 0)
local expire_ms = math.max(math.ceil(after_this / 1000), 1)
redis.call('SET', KEYS[1], string.format('%.0f', now + math.floor(after_this)), 'PX', expire_ms)
return {1, remaining, 0, math.ceil(after_this)}
",
    )
});

/// The sliding window, as `rate::window` counts it: a sorted set of the arrival times in
/// the window, on the server's clock. KEYS[1]: the set. ARGV[1]: limit; ARGV[2]: period in
/// microseconds; ARGV[3]: a member unique to this request. Returns {allowed, remaining,
/// retry_after_us, reset_after_us}.
pub(super) static SLIDING_WINDOW: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
local limit = tonumber(ARGV[1])
local period = tonumber(ARGV[2])
local time = redis.call('TIME')
local now = tonumber(time[1]) * 1000000 + tonumber(time[2])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - period)
local counted = redis.call('ZCARD', KEYS[1])
if counted >= limit then
  local oldest = tonumber(redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')[2])
  local newest = tonumber(redis.call('ZRANGE', KEYS[1], -1, -1, 'WITHSCORES')[2])
  return {0, 0, math.max(oldest + period - now, 0), math.max(newest + period - now, 0)}
end
redis.call('ZADD', KEYS[1], now, ARGV[3])
redis.call('PEXPIRE', KEYS[1], math.max(math.ceil(period / 1000), 1))
return {1, limit - counted - 1, 0, period}
",
    )
});
