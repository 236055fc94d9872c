"""Seeding in bulk SQL (a hundred thousand rows in a second or two) and a switch between
server-side and client-side parameter binding, for the parameter-limit tests."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from django.db import connection


def members_seed(count: int, *, prefix: str = "P") -> list[int]:
    """``count`` members without logins, numbered ``<prefix><9 digits>``; their ids."""
    with connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO members_member (membership_number, first_name, last_name, phone, "
            "preferred_language, joined_at, join_channel, card_token) "
            "SELECT %s || lpad(g::text, 9, '0'), 'Test', 'Params' || g, '', "
            "CASE WHEN g %% 3 = 0 THEN 'en' ELSE 'sv' END, now(), 'import', %s || g "
            "FROM generate_series(1, %s) AS g RETURNING id",
            [prefix, f"params-{prefix}-", count],
        )
        return sorted(row[0] for row in cursor.fetchall())


def deliveries_seed(*, campaign_id: int, variant_id: int | None, member_ids: list[int]) -> int:
    """One sent delivery per member for the campaign."""
    with connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO campaigns_delivery (campaign_id, variant_id, member_id, channel, "
            "occurrence, status, reason, attempts, created_at, budget_taken, provider_ref, "
            "sent_at) "
            "SELECT %s, %s, m, 'noop', '', 'sent', '', 1, now(), true, '', now() "
            "FROM unnest(%s::bigint[]) AS t(m)",
            [campaign_id, variant_id, member_ids],
        )
        return int(cursor.rowcount)


def bind_on_server() -> bool:
    return bool(connection.settings_dict["OPTIONS"].get("server_side_binding"))


@pytest.fixture(params=["server", "client"])
def binding(request: pytest.FixtureRequest, transactional_db: Any) -> Iterator[str]:
    """Runs the test once with server-side binding (production's default, prepared
    statements) and once with client-side binding (``DB_PREPARED_STATEMENTS=false``), on a
    fresh connection each time. Transactional: the connection is closed to switch."""
    options = connection.settings_dict["OPTIONS"]
    saved = dict(options)

    def switch(values: dict[str, Any]) -> None:
        connection.close()
        options.clear()
        options.update(values)
        connection.features.__dict__.pop("uses_server_side_binding", None)

    if request.param == "server":
        switch({**saved, "server_side_binding": True, "prepare_threshold": 5})
    else:
        switch(
            {
                k: v
                for k, v in saved.items()
                if k not in ("server_side_binding", "prepare_threshold")
            }
        )
    assert bind_on_server() == (request.param == "server")
    yield request.param
    switch(saved)
