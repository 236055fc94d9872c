"""Idempotent API requests: a replay gets the stored answer, another body 409 (I3)."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from typing import Any

from django.db import IntegrityError, transaction

from rewards.errors import (
    IdempotencyConflictError,
)
from rewards.models import (
    IdempotencyRecord,
)


def request_fingerprint(payload: Any) -> str:
    """SHA-256 of a canonical JSON form: equal requests, equal fingerprints."""
    canonical = json.dumps(payload, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()


def idempotent_run(
    *, key: str, payload: dict[str, Any], work: Callable[[], dict[str, Any]]
) -> dict[str, Any]:
    """Run ``work`` once per key; a replay returns the stored answer, another body is 409.

    The record is inserted first: a concurrent duplicate waits on the unique index until
    the first commits, then fails and reads the answer the first stored."""
    fingerprint = request_fingerprint(payload)
    try:
        with transaction.atomic():
            record = IdempotencyRecord.objects.create(key=key, request_hash=fingerprint)
            result = work()
            IdempotencyRecord.objects.filter(pk=record.pk).update(response=result)
            return result
    except IntegrityError:
        stored = IdempotencyRecord.objects.filter(key=key).first()
        if stored is None:
            raise
    if stored.request_hash != fingerprint:
        raise IdempotencyConflictError()
    response: dict[str, Any] = stored.response
    return response


def store_idempotency_key(*, store_id: int, key: str) -> str:
    """A till's or web shop's idempotency key, scoped to its store: two stores may happen to
    pick the same key."""
    return f"s{store_id}:{key}"
