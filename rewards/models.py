"""The points ledger, purchases and the catalogue they refer to, earning rules and tiers.

Money is in öre (``BigIntegerField``), points are integers; rates and multipliers are
decimals. Ledger entries are append-only (a database trigger refuses UPDATE and DELETE on
PostgreSQL); balances are a cache of the entries, kept in the same transaction and backed
by CHECK constraints. Every state change goes through ``rewards.services``.
"""

from __future__ import annotations

from decimal import Decimal

from django.conf import settings
from django.db import models
from django.db.models import F, Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from members.models import Member, Store

# --- catalogue ------------------------------------------------------------------------------


class Category(models.Model):
    """A product category, created on first sight of its code or imported by CSV."""

    code = models.SlugField(_("code"), max_length=60, unique=True)
    name = models.CharField(_("name"), max_length=120, blank=True)

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

    class Meta:
        ordering = ["sku"]
        verbose_name = _("product")
        verbose_name_plural = _("products")

    def __str__(self) -> str:
        return f"{self.sku} {self.name}".strip()


# --- tiers (minimal; the tier issue extends these) ----------------------------------------


class Tier(models.Model):
    code = models.SlugField(_("code"), max_length=30, unique=True)
    name_sv = models.CharField(_("name (Swedish)"), max_length=60)
    name_en = models.CharField(_("name (English)"), max_length=60)
    rank = models.PositiveSmallIntegerField(_("rank"), default=0)
    # Qualification (docs/rewards.md): points earned, or spend, over the rolling window
    # (settings.REWARDS_TIER_BASIS / REWARDS_TIER_WINDOW_DAYS). The lowest tier has 0.
    threshold_points = models.PositiveIntegerField(_("points earned to qualify"), default=0)
    threshold_spend_ore = models.BigIntegerField(_("spend to qualify (öre)"), default=0)
    benefit_picks = models.PositiveSmallIntegerField(_("benefits to choose per period"), default=0)
    description_sv = models.TextField(_("what the tier gives (Swedish)"), blank=True)
    description_en = models.TextField(_("what the tier gives (English)"), blank=True)

    class Meta:
        ordering = ["rank"]
        verbose_name = _("tier")
        verbose_name_plural = _("tiers")

    def __str__(self) -> str:
        return self.name_en

    def name_for(self, language: str) -> str:
        return self.name_sv if language == "sv" else self.name_en


class MemberTier(models.Model):
    member = models.OneToOneField(
        Member, verbose_name=_("member"), on_delete=models.PROTECT, related_name="member_tier"
    )
    tier = models.ForeignKey(Tier, verbose_name=_("tier"), on_delete=models.PROTECT)
    since = models.DateTimeField(_("since"), default=timezone.now)
    # When the member first no longer qualified for this tier; the downgrade waits
    # settings.REWARDS_TIER_GRACE_DAYS from here (cleared when they qualify again).
    below_since = models.DateTimeField(_("below the threshold since"), null=True, blank=True)

    class Meta:
        verbose_name = _("member tier")
        verbose_name_plural = _("member tiers")

    def __str__(self) -> str:
        return f"{self.member_id}: {self.tier_id}"


# --- purchases ------------------------------------------------------------------------------


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


# --- earning rules --------------------------------------------------------------------------


