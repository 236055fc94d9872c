"""Earning rules (purchases) and event rules (non-spending behaviour: birthdays, check-ins).

Rates and multipliers are decimals. Rules are read by ``rewards.rules.earning``.
"""

from __future__ import annotations

from decimal import Decimal

from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from members.models import Member, Store
from rewards.loyalty.models import Tier
from rewards.purchases.models import Category, Product


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
        # The member told us what they like (interests); "first time" is a cap of 1, ever.
        INTERESTS_TOLD = "interests_told", _("Told their interests")

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
