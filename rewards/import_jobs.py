"""rewards' kinds of back-office import (members.import_jobs): opening balances, and the
historical purchases once their import is there (docs/import.md)."""

from __future__ import annotations

from django.utils.translation import gettext_lazy as _

from members.import_jobs import import_kind_register


def register() -> None:
    from rewards.imports import balances_import

    import_kind_register(
        code="balances",
        label=_("Opening points balances"),
        run=balances_import,
        permission="rewards.adjust_points",
        template="import/balances.csv",
        order=20,
    )
