"""Amounts as staff read and type them: kronor with öre precision ("12,50"), stored as whole
öre (1250). The back-office never shows or asks for öre (docs/roles.md, "Back-office
language")."""

from __future__ import annotations

import re
from decimal import Decimal
from typing import Any

from django import forms
from django.utils.formats import number_format
from django.utils.translation import gettext_lazy as _

# Kronor, with a decimal comma or point and at most two decimals (spaces and "kr" removed).
AMOUNT = re.compile(r"-?\d+(?:[.,]\d{1,2})?")
MAX_ORE = 10**11  # one billion kronor, as the API's limit (rewards.api.serializers.MAX_ORE)


def kronor_display(ore: int | None) -> str:
    """``1250`` -> "12,50 kr" on Swedish pages ("12.50 kr" on English ones), grouped
    ("1 298,00 kr"); ``None`` -> "—"."""
    if ore is None:
        return "—"
    amount = Decimal(ore) / 100
    return f"{number_format(amount, decimal_pos=2, use_l10n=True, force_grouping=True)} kr"


def kronor_input(ore: int | None) -> str:
    """The amount as a kronor field shows it for editing: ``1250`` -> "12,50" (Swedish) or
    "12.50", without grouping so that it reads back unchanged."""
    if ore is None:
        return ""
    return number_format(Decimal(ore) / 100, decimal_pos=2, use_l10n=True)


class KronorField(forms.CharField):
    """A form field in kronor whose cleaned value is whole öre: "12,50", "12.50", "12" and
    "1 298,50 kr" are accepted; more than two decimals, letters or a negative amount are an
    error, and the form saves nothing."""

    default_error_messages = {
        "invalid": _("Write an amount in kronor with at most two decimals, for example 12,50."),
        "min_value": _("The amount cannot be negative."),
        "max_value": _("The amount is too large."),
    }

    def __init__(self, *, max_ore: int = MAX_ORE, **kwargs: Any) -> None:
        self.max_ore = max_ore
        kwargs.setdefault("widget", forms.TextInput(attrs={"inputmode": "decimal", "size": 12}))
        super().__init__(**kwargs)

    def prepare_value(self, value: Any) -> Any:
        # A saved amount (öre) shown for editing; typed text comes back unchanged.
        if isinstance(value, int) and not isinstance(value, bool):
            return kronor_input(value)
        return value

    def to_python(self, value: Any) -> int | None:  # type: ignore[override]
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        text = str(super().to_python(value))
        for ignored in (" ", "\xa0", "\u202f", "kr", "KR", "Kr", "SEK", "sek"):
            text = text.replace(ignored, "")
        if not text:
            return None
        if not AMOUNT.fullmatch(text):
            raise forms.ValidationError(self.error_messages["invalid"], code="invalid")
        amount = Decimal(text.replace(",", "."))
        ore = int(amount * 100)
        if ore < 0:
            raise forms.ValidationError(self.error_messages["min_value"], code="min_value")
        if ore > self.max_ore:
            raise forms.ValidationError(self.error_messages["max_value"], code="max_value")
        return ore
