"""Products and categories: resolved (and created) on sight, cached per process; CSV import."""

from __future__ import annotations

import time
from collections.abc import Iterable

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Value
from django.db.models.functions import Coalesce
from django.utils.translation import gettext as _

from rewards.models import (
    Category,
    Product,
    VatRate,
)
from rewards.purchases.types import LineInput

# SKU -> (product id, category id, VAT rate, cached until): products are read on every purchase and
# change rarely, so each process keeps them a minute (a category changed by an import in
# another process applies within that time; an import in this process clears it). Only
# committed rows enter it: rows are learned after the transaction that read or created them
# commits (``transaction.on_commit``), so a rolled-back purchase never leaves an id behind.
_products_cache: dict[str, tuple[int, int | None, int, float]] = {}
# A product's resolved row: its id, its category's id, its VAT rate in basis points (its own,
# else its category's, else 25 %).
Resolved = tuple[int, int | None, int]


PRODUCTS_CACHE_SECONDS = 60.0


def products_cache_clear() -> None:
    _products_cache.clear()


def _products_cache_learn(rows: dict[str, Resolved], until: float) -> None:
    def learn() -> None:
        for sku, (pk, category_id, vat_rate_bp) in rows.items():
            _products_cache[sku] = (pk, category_id, vat_rate_bp, until)

    # Outside a transaction the rows are committed already and this runs at once.
    transaction.on_commit(learn)


def _resolved_rows(skus: set[str]) -> dict[str, Resolved]:
    return {
        sku: (pk, category_id, vat_rate_bp)
        for sku, pk, category_id, vat_rate_bp in Product.objects.filter(sku__in=skus).values_list(
            "sku",
            "pk",
            "category_id",
            Coalesce("vat_rate_bp", "category__vat_rate_bp", Value(VatRate.STANDARD.value)),
        )
    }


def products_resolve(lines: Iterable[LineInput]) -> dict[str, Resolved]:
    """SKU -> (product id, category id, VAT rate in basis points); unknown SKUs (and
    categories) are created on first sight, at the category's rate (25 % without one); the
    VAT rate is the product's own, else its category's. No query when every SKU was seen
    in the last minute, one when they are known.

    Call it inside the purchase's transaction: the products and categories it creates are
    rolled back with a refused purchase. A concurrent purchase creating the same SKU waits
    on the unique index (``ON CONFLICT DO NOTHING``) and then reads the row the other
    committed; new rows are inserted in code and SKU order, so two purchases never wait on
    each other's rows."""
    lines = list(lines)
    skus = {line.sku for line in lines}
    clock = time.monotonic()
    found: dict[str, Resolved] = {}
    for sku in skus:
        cached = _products_cache.get(sku)
        if cached is not None and cached[3] > clock:
            found[sku] = (cached[0], cached[1], cached[2])
    if len(found) == len(skus):
        return found
    learned = _resolved_rows(skus - set(found))
    found.update(learned)
    missing = {line.sku: line for line in lines if line.sku not in found}
    if missing:
        codes = {line.category for line in missing.values() if line.category}
        Category.objects.bulk_create(
            [Category(code=code, name=code) for code in sorted(codes)], ignore_conflicts=True
        )
        category_ids = dict(Category.objects.filter(code__in=codes).values_list("code", "pk"))
        Product.objects.bulk_create(
            [
                Product(
                    sku=sku,
                    name=missing[sku].name[:200],
                    category_id=category_ids.get(missing[sku].category),
                )
                for sku in sorted(missing)
            ],
            ignore_conflicts=True,  # a concurrent purchase may create the same SKU
        )
        created = _resolved_rows(set(missing))
        found.update(created)
        learned.update(created)
    _products_cache_learn(learned, clock + PRODUCTS_CACHE_SECONDS)
    return found


def catalogue_import_csv(*, rows: Iterable[dict[str, str]]) -> tuple[int, int]:
    """Create or update products (and categories) from CSV rows with columns
    ``sku, name, category_code, category_name``. Returns (created, updated)."""
    products_cache_clear()
    # and again once the import is committed: a purchase in this process meanwhile may
    # have cached the rows as they were before
    transaction.on_commit(products_cache_clear)
    created = updated = 0
    cleaned = []
    for number, row in enumerate(rows, 2):
        sku = (row.get("sku") or "").strip()
        if not sku or len(sku) > 64:
            raise ValidationError(
                _("Line %(line)d: a SKU of 1-64 characters is required.") % {"line": number}
            )
        cleaned.append(
            (
                sku,
                (row.get("name") or "").strip()[:200],
                (row.get("category_code") or "").strip()[:60],
                (row.get("category_name") or "").strip()[:120],
            )
        )
    with transaction.atomic():
        for sku, name, code, category_name in cleaned:
            category = None
            if code:
                category, _created = Category.objects.update_or_create(
                    code=code, defaults={"name": category_name or code}
                )
            _product, was_created = Product.objects.update_or_create(
                sku=sku, defaults={"name": name, "category": category}
            )
            created += was_created
            updated += not was_created
    return created, updated
