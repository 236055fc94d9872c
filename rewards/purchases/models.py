"""Purchases and returns, and the products and categories they refer to.

Money is in öre (``BigIntegerField``). Every write goes through ``rewards.purchases``.
"""

from __future__ import annotations

from decimal import Decimal

from django.db import models
from django.db.models import F, Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from members.models import Member, Store


class VatRate(models.IntegerChoices):
    """The Swedish VAT rates, in basis points (2500 = 25 %). Prices are VAT inclusive."""

    STANDARD = 2500, _("25 %")
    REDUCED = 1200, _("12 %")
    LOW = 600, _("6 %")
    ZERO = 0, _("0 %")


class Category(models.Model):
    """A product category, created on first sight of its code or imported by CSV."""

    code = models.SlugField(_("code"), max_length=60, unique=True)
    name = models.CharField(_("name"), max_length=120, blank=True)
    # The VAT rate of the category's products unless a product sets its own.
    vat_rate_bp = models.PositiveSmallIntegerField(
        _("VAT rate"), choices=VatRate.choices, default=VatRate.STANDARD, db_default=2500
    )

    class Meta:
        ordering = ["code"]
        verbose_name = _("category")
        verbose_name_plural = _("categories")

    def __str__(self) -> str:
        return self.name or self.code


class Product(models.Model):
    """A product by SKU, created on first sight of the SKU or imported by CSV."""

    sku = models.CharField(_("SKU"), max_length=64, unique=True)
    name = models.CharField(_("name"), max_length=200, blank=True)
    category = models.ForeignKey(
        Category,
        verbose_name=_("category"),
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="products",
    )
    # Empty: the category's rate (25 % without a category).
    vat_rate_bp = models.PositiveSmallIntegerField(
        _("VAT rate"), choices=VatRate.choices, null=True, blank=True
    )

    class Meta:
        ordering = ["sku"]
        verbose_name = _("product")
        verbose_name_plural = _("products")

    def __str__(self) -> str:
        return f"{self.sku} {self.name}".strip()


class Purchase(models.Model):
    """A receipt (store) or order (web shop). Unique per store by the store's own id."""

    store = models.ForeignKey(
        Store, verbose_name=_("store"), on_delete=models.PROTECT, related_name="purchases"
    )
    receipt_id = models.CharField(_("receipt or order id"), max_length=64)
    member = models.ForeignKey(
        Member,
        verbose_name=_("member"),
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="purchases",
    )
    total_ore = models.BigIntegerField(_("total (öre)"))
    purchased_at = models.DateTimeField(_("purchased"))
    recorded_at = models.DateTimeField(_("recorded"), default=timezone.now)
    # SHA-256 of the canonical request: a replay with another body is a conflict.
    request_hash = models.CharField(max_length=64, editable=False)
    points_earned = models.BigIntegerField(_("points earned"), default=0)
    points_reversed = models.BigIntegerField(_("points reversed"), default=0)
    points_available_at = models.DateTimeField(_("points available from"), null=True, blank=True)
    # Which rule gave how many points: [{"rule": id, "sv": "...", "en": "...", "points": n}].
    explanation = models.JSONField(_("explanation"), default=list, blank=True)
    claimed_at = models.DateTimeField(_("claimed by member"), null=True, blank=True)

    class Meta:
        ordering = ["-purchased_at", "-id"]
        verbose_name = _("purchase")
        verbose_name_plural = _("purchases")
        constraints = [
            models.UniqueConstraint(fields=["store", "receipt_id"], name="purchase_store_receipt"),
            models.CheckConstraint(
                condition=Q(points_reversed__gte=0) & Q(points_reversed__lte=F("points_earned")),
                name="purchase_reversed_le_earned",
            ),
        ]
        indexes = [models.Index(fields=["member", "-purchased_at"], name="purchase_member_idx")]

    def __str__(self) -> str:
        return f"{self.store_id}/{self.receipt_id}"

    @property
    def total_sek(self) -> Decimal:
        return Decimal(self.total_ore) / 100


class PurchaseLine(models.Model):
    purchase = models.ForeignKey(
        Purchase, verbose_name=_("purchase"), on_delete=models.PROTECT, related_name="lines"
    )
    line_no = models.PositiveSmallIntegerField(_("line"))
    sku = models.CharField(_("SKU"), max_length=64)
    product = models.ForeignKey(
        Product, verbose_name=_("product"), on_delete=models.PROTECT, related_name="+"
    )
    category = models.ForeignKey(
        Category,
        verbose_name=_("category"),
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
    )
    quantity = models.PositiveIntegerField(_("quantity"))
    unit_price_ore = models.BigIntegerField(_("unit price (öre)"))
    discount_ore = models.BigIntegerField(_("discount (öre)"), default=0)
    # The VAT rate the line was sold with (the till's, else the product's or category's).
    vat_rate_bp = models.PositiveSmallIntegerField(
        _("VAT rate"), choices=VatRate.choices, default=VatRate.STANDARD, db_default=2500
    )
    points = models.BigIntegerField(_("points"), default=0)
    returned_quantity = models.PositiveIntegerField(_("returned quantity"), default=0)
    points_reversed = models.BigIntegerField(_("points reversed"), default=0)

    class Meta:
        ordering = ["purchase", "line_no"]
        verbose_name = _("purchase line")
        verbose_name_plural = _("purchase lines")
        constraints = [
            models.UniqueConstraint(fields=["purchase", "line_no"], name="purchaseline_unique_no"),
            models.CheckConstraint(
                condition=Q(returned_quantity__lte=F("quantity")), name="line_returned_le_qty"
            ),
            models.CheckConstraint(
                condition=Q(points_reversed__lte=F("points")), name="line_reversed_le_points"
            ),
            models.CheckConstraint(
                condition=Q(vat_rate_bp__in=[0, 600, 1200, 2500]), name="line_vat_rate_swedish"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.purchase_id}#{self.line_no} {self.sku}"

    @property
    def net_ore(self) -> int:
        return self.quantity * self.unit_price_ore - self.discount_ore


class Return(models.Model):
    """A full or partial return of a purchase, by line; idempotent by (store, return id)."""

    store = models.ForeignKey(Store, verbose_name=_("store"), on_delete=models.PROTECT)
    return_id = models.CharField(_("return id"), max_length=64)
    purchase = models.ForeignKey(
        Purchase, verbose_name=_("purchase"), on_delete=models.PROTECT, related_name="returns"
    )
    request_hash = models.CharField(max_length=64, editable=False)
    points_reversed = models.BigIntegerField(_("points reversed"), default=0)
    # Points the return should have taken back but the member had already spent.
    points_unrecovered = models.BigIntegerField(_("points not recovered"), default=0)
    lines = models.JSONField(_("returned lines"), default=list)
    created_at = models.DateTimeField(_("created"), default=timezone.now)

    class Meta:
        verbose_name = _("return")
        verbose_name_plural = _("returns")
        constraints = [
            models.UniqueConstraint(fields=["store", "return_id"], name="return_store_id"),
        ]

    def __str__(self) -> str:
        return f"{self.store_id}/{self.return_id}"
