"""Integration API keys: hashed, scoped, revocable, bound to one store, rate limited."""

from __future__ import annotations

import datetime

import pytest
import redis
import time_machine
from django.test import override_settings
from django.urls import path
from django.utils import timezone
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.test import APIClient
from rest_framework.views import APIView

from members.api.permissions import HasScope, api_client, api_client_store
from members.api.throttling import ApiClientRateThrottle
from members.models import ApiKey
from members.services import api_key_create, api_key_revoke
from tests import factories

pytestmark = pytest.mark.django_db
IDENTIFY = "/api/v1/members/identify/"


class WhoAmIView(APIView):
    """A stand-in for later store-bound endpoints (purchases, check-ins)."""

    permission_classes = [HasScope]
    required_scope = "members:read"

    def get(self, request: Request) -> Response:
        client = api_client(request)
        assert client is not None
        return Response({"store": client.store.code, "key": client.api_key.prefix})

    def post(self, request: Request) -> Response:
        store = api_client_store(request, request.data.get("store"))
        return Response({"store": store.code})


urlpatterns = [path("whoami/", WhoAmIView.as_view())]


def _client(secret: str) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Api-Key {secret}")
    return client


def test_api_key_is_stored_hashed_and_shown_once(store):
    key, plain = api_key_create(store=store, name="Kassa 2", scopes=["members:read"])

    assert plain.startswith(f"kk_{key.prefix}_")
    secret = plain.split("_", 2)[2]
    stored = ApiKey.objects.filter(pk=key.pk).values().get()
    assert all(secret not in str(value) for value in stored.values())
    assert len(key.secret_hash) == 64


@pytest.mark.parametrize(
    ("scopes", "field"), [([], "scopes"), (["members:read", "nonsense:write"], "scopes")]
)
def test_api_key_create_rejects_unknown_or_no_scopes(store, scopes, field):
    from django.core.exceptions import ValidationError

    with pytest.raises(ValidationError) as info:
        api_key_create(store=store, name="x", scopes=scopes)
    assert field in info.value.message_dict
    assert not ApiKey.objects.exists()


@pytest.mark.urls("tests.members.test_api_keys")
def test_api_client_exposes_the_keys_own_store():
    store_a = factories.store(code="store-a")
    store_b = factories.store(code="store-b")
    _key_a, secret_a = factories.api_key_with_secret(store_obj=store_a)
    _key_b, secret_b = factories.api_key_with_secret(store_obj=store_b)

    assert _client(secret_a).get("/whoami/").json()["store"] == "store-a"
    assert _client(secret_b).get("/whoami/").json()["store"] == "store-b"


@pytest.mark.urls("tests.members.test_api_keys")
def test_key_of_store_a_cannot_act_for_store_b():
    factories.store(code="store-b")
    _key, secret = factories.api_key_with_secret(store_obj=factories.store(code="store-a"))

    own = _client(secret).post("/whoami/", {"store": "store-a"}, format="json")
    other = _client(secret).post("/whoami/", {"store": "store-b"}, format="json")

    assert own.status_code == 200
    assert other.status_code == 403
    assert other.json()["error"]["code"] == "wrong_store"


@pytest.mark.urls("tests.members.test_api_keys")
def test_revoked_key_is_refused_at_once(store):
    key, secret = factories.api_key_with_secret(store_obj=store)
    assert _client(secret).get("/whoami/").status_code == 200

    api_key_revoke(key=key)

    response = _client(secret).get("/whoami/")
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "authentication_failed"


def test_key_use_is_recorded(store, member):
    key, secret = factories.api_key_with_secret(store_obj=store)
    assert key.last_used_at is None

    _client(secret).post(IDENTIFY, {"email": member.user.email}, format="json")

    key.refresh_from_db()
    assert key.last_used_at is not None


@pytest.mark.urls("tests.members.test_api_keys")
def test_key_use_within_a_minute_writes_nothing(store, member, django_assert_num_queries):
    # Given a key used a moment ago
    key, secret = factories.api_key_with_secret(store_obj=store)
    client = _client(secret)
    client.get("/whoami/")
    key.refresh_from_db()
    first_use = key.last_used_at

    # When it is used again within the minute, then only the key is read (no UPDATE)
    with django_assert_num_queries(1):
        assert client.get("/whoami/").status_code == 200

    key.refresh_from_db()
    assert key.last_used_at == first_use


@pytest.mark.urls("tests.members.test_api_keys")
def test_key_use_after_a_minute_is_recorded_again(store, member):
    # Given a key used a minute and a half ago
    key, secret = factories.api_key_with_secret(store_obj=store)
    with time_machine.travel(timezone.now() - datetime.timedelta(seconds=90)):
        _client(secret).get("/whoami/")
    key.refresh_from_db()
    earlier = key.last_used_at

    # When it is used now
    _client(secret).get("/whoami/")

    # Then the new use is recorded
    key.refresh_from_db()
    assert key.last_used_at > earlier + datetime.timedelta(seconds=60)


