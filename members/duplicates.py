"""Finding members who may be one person (issue 15, docs/duplicates.md).

``duplicates_find_later`` is what sign-up, the profile change and the import call: it queues
the check for the given members after the transaction commits, so the rows it reads exist.
"""

from __future__ import annotations

from collections.abc import Iterable

from django.db import transaction

from members.enqueue import task_get


def duplicates_find_later(*, member_ids: Iterable[int]) -> None:
    """Queue the duplicate check for ``member_ids`` once the current transaction commits
    (outside a transaction: at once). Ids only, never instances."""
    ids = sorted({int(member_id) for member_id in member_ids})
    if not ids:
        return
    transaction.on_commit(lambda: task_get("members.tasks.duplicates_find").delay(ids))


def duplicates_find_for_members(*, member_ids: Iterable[int]) -> int:
    """Propose pairs for ``member_ids``; returns how many new pairs were stored."""
    return 0
