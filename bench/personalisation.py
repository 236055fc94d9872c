"""Benchmark: the nightly personalisation job on 100 000 members.

    python -m bench.personalisation

1. Migrates a benchmark database (``BENCH_DATABASE_URL``, created if missing).
2. Seeds it once with bulk SQL (seeded random, so every run sees the same data):
   ``BENCH_MEMBERS`` members (default 100 000), 40 categories x 20 products, about 3
   purchases per member with 1-4 lines each, and a planted pattern (a member mostly buys in
   "their" category and the next one), and profiling consent for 60 % of the members.
3. Times the two steps of the nightly job: ``affinities_compute`` (the INSERT ... SELECT
   statements) and ``recommendations_compute`` (chunked scoring of every consenting member).

The last line is exactly ``affinities_s=<s> recommendations_s=<s> members_scored=<n>
product_pairs=<n>``. Results: docs/personalisation.md, "Scale".
"""

from __future__ import annotations

import os
import sys
import time

import psycopg

DATABASE_URL = os.environ.get(
    "BENCH_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/kundklubb_bench_personalisation"
)
MEMBERS = int(os.environ.get("BENCH_MEMBERS", "100000"))
CATEGORIES = 40
PER_CATEGORY = 20


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def database_ensure() -> None:
    base, name = DATABASE_URL.rsplit("/", 1)
    with psycopg.connect(f"{base}/postgres", autocommit=True) as conn:
        if not conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone():
            conn.execute(f'CREATE DATABASE "{name}"')