class EarningRule(models.Model):
    """A purchase rule. Conditions that are set must all match (AND); unset ones match all.

    - base: ``rate`` points per SEK on every eligible line (the highest-priority active
      base rule applies), with ``rounding`` and ``min_purchase_ore``;
    - multiplier: ``multiplier`` x the base points of matching lines, shown as its own
      explanation line ("+120 p: 2x on running shoes"); multipliers add up;
    - exclusion: matching lines earn nothing (tobacco, gift cards).
    """

    class Kind(models.TextChoices):
        BASE = "base", _("Base rate")
        MULTIPLIER = "multiplier", _("Multiplier")
        EXCLUSION = "exclusion", _("Exclusion")

    class Rounding(models.TextChoices):
        DOWN = "down", _("Down")
        NEAREST = "nearest", _("Nearest")
        UP = "up", _("Up")

    kind = models.CharField(_("kind"), max_length=12, choices=Kind.choices)
    name_sv = models.CharField(_("explanation (Swedish)"), max_length=120)
    name_en = models.CharField(_("explanation (English)"), max_length=120)
    active = models.BooleanField(_("active"), default=True)
    priority = models.SmallIntegerField(_("priority"), default=0)
    rate = models.DecimalField(
        _("points per SEK"), max_digits=8, decimal_places=4, default=Decimal("1")
    )
    multiplier = models.DecimalField(
        _("multiplier"), max_digits=6, decimal_places=3, default=Decimal("2")
    )
    rounding = models.CharField(
        _("rounding"), max_length=8, choices=Rounding.choices, default=Rounding.DOWN
    )
    min_purchase_ore = models.BigIntegerField(_("minimum purchase (öre)"), default=0)
    category = models.ForeignKey(
        Category, verbose_name=_("category"), on_delete=models.PROTECT, null=True, blank=True
    )
    product = models.ForeignKey(
        Product, verbose_name=_("product"), on_delete=models.PROTECT, null=True, blank=True
    )
    store = models.ForeignKey(
        Store, verbose_name=_("store"), on_delete=models.PROTECT, null=True, blank=True
    )
    tier = models.ForeignKey(
        Tier, verbose_name=_("tier"), on_delete=models.PROTECT, null=True, blank=True
    )
    valid_from = models.DateField(_("valid from"), null=True, blank=True)
    valid_until = models.DateField(_("valid until"), null=True, blank=True)
    created_at = models.DateTimeField(_("created"), default=timezone.now)

    class Meta:
        ordering = ["kind", "-priority", "id"]
        verbose_name = _("earning rule")
        verbose_name_plural = _("earning rules")
        constraints = [
            models.CheckConstraint(condition=Q(rate__gte=0), name="rule_rate_nonneg"),
            models.CheckConstraint(condition=Q(multiplier__gte=1), name="rule_multiplier_ge_one"),
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()}: {self.name_en}"


class EventRule(models.Model):
    """Points for non-spending behaviour, with a cap per member and period."""

    class Event(models.TextChoices):
        JOINED = "joined", _("Joined")
        PROFILE_COMPLETED = "profile_completed", _("Profile completed")
        BIRTHDAY = "birthday", _("Birthday")
        REFERRAL = "referral", _("Referral")
        CHECK_IN = "check_in", _("Check-in")
        REVIEW = "review", _("Review")
        SOCIAL_SHARE = "social_share", _("Social share")

    class Period(models.TextChoices):
        DAY = "day", _("Day")
        WEEK = "week", _("Week")
        MONTH = "month", _("Month")
        EVER = "ever", _("Ever")

    class Beneficiary(models.TextChoices):
        MEMBER = "member", _("The member")
        REFERRER = "referrer", _("Referrer")
        REFERRED = "referred", _("Referred member")
        BOTH = "both", _("Both")

    event = models.CharField(_("event"), max_length=20, choices=Event.choices)
    name_sv = models.CharField(_("explanation (Swedish)"), max_length=120)
    name_en = models.CharField(_("explanation (English)"), max_length=120)
    points = models.PositiveIntegerField(_("points"))
    cap = models.PositiveIntegerField(_("times per period"), default=1)
    period = models.CharField(_("period"), max_length=8, choices=Period.choices, default="ever")
    beneficiary = models.CharField(
        _("who earns"), max_length=10, choices=Beneficiary.choices, default="member"
    )
    active = models.BooleanField(_("active"), default=True)

    class Meta:
        verbose_name = _("event rule")
        verbose_name_plural = _("event rules")

    def __str__(self) -> str:
        return f"{self.get_event_display()}: {self.points} p"


# --- the ledger -----------------------------------------------------------------------------