def test_throttling_returns_429_rate_limited_per_key(store, member, monkeypatch):
    # Given a limit of three calls a minute per key
    monkeypatch.setattr(ApiClientRateThrottle, "rate", "3/min", raising=False)
    _key, secret = factories.api_key_with_secret(store_obj=store)
    _other, other_secret = factories.api_key_with_secret(store_obj=store)
    body = {"email": member.user.email}

    # When one key calls four times
    statuses = [_client(secret).post(IDENTIFY, body, format="json").status_code for _ in range(3)]
    limited = _client(secret).post(IDENTIFY, body, format="json")

    # Then the fourth call is refused with a stable code, and another key is unaffected
    assert statuses == [200, 200, 200]
    assert limited.status_code == 429
    assert limited.json()["error"]["code"] == "rate_limited"
    assert int(limited["Retry-After"]) > 0
    assert _client(other_secret).post(IDENTIFY, body, format="json").status_code == 200


def _redis_trips(monkeypatch) -> list[str]:
    """A spy on the Redis client's round trips (single commands and pipelines)."""
    trips: list[str] = []
    single = redis.Redis.execute_command
    batch = redis.client.Pipeline.execute

    def spy_single(self, *args, **kwargs):
        trips.append(str(args[0]))
        return single(self, *args, **kwargs)

    def spy_batch(self, *args, **kwargs):
        trips.append("pipeline")
        return batch(self, *args, **kwargs)

    monkeypatch.setattr(redis.Redis, "execute_command", spy_single)
    monkeypatch.setattr(redis.client.Pipeline, "execute", spy_batch)
    return trips


@pytest.mark.urls("tests.members.test_api_keys")
def test_throttling_counts_a_request_in_one_redis_round_trip(store, member, monkeypatch):
    # Given a key with a small limit (under 100 a window: every request is counted at once)
    monkeypatch.setattr(ApiClientRateThrottle, "rate", "50/min", raising=False)
    _key, secret = factories.api_key_with_secret(store_obj=store)
    client = _client(secret)
    client.get("/whoami/")
    trips = _redis_trips(monkeypatch)

    # When it calls once more
    assert client.get("/whoami/").status_code == 200

    # Then the throttle cost one pipelined round trip (INCRBY + EXPIRE), nothing else
    assert trips == ["pipeline"]


@pytest.mark.urls("tests.members.test_api_keys")
def test_throttling_sends_a_busy_keys_count_in_batches_and_is_exact_at_the_limit(
    store, member, monkeypatch
):
    # Given a limit of 200 a minute, a clock standing still inside one window, and a spy
    monkeypatch.setattr(ApiClientRateThrottle, "rate", "200/min", raising=False)
    monkeypatch.setattr(ApiClientRateThrottle, "timer", lambda self: 1_800_000_010.0)
    _key, secret = factories.api_key_with_secret(store_obj=store)
    client = _client(secret)
    trips = _redis_trips(monkeypatch)

    # When the key calls 200 times, and once more
    statuses = [client.get("/whoami/").status_code for _ in range(200)]
    limited = client.get("/whoami/")

    # Then all 200 pass and the 201st is refused: exact at the limit
    assert statuses == [200] * 200
    assert limited.status_code == 429
    # far from the limit one round trip counts up to ten requests (the 1st, 11th, ...,
    # 171st send); from 180 (90 %) on, every request is sent at once (180th to 201st)
    assert trips == ["pipeline"] * (18 + 22)
    # and the shared counter holds every request, the refused one included
    from django.core.cache import cache

    window = int(1_800_000_010.0 // 60)
    assert int(cache.get(f"throttle_api_client_key:{_key.pk}:{window}")) == 201


@pytest.mark.urls("tests.members.test_api_keys")
def test_throttling_window_resets_and_falls_back_to_other_caches(store, member, monkeypatch):
    # Given a limit of two calls a minute, counted in a local-memory cache (no Redis)
    monkeypatch.setattr(ApiClientRateThrottle, "rate", "2/min", raising=False)
    _key, secret = factories.api_key_with_secret(store_obj=store)
    start = datetime.datetime(2026, 3, 2, 9, 0, 10, tzinfo=datetime.UTC)
    locmem = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
    with override_settings(CACHES=locmem), time_machine.travel(start, tick=False) as clock:
        # When the key calls three times in one window
        statuses = [_client(secret).get("/whoami/").status_code for _ in range(3)]
        limited = _client(secret).get("/whoami/")

        # Then the third call is refused until the next window starts (50 s later)
        assert statuses == [200, 200, 429]
        assert limited.json()["error"]["code"] == "rate_limited"
        assert int(limited["Retry-After"]) == 50

        # And once the next minute's window starts, the key may call again
        clock.shift(datetime.timedelta(seconds=51))
        assert _client(secret).get("/whoami/").status_code == 200


@pytest.mark.urls("tests.members.test_api_keys")
def test_throttling_sends_a_held_count_after_a_fifth_of_a_second(store, member, monkeypatch):
    # Given a limit of 200 a minute and a clock the test moves
    clock = [1_800_000_010.0]
    monkeypatch.setattr(ApiClientRateThrottle, "rate", "200/min", raising=False)
    monkeypatch.setattr(ApiClientRateThrottle, "timer", lambda self: clock[0])
    _key, secret = factories.api_key_with_secret(store_obj=store)
    client = _client(secret)
    trips = _redis_trips(monkeypatch)

    # When it calls twice at once (the second is held), then again 0.2 s later
    client.get("/whoami/")
    client.get("/whoami/")
    assert trips == ["pipeline"]
    clock[0] += 0.2
    client.get("/whoami/")

    # Then the held request went out with the third
    from django.core.cache import cache

    window = int(clock[0] // 60)
    assert trips == ["pipeline", "pipeline"]
    assert int(cache.get(f"throttle_api_client_key:{_key.pk}:{window}")) == 3
