"""Rate limits per integration key (or per member / IP), counted in the shared cache.

A fixed window: one counter per key and window (``<key>:<window number>``), incremented and
given its expiry in a single Redis pipeline, so a request costs one round trip instead of
DRF's get + set (which also lets two concurrent requests read the same history and both
pass). A fixed window lets a client send up to twice the rate across a window boundary;
that is the price of one round trip, and the limit exists to stop runaway integrations,
not to meter them exactly. Other cache backends (tests without Redis) fall back to
``add`` + ``incr``: two calls, the same counting. An integration key's requests are sent
to the counter in batches while far below the limit (``window_count_batched``).
"""

from __future__ import annotations

import math
import threading
import weakref
from dataclasses import dataclass
from typing import Any

from rest_framework.request import Request
from rest_framework.throttling import SimpleRateThrottle

from members.api.permissions import api_client

# Django's Redis cache builds a new client object on every ``get_client`` call (its
# response-callback table alone is ~170 dict writes); the throttle runs on every API
# request, so it keeps the first one for as long as the cache backend lives (one per
# thread, as Django keeps caches).
_clients: weakref.WeakKeyDictionary[Any, Any] = weakref.WeakKeyDictionary()


def _redis_client(backend: Any, key: str) -> Any:
    client = _clients.get(backend)
    if client is None:
        client = _clients[backend] = backend.get_client(key, write=True)
    return client


def window_count(cache: Any, key: str, duration: int, add: int = 1) -> int:
    """Add ``add`` to ``key``'s counter (which expires after ``duration`` seconds); the new
    count."""
    backend = getattr(cache, "_cache", None)
    if hasattr(backend, "get_client"):  # django.core.cache.backends.redis.RedisCache
        full_key = cache.make_and_validate_key(key)
        pipe = _redis_client(backend, full_key).pipeline(transaction=False)
        # The expiry is set on every increment; the key name carries the window, so
        # extending it never merges two windows.
        pipe.incrby(full_key, add)
        pipe.expire(full_key, duration + 1)
        count, _expiry_set = pipe.execute()
        return int(count)
    cache.add(key, 0, duration + 1)
    try:
        return int(cache.incr(key, add))
    except ValueError:  # expired between add and incr
        cache.set(key, add, duration + 1)
        return add


# --- an integration key's count, sent in batches ----------------------------------------------
# A busy till would pay a Redis round trip on every request only to learn that it is far
# below its limit. So each process counts its own requests per key and window and adds them
# to the shared counter in batches: every BATCH requests or BATCH_SECONDS, and on every
# request once the count it last saw, plus what it holds, is within 10 % of the limit (or
# the limit is under 100 a window). The shared count then lags by at most a batch per
# process, only while far from the limit; at the limit every request is counted at once.
BATCH = 10
BATCH_SECONDS = 0.2
_NEAR_LIMIT = 0.9
_MAX_KEYS = 10_000


@dataclass
class _Share:
    window: int
    seen: int = 0  # the shared count at the last send (this process's requests included)
    held: int = 0  # this process's requests since
    sent_at: float = 0.0


_shares: dict[str, _Share] = {}
_shares_lock = threading.Lock()


def shares_clear() -> None:
    with _shares_lock:
        _shares.clear()


def window_count_batched(
    cache: Any, key: str, window: int, duration: int, limit: int, now: float
) -> int:
    """:func:`window_count` for one more request on ``key`` in ``window``, sent to the shared
    counter in batches (above); the count to compare with ``limit``."""
    with _shares_lock:
        share = _shares.get(key)
        if share is None or share.window != window:
            if len(_shares) >= _MAX_KEYS:
                _shares.clear()
            share = _shares[key] = _Share(window=window)
        share.held += 1
        estimate = share.seen + share.held
        if (
            limit >= 100
            and share.sent_at
            and share.held < BATCH
            and now - share.sent_at < BATCH_SECONDS
            and estimate < limit * _NEAR_LIMIT
        ):
            return estimate
        held, share.held, share.sent_at = share.held, 0, now
    count = window_count(cache, f"{key}:{window}", duration, held)
    with _shares_lock:
        share.seen = max(share.seen, count)
    return count


class ApiClientRateThrottle(SimpleRateThrottle):
    scope = "api_client"
    # Set by SimpleRateThrottle.__init__ from the rate ("6000/min": 6000, 60).
    num_requests: int
    duration: int

    def get_cache_key(self, request: Request, view: Any) -> str:
        client = api_client(request)
        if client is not None:
            ident = f"key:{client.api_key.pk}"
        elif request.user.is_authenticated:
            ident = f"user:{request.user.pk}"
        else:
            ident = f"ip:{self.get_ident(request)}"
        return self.cache_format % {"scope": self.scope, "ident": ident}

    def allow_request(self, request: Request, view: Any) -> bool:
        if self.rate is None:
            return True
        self.key = self.get_cache_key(request, view)
        if self.key is None:
            return True
        self.now = self.timer()
        window = int(self.now // self.duration)
        if api_client(request) is not None:
            count = window_count_batched(
                self.cache, self.key, window, int(self.duration), self.num_requests, self.now
            )
        else:
            count = window_count(self.cache, f"{self.key}:{window}", int(self.duration))
        if count > self.num_requests:
            self.retry_after = (window + 1) * self.duration - self.now
            return self.throttle_failure()
        return self.throttle_success()

    def throttle_success(self) -> bool:
        return True

    def wait(self) -> float | None:
        # At least one second: Retry-After is rounded and 0 would invite an instant retry.
        return max(1.0, math.ceil(self.retry_after))
