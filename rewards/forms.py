from __future__ import annotations

from decimal import Decimal

from django import forms
from django.utils.translation import gettext_lazy as _

from members.models import Store


class ClaimPurchaseForm(forms.Form):
    """Forgot the card: claim a purchase by store, receipt number and amount."""

    store = forms.ModelChoiceField(
        label=_("Store"), queryset=Store.objects.order_by("name"), empty_label=None
    )
    receipt_id = forms.CharField(label=_("Receipt number"), max_length=64)
    total = forms.DecimalField(
        label=_("Amount (SEK)"),
        max_digits=12,
        decimal_places=2,
        min_value=Decimal("0"),
        help_text=_("The total on the receipt, e.g. 249.50"),
    )

    @property
    def total_ore(self) -> int:
        return int(self.cleaned_data["total"] * 100)


class AdjustPointsForm(forms.Form):
    points = forms.IntegerField(
        label=_("Points"),
        help_text=_("Positive to add, negative to remove."),
        min_value=-10_000_000,
        max_value=10_000_000,
    )
    reason = forms.CharField(label=_("Reason"), max_length=200)
    idempotency_key = forms.CharField(widget=forms.HiddenInput, max_length=100)


class SimulateForm(forms.Form):
    store = forms.ModelChoiceField(label=_("Store"), queryset=Store.objects.order_by("name"))
    tier = forms.CharField(label=_("Tier code"), required=False, max_length=30)
    day = forms.DateField(label=_("Date"), required=False)
    basket = forms.CharField(
        label=_("Basket"),
        widget=forms.Textarea(attrs={"rows": 8}),
        help_text=_("One line per item: SKU;quantity;unit price in SEK[;discount in SEK]"),
    )
