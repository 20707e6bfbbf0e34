"""Telegram's and WhatsApp's limits held across workers: the delivery pacer and the citizens'
flood-control buckets in Redis (REDIS_URL).

Each decision is one Lua script, so a check and its record are atomic across processes, and
every script reads Redis' own `TIME`, so all workers share one clock. A Redis hiccup loses
nothing: the pacer then answers "wait a second" (rows stay pending and are retried), the
buckets fall back to this process' own, and each is logged once until Redis answers again.
"""

from __future__ import annotations

import logging
import uuid

from redis.asyncio import Redis
from redis.exceptions import RedisError

from bot.outbox import GROUP_WINDOW, Pacer
from bot.settings import SettingsError

log = logging.getLogger(__name__)

# KEYS: pause, last, group window, global window.
# ARGV: chat interval (s), group per minute, global per second, bulk share (0 = not bulk),
#       is group (0/1), member id, take (1) or only look (0), group window (s).
# Returns the seconds to wait as a string ("0" = reserved).
RESERVE = """
-- Numbers are written with fmt: Lua's own tostring keeps only 14 digits.
local function fmt(x) return string.format('%.3f', x) end
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + tonumber(t[2]) / 1000
local interval = tonumber(ARGV[1]) * 1000
local group_limit = tonumber(ARGV[2])
local global_limit = tonumber(ARGV[3])
local share = tonumber(ARGV[4])
local group_window = tonumber(ARGV[8]) * 1000
local wait = 0
local paused = tonumber(redis.call('GET', KEYS[1]) or '0')
if paused - now > wait then wait = paused - now end
local last = redis.call('GET', KEYS[2])
if last and tonumber(last) + interval - now > wait then wait = tonumber(last) + interval - now end
redis.call('ZREMRANGEBYSCORE', KEYS[4], '-inf', fmt(now - 1000))
local count = redis.call('ZCARD', KEYS[4])
if count >= global_limit then
  local first = tonumber(redis.call('ZRANGE', KEYS[4], 0, 0, 'WITHSCORES')[2])
  if first + 1000 - now > wait then wait = first + 1000 - now end
end
if share > 0 and wait <= 0 and count >= math.max(1, math.floor(global_limit * share)) then
  wait = 50
end
if ARGV[5] == '1' then
  redis.call('ZREMRANGEBYSCORE', KEYS[3], '-inf', fmt(now - group_window))
  if redis.call('ZCARD', KEYS[3]) >= group_limit then
    local first = tonumber(redis.call('ZRANGE', KEYS[3], 0, 0, 'WITHSCORES')[2])
    if first + group_window - now > wait then wait = first + group_window - now end
  end
end
if wait > 0 then return string.format('%.6f', wait / 1000) end
if ARGV[7] == '0' then return '0' end
redis.call('SET', KEYS[2], fmt(now), 'PX', math.floor(interval) + 1000)
redis.call('ZADD', KEYS[4], fmt(now), ARGV[6])
redis.call('PEXPIRE', KEYS[4], 2000)
if ARGV[5] == '1' then
  redis.call('ZADD', KEYS[3], fmt(now), ARGV[6])
  redis.call('PEXPIRE', KEYS[3], math.ceil(group_window) + 1000)
end
return '0'
"""

# KEYS: pause.  ARGV: seconds to pause (0 = only read).  Returns the seconds left.
PAUSE = """
-- Numbers are written with fmt: Lua's own tostring keeps only 14 digits.
local function fmt(x) return string.format('%.3f', x) end
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + tonumber(t[2]) / 1000
local untl = tonumber(redis.call('GET', KEYS[1]) or '0')
local want = now + tonumber(ARGV[1]) * 1000
if tonumber(ARGV[1]) > 0 and want > untl then
  untl = want
  redis.call('SET', KEYS[1], fmt(untl), 'PX', math.ceil(untl - now) + 1000)
end
if untl - now > 0 then return string.format('%.6f', (untl - now) / 1000) end
return '0'
"""

# KEYS: bucket.  ARGV: burst, tokens per second.  Returns {admitted 0/1, warn now 0/1}.
TAKE = """
-- Numbers are written with fmt: Lua's own tostring keeps only 14 digits.
local function fmt(x) return string.format('%.6f', x) end
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local burst = tonumber(ARGV[1])
local rate = tonumber(ARGV[2])
local b = redis.call('HMGET', KEYS[1], 'tokens', 'last', 'warned')
local tokens = tonumber(b[1] or burst)
local last = tonumber(b[2] or now)
local warned = b[3] == '1'
tokens = math.min(burst, tokens + math.max(0, now - last) * rate)
warned = warned and tokens < burst
local ttl = math.ceil(burst / rate * 1000) + 1000
if tokens >= 1 then
  redis.call('HSET', KEYS[1], 'tokens', fmt(tokens - 1), 'last', fmt(now),
             'warned', warned and '1' or '0')
  redis.call('PEXPIRE', KEYS[1], ttl)
  return {1, 0}
end
redis.call('HSET', KEYS[1], 'tokens', fmt(tokens), 'last', fmt(now), 'warned', '1')
redis.call('PEXPIRE', KEYS[1], ttl)
if warned then return {0, 0} end
return {0, 1}
"""


