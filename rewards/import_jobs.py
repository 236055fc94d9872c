"""rewards' kinds of back-office import (members.import_jobs): opening balances and
historical purchases, with or without earning points (docs/import.md)."""

from __future__ import annotations

from functools import partial

from django.utils.translation import gettext_lazy as _

from members.import_jobs import import_kind_register


def register() -> None:
    from rewards.imports import balances_import
    from rewards.purchases.imports import purchases_import

    import_kind_register(
        code="balances",
        label=_("Opening points balances"),
        run=balances_import,
        permission="rewards.adjust_points",
        template="import/balances.csv",
        order=20,
    )
    import_kind_register(
        code="purchases",
        label=_("Historical purchases (no points)"),
        run=partial(purchases_import, earn=False),
        permission="rewards.add_purchase",
        template="import/purchases.csv",
        order=30,
    )
    import_kind_register(
        code="purchases_earn",
        label=_("Historical purchases, earning points by today's rules"),
        run=partial(purchases_import, earn=True),
        permission="rewards.adjust_points",
        template="import/purchases.csv",
        order=40,
    )
