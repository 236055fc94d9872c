"""Rate limits per integration key (or per member / IP), counted in the shared cache.

A fixed window: one counter per key and window (``<key>:<window number>``), incremented and
given its expiry in a single Redis pipeline, so a request costs one round trip instead of
DRF's get + set (which also lets two concurrent requests read the same history and both
pass). A fixed window lets a client send up to twice the rate across a window boundary;
that is the price of one round trip, and the limit exists to stop runaway integrations,
not to meter them exactly. Other cache backends (tests without Redis) fall back to
``add`` + ``incr``: two calls, the same counting.
"""

from __future__ import annotations

import math
import weakref
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


def window_count(cache: Any, key: str, duration: int) -> int:
    """Add one to ``key``'s counter (which expires after ``duration`` seconds); the new count."""
    backend = getattr(cache, "_cache", None)
    if hasattr(backend, "get_client"):  # django.core.cache.backends.redis.RedisCache
        full_key = cache.make_and_validate_key(key)
        pipe = _redis_client(backend, full_key).pipeline(transaction=False)
        # The expiry is set on every increment; the key name carries the window, so
        # extending it never merges two windows.
        pipe.incr(full_key)
        pipe.expire(full_key, duration + 1)
        count, _expiry_set = pipe.execute()
        return int(count)
    cache.add(key, 0, duration + 1)
    try:
        return int(cache.incr(key))
    except ValueError:  # expired between add and incr
        cache.set(key, 1, duration + 1)
        return 1


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