class _Once:
    """Logs a Redis failure once, and its recovery once."""

    def __init__(self, what: str) -> None:
        self.what = what
        self.down = False

    def failed(self, exc: BaseException) -> None:
        if not self.down:
            log.warning("Redis (REDIS_URL) failed for the %s, falling back: %s", self.what,
                        exc)
        self.down = True

    def ok(self) -> None:
        if self.down:
            log.warning("Redis (REDIS_URL) answers again for the %s", self.what)
        self.down = False


class RedisPacer:
    """The `Pacer`'s decisions, shared by every worker through Redis (same interface:
    `reserve`, `hold`, `held_for`)."""

    RETRY = 1.0  # seconds a send waits while Redis does not answer

    def __init__(self, redis: Redis, chat_interval: float = 1.0, group_per_minute: int = 20,
                 global_per_second: int = 30, prefix: str = "aduan:") -> None:
        self.redis = redis
        self.chat_interval = chat_interval
        self.group_per_minute = group_per_minute
        self.global_per_second = global_per_second
        self.prefix = f"{prefix}pace:"
        self._reserve = redis.register_script(RESERVE)
        self._pause = redis.register_script(PAUSE)
        self.local = Pacer(chat_interval, group_per_minute, global_per_second)  # 429s only
        self._health = _Once("delivery pacer")

    async def reserve(self, chat: str, share: float = 0.0, *, peek: bool = False) -> float:
        """Take a send slot for `chat` now (0.0) or say how many seconds to wait; with
        `share` > 0 (bulk), only while the last second used less than that share; with
        `peek`, only say (nothing is taken)."""
        p = self.prefix
        keys = [f"{p}pause:{chat}", f"{p}last:{chat}", f"{p}group:{chat}", f"{p}global"]
        args = [self.chat_interval, self.group_per_minute, self.global_per_second, share,
                1 if chat.startswith("-") else 0, uuid.uuid4().hex, 0 if peek else 1,
                GROUP_WINDOW]
        try:
            wait = float(await self._reserve(keys=keys, args=args))
        except (RedisError, OSError) as exc:
            self._health.failed(exc)
            return max(self.RETRY, self.local.paused_for(chat))
        self._health.ok()
        return max(wait, self.local.paused_for(chat))

    async def hold(self, chat: str, seconds: float) -> None:
        """Pause sends to `chat` for `seconds` (a 429's `retry_after`), in every worker."""
        self.local.pause(chat, seconds)
        try:
            await self._pause(keys=[f"{self.prefix}pause:{chat}"], args=[float(seconds)])
        except (RedisError, OSError) as exc:
            self._health.failed(exc)
        else:
            self._health.ok()

    async def held_for(self, chat: str) -> float:
        """Seconds left of a 429's pause for `chat`, seen by any worker (0 = not paused)."""
        try:
            left = float(await self._pause(keys=[f"{self.prefix}pause:{chat}"], args=[0]))
        except (RedisError, OSError) as exc:
            self._health.failed(exc)
            return self.local.paused_for(chat)
        self._health.ok()
        return max(left, self.local.paused_for(chat))


class RedisBuckets:
    """The citizens' flood-control token buckets (handlers/telegram/middlewares.py
    `Throttle`), shared by every worker through Redis."""

    def __init__(self, redis: Redis, prefix: str = "aduan:") -> None:
        self.redis = redis
        self.prefix = f"{prefix}flood:"
        self._take = redis.register_script(TAKE)
        self._health = _Once("flood control")

    async def take(self, key: int | str, burst: int, rate: float) -> tuple[bool, bool] | None:
        """(admitted, warn now) for `key`, or None when Redis did not answer (the caller
        then uses its own buckets)."""
        try:
            admitted, warn = await self._take(keys=[f"{self.prefix}{key}"],
                                              args=[burst, float(rate)])
        except (RedisError, OSError) as exc:
            self._health.failed(exc)
            return None
        self._health.ok()
        return bool(admitted), bool(warn)


async def connect(url: str) -> Redis:
    """A client for REDIS_URL, checked once; SettingsError (one line naming REDIS_URL) when
    Redis cannot be reached."""
    try:
        client = Redis.from_url(url, socket_connect_timeout=5, socket_timeout=5,
                                health_check_interval=30)
    except ValueError as exc:
        raise SettingsError(f"Invalid setting REDIS_URL: {exc}. Set REDIS_URL to "
                            "redis://host:6379/0 or leave it empty.") from None
    try:
        await client.ping()
    except (RedisError, OSError) as exc:
        await client.aclose()
        raise SettingsError(f"Redis at REDIS_URL is unreachable ({exc}): start Redis or fix "
                            "REDIS_URL (e.g. redis://redis:6379/0), or leave it empty for "
                            "one process.") from None
    return client
