"""Digital receipts: a purchase as the member reads it (issue 16, docs/member-pages.md
"Receipts").

Prices are VAT inclusive (Swedish retail): each line's gross amount (quantity × unit price
less its discount) carries the VAT rate it was sold with (``PurchaseLine.vat_rate_bp``). The
VAT of a rate is computed once from the rate's gross sum, ``gross × r / (1 + r)``, rounded
half up to whole öre, and the net is the rest, so VAT and net always add up to the gross.

Nothing here writes: the receipt is read from the purchase, its lines, the points each rule
gave (``Purchase.explanation``, stored when the points were earned) and its returns.
"""

from __future__ import annotations

import datetime
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from rewards.models import Purchase, PurchaseLine, Return


@dataclass(frozen=True)
class VatPart:
    """One VAT rate of a receipt: its gross (incl. VAT), VAT and net amounts, in öre."""

    rate_bp: int
    gross_ore: int
    vat_ore: int
    net_ore: int

    @property
    def percent(self) -> str:
        """``25``, ``12``, ``6``, ``0`` (every Swedish rate is a whole percentage)."""
        whole, rest = divmod(self.rate_bp, 100)
        return str(whole) if not rest else f"{whole}.{rest:02d}".rstrip("0")


def receipt_vat_of(gross_ore: int, rate_bp: int) -> int:
    """The VAT included in ``gross_ore`` at ``rate_bp`` (2500 = 25 %): gross × r / (1 + r),
    rounded half up (away from zero) to whole öre."""
    exact = Decimal(gross_ore) * rate_bp / (10_000 + rate_bp)
    return int(exact.quantize(Decimal(1), rounding=ROUND_HALF_UP))


def receipt_vat_by_rate(lines: list[tuple[int, int]]) -> list[VatPart]:
    """``[(gross_ore, rate_bp)]`` -> the VAT per rate, highest rate first. Each rate's VAT is
    rounded once, on its sum (never per line), as a till's receipt does."""
    gross: dict[int, int] = {}
    for amount, rate_bp in lines:
        gross[rate_bp] = gross.get(rate_bp, 0) + amount
    parts = []
    for rate_bp in sorted(gross, reverse=True):
        vat = receipt_vat_of(gross[rate_bp], rate_bp)
        parts.append(VatPart(rate_bp, gross[rate_bp], vat, gross[rate_bp] - vat))
    return parts


@dataclass(frozen=True)
class ReceiptLine:
    line_no: int
    name: str
    sku: str
    quantity: int
    unit_price_ore: int
    discount_ore: int
    vat_rate_bp: int
    points: int
    returned_quantity: int

    @property
    def amount_ore(self) -> int:
        return self.quantity * self.unit_price_ore - self.discount_ore

    @property
    def vat_percent(self) -> str:
        return VatPart(self.vat_rate_bp, 0, 0, 0).percent


@dataclass(frozen=True)
class ReceiptReturn:
    created_at: datetime.datetime
    store: str
    lines: list[tuple[ReceiptLine, int]]  # the purchase's line, the quantity returned
    points_reversed: int


@dataclass
class Receipt:
    purchase_id: int
    member_id: int | None
    store: str
    receipt_id: str
    purchased_at: datetime.datetime
    total_ore: int
    points_earned: int
    points_reversed: int
    points_available_at: datetime.datetime | None
    # [{"rule": id, "sv": "...", "en": "...", "points": n}] (rewards.rules.earning)
    explanation: list[dict[str, Any]]
    lines: list[ReceiptLine] = field(default_factory=list)
    vat: list[VatPart] = field(default_factory=list)
    returns: list[ReceiptReturn] = field(default_factory=list)

    @property
    def lines_total_ore(self) -> int:
        return sum(line.amount_ore for line in self.lines)

    @property
    def vat_total_ore(self) -> int:
        return sum(part.vat_ore for part in self.vat)

    @property
    def adjustment_ore(self) -> int:
        """What the till's total differs from the lines by (cash rounding, a discount on the
        whole receipt): shown as its own row, so that the lines and the total both stay as
        the till sent them."""
        return self.total_ore - self.lines_total_ore

    def rules(self, language: str) -> list[tuple[str, int]]:
        """The points each rule gave, named in ``language`` ("sv" or "en")."""
        key = "en" if language.startswith("en") else "sv"
        return [
            (str(part.get(key) or part.get("sv") or part.get("en") or ""), int(part["points"]))
            for part in self.explanation
        ]


def receipt_read(*, purchase_id: int, member_id: int | None = None) -> Receipt | None:
    """The receipt of a purchase, or None. With ``member_id``, only that member's purchase:
    another member's is None exactly as an unknown id is (the views answer 404 for both)."""
    purchases = Purchase.objects.select_related("store").filter(pk=purchase_id)
    if member_id is not None:
        purchases = purchases.filter(member_id=member_id)
    purchase = purchases.first()
    if purchase is None:
        return None
    lines = [
        ReceiptLine(
            line_no=line.line_no,
            name=line.product.name or line.sku,
            sku=line.sku,
            quantity=line.quantity,
            unit_price_ore=line.unit_price_ore,
            discount_ore=line.discount_ore,
            vat_rate_bp=line.vat_rate_bp,
            points=line.points,
            returned_quantity=line.returned_quantity,
        )
        for line in PurchaseLine.objects.filter(purchase=purchase)
        .select_related("product")
        .order_by("line_no")
    ]
    by_no = {line.line_no: line for line in lines}
    returns = [
        ReceiptReturn(
            created_at=ret.created_at,
            store=ret.store.name,
            lines=[(by_no[no], quantity) for no, quantity in ret.lines if no in by_no],
            points_reversed=ret.points_reversed,
        )
        for ret in Return.objects.filter(purchase=purchase)
        .select_related("store")
        .order_by("created_at", "pk")
    ]
    return Receipt(
        purchase_id=purchase.pk,
        member_id=purchase.member_id,
        store=purchase.store.name,
        receipt_id=purchase.receipt_id,
        purchased_at=purchase.purchased_at,
        total_ore=purchase.total_ore,
        points_earned=purchase.points_earned,
        points_reversed=purchase.points_reversed,
        points_available_at=purchase.points_available_at,
        explanation=list(purchase.explanation or []),
        lines=lines,
        vat=receipt_vat_by_rate([(line.amount_ore, line.vat_rate_bp) for line in lines]),
        returns=returns,
    )