class PointBalance(models.Model):
    """The member's balances, a cache of their entries kept in the entries' transaction."""

    member = models.OneToOneField(
        Member,
        verbose_name=_("member"),
        on_delete=models.PROTECT,
        primary_key=True,
        related_name="point_balance",
    )
    pending = models.BigIntegerField(_("pending"), default=0)
    posted = models.BigIntegerField(_("posted"), default=0)
    reserved = models.BigIntegerField(_("reserved"), default=0)
    updated_at = models.DateTimeField(_("updated"), default=timezone.now)

    class Meta:
        verbose_name = _("point balance")
        verbose_name_plural = _("point balances")
        constraints = [
            models.CheckConstraint(condition=Q(pending__gte=0), name="balance_pending_nonneg"),
            models.CheckConstraint(condition=Q(posted__gte=0), name="balance_posted_nonneg"),
            models.CheckConstraint(condition=Q(reserved__gte=0), name="balance_reserved_nonneg"),
            # available = posted - reserved never below zero
            models.CheckConstraint(
                condition=Q(posted__gte=F("reserved")), name="balance_available_nonneg"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.member_id}: {self.available} available"

    @property
    def available(self) -> int:
        return self.posted - self.reserved


class Reservation(models.Model):
    """Points held for a checkout; resolves exactly once: captured, released or expired."""

    class Status(models.TextChoices):
        ACTIVE = "active", _("Active")
        CAPTURED = "captured", _("Captured")
        RELEASED = "released", _("Released")
        EXPIRED = "expired", _("Timed out")

    member = models.ForeignKey(
        Member, verbose_name=_("member"), on_delete=models.PROTECT, related_name="reservations"
    )
    store = models.ForeignKey(
        Store, verbose_name=_("store"), on_delete=models.PROTECT, null=True, blank=True
    )
    amount = models.PositiveIntegerField(_("points reserved"))
    captured = models.PositiveIntegerField(_("points captured"), default=0)
    status = models.CharField(
        _("status"), max_length=10, choices=Status.choices, default=Status.ACTIVE
    )
    reference = models.CharField(_("basket or order reference"), max_length=64, blank=True)
    created_at = models.DateTimeField(_("created"), default=timezone.now)
    expires_at = models.DateTimeField(_("expires"))
    resolved_at = models.DateTimeField(_("resolved"), null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        verbose_name = _("reservation")
        verbose_name_plural = _("reservations")
        constraints = [
            models.CheckConstraint(
                condition=Q(captured__lte=F("amount")), name="reservation_captured_le_amount"
            ),
        ]
        indexes = [
            models.Index(
                fields=["expires_at"],
                condition=Q(status="active"),
                name="reservation_active_exp_idx",
            )
        ]

    def __str__(self) -> str:
        return f"#{self.pk} {self.amount} p ({self.status})"


class LedgerEntry(models.Model):
    """One immutable change to a member's points.

    Each entry carries its effect on the three cached balances (pending, posted,
    reserved); a member's balance is the sum of their entries (invariant I1). ``points`` is
    the amount as a member reads it (positive; the kind gives the direction).
    """

    class Kind(models.TextChoices):
        EARN = "earn", _("Earned")
        MATURE = "mature", _("Became available")
        REDEEM = "redeem", _("Spent")
        RESERVE = "reserve", _("Reserved")
        RELEASE = "release", _("Released")
        EXPIRE = "expire", _("Expired")
        ADJUST = "adjust", _("Adjusted")
        REVERSE = "reverse", _("Reversed")

    class Cause(models.TextChoices):
        PURCHASE = "purchase", _("Purchase")
        RETURN = "return", _("Return")
        RESERVATION = "reservation", _("Reservation")
        REWARD = "reward", _("Reward")
        RULE = "rule", _("Event rule")
        CAMPAIGN = "campaign", _("Campaign")
        STAFF = "staff", _("Staff adjustment")
        SYSTEM = "system", _("System")

    member = models.ForeignKey(
        Member, verbose_name=_("member"), on_delete=models.PROTECT, related_name="ledger"
    )
    kind = models.CharField(_("kind"), max_length=10, choices=Kind.choices)
    points = models.BigIntegerField(_("points"))
    delta_pending = models.BigIntegerField(default=0)
    delta_posted = models.BigIntegerField(default=0)
    delta_reserved = models.BigIntegerField(default=0)
    cause = models.CharField(_("cause"), max_length=12, choices=Cause.choices)
    purchase = models.ForeignKey(
        Purchase, on_delete=models.PROTECT, null=True, blank=True, related_name="entries"
    )
    reservation = models.ForeignKey(
        Reservation, on_delete=models.PROTECT, null=True, blank=True, related_name="entries"
    )
    event_rule = models.ForeignKey(
        EventRule, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    # Which rule gave how many points, in both languages; or the staff member's reason.
    explanation = models.JSONField(_("explanation"), default=list, blank=True)
    reason = models.CharField(_("reason"), max_length=200, blank=True)
    store = models.ForeignKey(
        Store, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("acted by"),
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
    )
    idempotency_key = models.CharField(_("idempotency key"), max_length=160, unique=True)
    created_at = models.DateTimeField(_("time"), default=timezone.now)

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name = _("ledger entry")
        verbose_name_plural = _("ledger entries")
        permissions = [("adjust_points", "Can adjust a member's points with a reason")]
        indexes = [models.Index(fields=["member", "-created_at"], name="ledger_member_time_idx")]
        constraints = [
            models.CheckConstraint(condition=Q(points__gte=0), name="ledger_points_nonneg"),
        ]

    def __str__(self) -> str:
        return f"{self.kind} {self.points} p ({self.member_id})"

    @property
    def signed_points(self) -> int:
        """The change to what the member owns (pending + posted)."""
        return self.delta_pending + self.delta_posted


class PointLot(models.Model):
    """Points earned together; they mature together and expire together (FIFO)."""

    member = models.ForeignKey(
        Member, verbose_name=_("member"), on_delete=models.PROTECT, related_name="point_lots"
    )
    entry = models.OneToOneField(
        LedgerEntry, verbose_name=_("earned by"), on_delete=models.PROTECT, related_name="lot"
    )
    purchase = models.ForeignKey(
        Purchase, on_delete=models.PROTECT, null=True, blank=True, related_name="lots"
    )
    amount = models.BigIntegerField(_("points earned"))
    remaining = models.BigIntegerField(_("points left"))
    available_at = models.DateTimeField(_("available from"))
    matured = models.BooleanField(_("available"), default=False)
    expires_at = models.DateTimeField(_("expires"))

    class Meta:
        ordering = ["expires_at", "id"]
        verbose_name = _("point lot")
        verbose_name_plural = _("point lots")
        constraints = [
            models.CheckConstraint(
                condition=Q(remaining__gte=0) & Q(remaining__lte=F("amount")),
                name="lot_remaining_range",
            ),
        ]
        indexes = [
            models.Index(
                fields=["member", "expires_at", "id"],
                condition=Q(remaining__gt=0),
                name="lot_member_open_idx",
            ),
            models.Index(
                fields=["expires_at"], condition=Q(remaining__gt=0), name="lot_open_exp_idx"
            ),
            models.Index(
                fields=["available_at"], condition=Q(matured=False), name="lot_pending_idx"
            ),
        ]

    def __str__(self) -> str:
        return f"lot {self.pk}: {self.remaining}/{self.amount}"


class IdempotencyRecord(models.Model):
    """The stored answer to a points request, so that a replay gets the identical answer."""

    key = models.CharField(max_length=200, unique=True)
    request_hash = models.CharField(max_length=64)
    response = models.JSONField(default=dict)
    created_at = models.DateTimeField(default=timezone.now, db_index=True)

    class Meta:
        verbose_name = _("idempotency record")
        verbose_name_plural = _("idempotency records")

    def __str__(self) -> str:
        return self.key


class CheckIn(models.Model):
    """A member arrived at a store's door (QR or card scan)."""

    member = models.ForeignKey(
        Member, verbose_name=_("member"), on_delete=models.PROTECT, related_name="checkins"
    )
    store = models.ForeignKey(Store, verbose_name=_("store"), on_delete=models.PROTECT)
    idempotency_key = models.CharField(max_length=160, unique=True)
    created_at = models.DateTimeField(_("time"), default=timezone.now)

    class Meta:
        ordering = ["-created_at"]
        verbose_name = _("check-in")
        verbose_name_plural = _("check-ins")

    def __str__(self) -> str:
        return f"{self.member_id}@{self.store_id}"


# --- tiers, catalogue, vouchers, challenges, referrals, reviews (docs/rewards.md) -----------
from rewards.loyalty_models import *  # noqa: E402, F403
