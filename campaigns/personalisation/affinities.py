"""Product and category affinities ("people who buy X buy Y"), computed in SQL."""

from __future__ import annotations

import datetime
from dataclasses import dataclass
from typing import Any

from django.db import connection, transaction
from django.utils import timezone

from campaigns.models.personalisation import (
    AffinityBasis,
    CategoryAffinity,
    ProductAffinity,
)
from campaigns.personalisation.profiling import PROFILING_PURPOSE, PersonalisationSettings
from consent.models import ConsentState
from rewards.models import Purchase, PurchaseLine


def _tables() -> dict[str, str]:
    q = connection.ops.quote_name
    return {
        "line": q(PurchaseLine._meta.db_table),
        "purchase": q(Purchase._meta.db_table),
        "state": q(ConsentState._meta.db_table),
        "purpose": q(ConsentState._meta.get_field("purpose").related_model._meta.db_table),  # type: ignore[union-attr]
        "product_aff": q(ProductAffinity._meta.db_table),
        "category_aff": q(CategoryAffinity._meta.db_table),
    }


def _transactions_sql(
    *, item: str, basis: str, s: PersonalisationSettings
) -> tuple[str, list[Any]]:
    """A CTE body selecting distinct ``(t, item)`` rows: one transaction per purchase
    (basket) or per consenting member (history). The SQL text is constant; values are
    parameters. Fully returned lines do not count."""
    t = _tables()
    since = timezone.now() - datetime.timedelta(days=s.window_days)
    item_col = "l.product_id" if item == "product" else "l.category_id"
    if basis == AffinityBasis.BASKET:
        sql = f"""
            raw AS (
                SELECT DISTINCT l.purchase_id AS t, {item_col} AS item
                FROM {t["line"]} l JOIN {t["purchase"]} p ON p.id = l.purchase_id
                WHERE p.purchased_at >= %s AND l.returned_quantity < l.quantity
                  AND {item_col} IS NOT NULL
            ),
            tx AS (
                SELECT raw.t, raw.item FROM raw
                WHERE raw.t IN (SELECT t FROM raw GROUP BY t HAVING COUNT(*) <= %s)
            )"""  # noqa: S608 - table names from model meta, values are parameters
        return sql, [since, s.max_basket_items]
    sql = f"""
        hist AS (
            SELECT p.member_id AS t, {item_col} AS item, MAX(p.purchased_at) AS last_at
            FROM {t["line"]} l JOIN {t["purchase"]} p ON p.id = l.purchase_id
            WHERE p.purchased_at >= %s AND l.returned_quantity < l.quantity
              AND {item_col} IS NOT NULL AND p.member_id IS NOT NULL
              AND EXISTS (
                SELECT 1 FROM {t["state"]} cs JOIN {t["purpose"]} pu ON pu.id = cs.purpose_id
                WHERE cs.member_id = p.member_id AND pu.code = %s AND cs.channel = ''
                  AND cs.granted
              )
            GROUP BY p.member_id, {item_col}
        ),
        tx AS (
            SELECT t, item FROM (
                SELECT t, item,
                       ROW_NUMBER() OVER (PARTITION BY t ORDER BY last_at DESC, item) AS rn
                FROM hist
            ) ranked WHERE rn <= %s
        )"""  # noqa: S608 - table names from model meta, values are parameters
    return sql, [since, PROFILING_PURPOSE, s.max_history_items]


def _affinity_insert(
    *, item: str, basis: str, s: PersonalisationSettings, now: datetime.datetime
) -> tuple[int, int]:
    """Insert the affinities of one item kind and basis; returns (rows, transactions)."""
    t = _tables()
    cte, params = _transactions_sql(item=item, basis=basis, s=s)
    table = t["product_aff"] if item == "product" else t["category_aff"]
    a_col, b_col = (
        ("product_a_id", "product_b_id")
        if item == "product"
        else ("category_a_id", "category_b_id")
    )
    # Lift = n_ab * N / (n_a * n_b): in floating point (1.0 *), not integer division.
    sql = f"""
        WITH {cte},
        total AS (SELECT COUNT(DISTINCT t) AS n FROM tx),
        counts AS (SELECT item, COUNT(*) AS n FROM tx GROUP BY item),
        pairs AS (
            SELECT a.item AS a, b.item AS b, COUNT(*) AS n_ab
            FROM tx a JOIN tx b ON a.t = b.t AND a.item <> b.item
            GROUP BY a.item, b.item
            HAVING COUNT(*) >= %s
        )
        INSERT INTO {table} (basis, {a_col}, {b_col}, pair_count, support, confidence, lift,
                             computed_at)
        SELECT %s, pairs.a, pairs.b, pairs.n_ab,
               1.0 * pairs.n_ab / total.n,
               1.0 * pairs.n_ab / ca.n,
               1.0 * pairs.n_ab * total.n / (1.0 * ca.n * cb.n),
               %s
        FROM pairs
        JOIN counts ca ON ca.item = pairs.a
        JOIN counts cb ON cb.item = pairs.b
        CROSS JOIN total
        WHERE 1.0 * pairs.n_ab / total.n >= %s
    """  # noqa: S608 - table names from model meta, values are parameters
    with connection.cursor() as cursor:
        cursor.execute(sql, [*params, s.min_pair_count, str(basis), now, s.min_support])
        inserted = cursor.rowcount
        cursor.execute(f"WITH {cte} SELECT COUNT(DISTINCT t) FROM tx", params)  # noqa: S608
        transactions = cursor.fetchone()[0]
    return inserted, transactions


@dataclass
class AffinityCounts:
    baskets: int = 0
    histories: int = 0
    product_pairs: int = 0
    category_pairs: int = 0


def affinities_compute(*, settings_: PersonalisationSettings | None = None) -> AffinityCounts:
    """Recompute every product and category affinity from the purchase lines.

    One transaction: the old rows are deleted and the new ones inserted, so readers see
    either the old or the new set, never a mix. Two concurrent runs serialise on a table
    lock and the second one simply computes the same answer again.
    """
    s = settings_ or PersonalisationSettings.load()
    now = timezone.now()
    counts = AffinityCounts()
    with transaction.atomic():
        t = _tables()
        with connection.cursor() as cursor:
            # SHARE ROW EXCLUSIVE conflicts with itself, not with readers.
            cursor.execute(
                f"LOCK TABLE {t['product_aff']}, {t['category_aff']} IN SHARE ROW EXCLUSIVE MODE"
            )
        ProductAffinity.objects.all().delete()
        CategoryAffinity.objects.all().delete()
        for basis in (AffinityBasis.BASKET, AffinityBasis.MEMBER):
            rows, transactions = _affinity_insert(item="product", basis=basis, s=s, now=now)
            counts.product_pairs += rows
            if basis == AffinityBasis.BASKET:
                counts.baskets = transactions
            else:
                counts.histories = transactions
            rows, _ = _affinity_insert(item="category", basis=basis, s=s, now=now)
            counts.category_pairs += rows
    return counts
