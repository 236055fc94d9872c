"""The points ledger: entries, lots, balances, reservations and idempotency records.

Points are integers. Ledger entries are append-only (a database trigger refuses UPDATE and
DELETE on PostgreSQL); balances are a cache of the entries, kept in the same transaction and
backed by CHECK constraints. Every state change goes through ``rewards.ledger``.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import F, Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from members.models import Member, Store
from rewards.purchases.models import Purchase
from rewards.rules.models import EventRule


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
        return f"{self.member_id}: {self.available} p"

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
        return f"#{self.pk} {self.amount} p ({self.get_status_display()})"


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
        # Opening balances brought over from the chain's old club (rewards.ledger.imports).
        IMPORT = "import", _("Imported from the old club")
        # Points moved between two members by a merge (members.merging): an out entry on
        # the merged member and an in entry on the survivor, one pair per lot.
        TRANSFER = "transfer", _("Moved by a merge")

    class Cause(models.TextChoices):
        PURCHASE = "purchase", _("Purchase")
        RETURN = "return", _("Return")
        RESERVATION = "reservation", _("Reservation")
        REWARD = "reward", _("Reward")
        RULE = "rule", _("Event rule")
        CAMPAIGN = "campaign", _("Campaign")
        STAFF = "staff", _("Staff adjustment")
        SYSTEM = "system", _("System")
        IMPORT = "import", _("Old club")
        MERGE = "merge", _("Merge of two members")

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
        return f"{self.get_kind_display()} {self.points} p ({self.member_id})"

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