def seed() -> None:
    from django.db import connection

    from consent.models import PolicyVersion, Purpose
    from members.models import Member, Store
    from rewards.models import Category, Product

    if Member.objects.filter(first_name="Bench").count() >= MEMBERS:
        log(f"seed: {MEMBERS} members already there")
        return
    started = time.perf_counter()
    store, _created = Store.objects.get_or_create(code="bench", defaults={"name": "Bench"})
    Category.objects.bulk_create(
        [Category(code=f"bench-{c}", name=f"Kategori {c}") for c in range(CATEGORIES)],
        ignore_conflicts=True,
    )
    categories = dict(Category.objects.filter(code__startswith="bench-").values_list("code", "pk"))
    Product.objects.bulk_create(
        [
            Product(
                sku=f"B-{c * PER_CATEGORY + i}",
                name=f"Produkt {c}-{i}",
                category_id=categories[f"bench-{c}"],
            )
            for c in range(CATEGORIES)
            for i in range(PER_CATEGORY)
        ],
        ignore_conflicts=True,
    )
    profiling = Purpose.objects.get(code="profiling")
    policy = PolicyVersion.objects.order_by("-effective_at").first()
    assert policy is not None
    with connection.cursor() as cur:
        cur.execute("SELECT setseed(0.42)")
        cur.execute(
            """
            INSERT INTO members_member (membership_number, first_name, last_name, phone,
                preferred_language, joined_at, join_channel, card_token)
            SELECT 'B' || lpad(g::text, 9, '0'), 'Bench', 'Medlem ' || g, '',
                   CASE WHEN g %% 5 = 0 THEN 'en' ELSE 'sv' END, now(), 'web',
                   md5('bench' || g) || md5('card' || g)
            FROM generate_series(1, %s) g
            ON CONFLICT DO NOTHING
            """,
            [MEMBERS],
        )
        log(f"seed: members {time.perf_counter() - started:.1f}s")
        # About 3 purchases per member within the last 300 days.
        cur.execute(
            """
            INSERT INTO rewards_purchase (store_id, receipt_id, member_id, total_ore,
                purchased_at, recorded_at, request_hash, points_earned, points_reversed,
                explanation)
            SELECT %s, 'BR-' || m.id || '-' || k, m.id, 0,
                   now() - (random() * 300) * interval '1 day', now(), '', 0, 0, '[]'
            FROM members_member m
            CROSS JOIN generate_series(1, 5) k
            WHERE m.first_name = 'Bench' AND k <= 1 + (m.id %% 5)
            """,
            [store.pk],
        )
        log(f"seed: purchases {time.perf_counter() - started:.1f}s")
        # 1-4 lines: mostly the member's own category (member id % 40), 30 % the next
        # category (the planted affinity), 10 % anything.
        cur.execute(
            """
            INSERT INTO rewards_purchaseline (purchase_id, line_no, sku, product_id,
                category_id, quantity, unit_price_ore, discount_ore, points,
                returned_quantity, points_reversed)
            SELECT picked.purchase_id, picked.line_no, pr.sku, pr.id, pr.category_id, 1,
                   19900, 0, 0, 0, 0
            FROM (
                SELECT p.id AS purchase_id, l AS line_no,
                       CASE
                         WHEN r < 0.6 THEN (p.member_id %% %s) * %s + floor(random() * %s)
                         WHEN r < 0.9 THEN ((p.member_id + 1) %% %s) * %s + floor(random() * %s)
                         ELSE floor(random() * %s)
                       END::int AS idx
                FROM rewards_purchase p
                CROSS JOIN generate_series(1, 4) l
                CROSS JOIN LATERAL (SELECT random() + 0 * p.id + 0 * l AS r) rnd  -- per row
                WHERE p.store_id = %s AND l <= 1 + (p.id %% 4)
            ) picked
            JOIN rewards_product pr ON pr.sku = 'B-' || picked.idx
            """,
            [
                CATEGORIES,
                PER_CATEGORY,
                PER_CATEGORY,
                CATEGORIES,
                PER_CATEGORY,
                PER_CATEGORY,
                CATEGORIES * PER_CATEGORY,
                store.pk,
            ],
        )
        cur.execute(
            """
            UPDATE rewards_purchase p SET total_ore = s.total
            FROM (SELECT purchase_id, SUM(unit_price_ore) AS total
                  FROM rewards_purchaseline GROUP BY purchase_id) s
            WHERE s.purchase_id = p.id AND p.store_id = %s
            """,
            [store.pk],
        )
        log(f"seed: lines {time.perf_counter() - started:.1f}s")
        # Profiling consent for 60 % of the members: the event, then the current state.
        cur.execute(
            """
            INSERT INTO consent_consentevent (member_id, purpose_id, channel, granted,
                policy_version_id, source, created_at)
            SELECT m.id, %s, '', true, %s, 'import', now()
            FROM members_member m
            WHERE m.first_name = 'Bench' AND m.id %% 5 < 3
            """,
            [profiling.pk, policy.pk],
        )
        cur.execute(
            """
            INSERT INTO consent_consentstate (member_id, purpose_id, channel, granted,
                event_id, changed_at)
            SELECT e.member_id, e.purpose_id, '', true, e.id, e.created_at
            FROM consent_consentevent e
            WHERE e.purpose_id = %s AND e.source = 'import'
            ON CONFLICT DO NOTHING
            """,
            [profiling.pk],
        )
        cur.execute("ANALYZE")
    log(f"seed: done in {time.perf_counter() - started:.1f}s")


def main() -> None:
    os.environ["DATABASE_URL"] = DATABASE_URL
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.test")
    database_ensure()
    import django

    django.setup()
    from django.core.management import call_command
    from django.db import connection

    call_command("migrate", verbosity=0)
    seed()
    from campaigns.personalisation.affinities import affinities_compute
    from campaigns.personalisation.recommendations import recommendations_compute
    from rewards.models import PurchaseLine

    lines = PurchaseLine.objects.count()
    log(f"data: {MEMBERS} members, {lines} purchase lines")
    started = time.perf_counter()
    counts = affinities_compute()
    affinities_s = time.perf_counter() - started
    log(
        f"affinities: {counts.baskets} baskets, {counts.histories} histories, "
        f"{counts.product_pairs} product pairs, {counts.category_pairs} category pairs "
        f"in {affinities_s:.1f}s"
    )
    started = time.perf_counter()
    recs = recommendations_compute()
    recommendations_s = time.perf_counter() - started
    log(
        f"recommendations: {recs.members_scored} members, {recs.recommendations} rows "
        f"in {recommendations_s:.1f}s ({recs.members_scored / recommendations_s:.0f} members/s)"
    )
    connection.close()
    print(
        f"affinities_s={affinities_s:.2f} recommendations_s={recommendations_s:.2f} "
        f"members_scored={recs.members_scored} product_pairs={counts.product_pairs}"
    )


if __name__ == "__main__":
    main()
