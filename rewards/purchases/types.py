"""The shapes a purchase arrives in and is answered with."""

from __future__ import annotations

from dataclasses import dataclass

from rewards.models import (
    Purchase,
    PurchaseLine,
)


@dataclass(frozen=True)
class LineInput:
    sku: str
    quantity: int
    unit_price_ore: int
    discount_ore: int = 0
    name: str = ""
    category: str = ""
    # Basis points (2500 = 25 %); None: the product's rate (its own, else its category's).
    vat_rate_bp: int | None = None


@dataclass(frozen=True)
class PurchaseResult:
    purchase: Purchase
    lines: list[PurchaseLine]
    created: bool
    member_number: str | None
