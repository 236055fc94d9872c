"""Segments, offers, campaigns, variants and deliveries.

A campaign sends one offer (per variant) to the members of a segment. Fan-out writes one
``Delivery`` per (campaign, occurrence, member, channel), unique in the database; the holdout
control group gets rows too (status ``control``: selected and recorded, never contacted), so
that results can compare contacted and control members from one table. Every state change
goes through ``campaigns.services``; model methods only derive values from their own fields.
"""

from __future__ import annotations

import datetime
from decimal import Decimal

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from members.models import Member
from members.pictures.models import PictureFields
from rewards.models import Category, Product

__all__ = [
    "Campaign",
    "ContactBudget",
    "Delivery",
    "FanoutChunk",
    "InboxMessage",
    "MemberOffer",
    "Offer",
    "ProviderCall",
    "Segment",
    "SegmentMember",
    "Variant",
]


class Segment(models.Model):
    """Who a campaign is for: criteria compiled to ORM queries, or a fixed uploaded list."""

    class Kind(models.TextChoices):
        DYNAMIC = "dynamic", _("Criteria")
        STATIC = "static", _("Uploaded list")

    name = models.CharField(_("name"), max_length=120)
    description = models.TextField(_("description"), blank=True)
    kind = models.CharField(_("kind"), max_length=10, choices=Kind.choices, default=Kind.DYNAMIC)
    # {"op": "and"|"or", "children": [condition | group, ...]} (docs/campaigns.md).
    criteria = models.JSONField(_("criteria"), default=dict, blank=True)
    # The last CSV upload's validation report: counts and the rejected lines.
    import_report = models.JSONField(_("import report"), default=dict, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("created by"),
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
    )
    created_at = models.DateTimeField(_("created"), default=timezone.now)
    updated_at = models.DateTimeField(_("updated"), default=timezone.now)

    class Meta:
        ordering = ["name"]
        verbose_name = _("segment")
        verbose_name_plural = _("segments")

    def __str__(self) -> str:
        return self.name


class SegmentMember(models.Model):
    """A member of a static segment (uploaded CSV)."""

    segment = models.ForeignKey(Segment, on_delete=models.CASCADE, related_name="static_members")
    member = models.ForeignKey(Member, on_delete=models.PROTECT, related_name="+")
    added_at = models.DateTimeField(default=timezone.now)

    class Meta:
        verbose_name = _("segment member")
        verbose_name_plural = _("segment members")
        constraints = [
            models.UniqueConstraint(fields=["segment", "member"], name="segment_member_unique"),
        ]

    def __str__(self) -> str:
        return f"{self.segment_id}: {self.member_id}"


class Offer(PictureFields):
    """What the member gets. Title and text (sv, en) form the card on "My offers"."""

    class Kind(models.TextChoices):
        BONUS_POINTS = "bonus_points", _("Bonus points")
        MESSAGE = "message", _("Message")
        # A voucher or an exclusive-sale invitation from the reward catalogue, named by its
        # code; collecting the offer issues it as a gift (docs/campaigns.md).
        REWARD = "reward", _("Reward (voucher or invitation)")

    name = models.CharField(_("internal name"), max_length=120)
    kind = models.CharField(_("kind"), max_length=20, choices=Kind.choices)
    title_sv = models.CharField(_("title (Swedish)"), max_length=120)
    title_en = models.CharField(_("title (English)"), max_length=120)
    body_sv = models.TextField(_("text (Swedish)"), blank=True)
    body_en = models.TextField(_("text (English)"), blank=True)
    multiplier = models.DecimalField(
        _("points multiplier"), max_digits=5, decimal_places=2, default=Decimal("2")
    )
    category = models.ForeignKey(
        Category,
        verbose_name=_("category"),
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
    )
    product = models.ForeignKey(
        Product,
        verbose_name=_("product"),
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
    )
    bonus_days = models.PositiveSmallIntegerField(_("days valid after activation"), default=14)
    # How long a member has to activate (or collect) the offer once it has reached them: it
    # leaves "My offers" after the last day (docs/campaigns.md "Offers").
    activate_days = models.PositiveSmallIntegerField(
        _("days to activate"),
        default=30,
        db_default=30,  # offers saved by a server of the previous release during a deploy
        help_text=_("From the day the offer reaches the member; the last day counts."),
    )
    reward_code = models.CharField(_("reward code"), max_length=60, blank=True)
    created_at = models.DateTimeField(_("created"), default=timezone.now)

    class Meta:
        ordering = ["name"]
        verbose_name = _("offer")
        verbose_name_plural = _("offers")
        constraints = [
            models.CheckConstraint(condition=Q(multiplier__gte=1), name="offer_multiplier_ge_one"),
            models.CheckConstraint(condition=Q(bonus_days__gte=1), name="offer_bonus_days_pos"),
            models.CheckConstraint(
                condition=Q(activate_days__gte=1), name="offer_activate_days_pos"
            ),
            models.CheckConstraint(
                condition=~Q(kind="reward") | ~Q(reward_code=""), name="offer_reward_has_code"
            ),
        ]

    def __str__(self) -> str:
        return self.name

    @property
    def needs_activation(self) -> bool:
        """Bonus offers are activated; reward offers are collected (a voucher is issued)."""
        return self.kind in (self.Kind.BONUS_POINTS, self.Kind.REWARD)

    def activate_until(self, received: datetime.datetime) -> datetime.datetime:
        """The last moment to activate the offer received at ``received``: the end of the
        club's day ``activate_days`` - 1 days later (30 days: the day it came and 29 more)."""
        last_day = timezone.localtime(received).date() + datetime.timedelta(
            days=self.activate_days - 1
        )
        return timezone.make_aware(datetime.datetime.combine(last_day, datetime.time.max))

    def title_for(self, language: str) -> str:
        return self.title_sv if language == "sv" else self.title_en

    def picture_title(self, language: str) -> str:
        return self.title_for(language)

    def body_for(self, language: str) -> str:
        return self.body_sv if language == "sv" else self.body_en


class Campaign(models.Model):
    class Status(models.TextChoices):
        DRAFT = "draft", _("Draft")
        SCHEDULED = "scheduled", _("Scheduled")
        SENDING = "sending", _("Sending")
        DONE = "done", _("Done")
        CANCELLED = "cancelled", _("Cancelled")

    class ScheduleKind(models.TextChoices):
        ONCE = "once", _("Once")
        RECURRING = "recurring", _("Recurring")
        TRIGGER = "trigger", _("Triggered by an event")

    class Trigger(models.TextChoices):
        JOINED = "joined", _("Joined (welcome)")
        BIRTHDAY = "birthday", _("Birthday")
        LAPSED = "lapsed", _("No purchase for N days")
        TIER_CHANGED = "tier_changed", _("Tier changed")
        POINTS_EXPIRING = "points_expiring", _("Points about to expire")
        CHECKED_IN = "checked_in", _("Checked in at a store")

    class Goal(models.TextChoices):
        REDEMPTIONS = "redemptions", _("Redemptions")
        REVENUE = "revenue", _("Revenue")

    name = models.CharField(_("name"), max_length=120)
    segment = models.ForeignKey(
        Segment,
        verbose_name=_("segment"),
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="campaigns",
    )
    status = models.CharField(
        _("status"), max_length=10, choices=Status.choices, default=Status.DRAFT
    )
    # Higher wins the member's last contact slot; equal priority: the older campaign wins.
    priority = models.SmallIntegerField(_("priority"), default=0)
    # Channels in order of preference, e.g. ["email", "sms", "onsite"].
    channels = models.JSONField(_("channels in priority order"), default=list)
    holdout_percent = models.PositiveSmallIntegerField(_("control group (%)"), default=10)
    # "Test small": send to at most this many members of the segment (stable hash order).
    test_group_size = models.PositiveIntegerField(_("test group size"), null=True, blank=True)
    goal = models.CharField(_("goal"), max_length=12, choices=Goal.choices, default=Goal.REVENUE)
    goal_days = models.PositiveSmallIntegerField(_("goal window (days)"), default=14)
    schedule_kind = models.CharField(
        _("schedule"), max_length=10, choices=ScheduleKind.choices, default=ScheduleKind.ONCE
    )
    send_at = models.DateTimeField(_("send at"), null=True, blank=True)
    crontab = models.CharField(
        _("crontab (minute hour day month weekday)"), max_length=60, blank=True
    )
    trigger = models.CharField(_("trigger"), max_length=20, choices=Trigger.choices, blank=True)
    trigger_days = models.PositiveSmallIntegerField(_("trigger days"), null=True, blank=True)
    occurrence = models.CharField(_("current occurrence"), max_length=40, blank=True)
    launched_at = models.DateTimeField(_("launched"), null=True, blank=True)
    launched_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("launched by"),
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
    )
    finished_at = models.DateTimeField(_("finished"), null=True, blank=True)
    cancelled_at = models.DateTimeField(_("cancelled"), null=True, blank=True)
    created_at = models.DateTimeField(_("created"), default=timezone.now)

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name = _("campaign")
        verbose_name_plural = _("campaigns")
        constraints = [
            models.CheckConstraint(
                condition=Q(holdout_percent__lte=90), name="campaign_holdout_max"
            ),
        ]
        indexes = [models.Index(fields=["status", "send_at"], name="campaign_due_idx")]

    def __str__(self) -> str:
        return self.name

    @property
    def is_editable(self) -> bool:
        return self.status == self.Status.DRAFT


class Variant(models.Model):
    """One version of the message (A/B). Members are split by a stable hash."""

    campaign = models.ForeignKey(Campaign, on_delete=models.CASCADE, related_name="variants")
    code = models.CharField(_("code"), max_length=8, default="A")
    weight = models.PositiveSmallIntegerField(_("share (%)"), default=100)
    offer = models.ForeignKey(
        Offer,
        verbose_name=_("offer"),
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="variants",
    )
    email_subject_sv = models.CharField(_("email subject (Swedish)"), max_length=150, blank=True)
    email_subject_en = models.CharField(_("email subject (English)"), max_length=150, blank=True)
    email_html_sv = models.TextField(_("email HTML (Swedish)"), blank=True)
    email_html_en = models.TextField(_("email HTML (English)"), blank=True)
    email_text_sv = models.TextField(_("email text (Swedish)"), blank=True)
    email_text_en = models.TextField(_("email text (English)"), blank=True)
    sms_text_sv = models.TextField(_("SMS (Swedish)"), blank=True)
    sms_text_en = models.TextField(_("SMS (English)"), blank=True)

    class Meta:
        ordering = ["campaign", "code"]
        verbose_name = _("variant")
        verbose_name_plural = _("variants")
        constraints = [
            models.UniqueConstraint(fields=["campaign", "code"], name="variant_code_unique"),
            models.CheckConstraint(condition=Q(weight__lte=100), name="variant_weight_max"),
        ]

    def __str__(self) -> str:
        return f"{self.campaign_id}/{self.code}"


class Delivery(models.Model):
    """One message to one member on one channel. Claimed with a conditional UPDATE before
    it is sent; its id is the provider's idempotency key."""

    class Status(models.TextChoices):
        CONTROL = "control", _("Control group (not contacted)")
        PENDING = "pending", _("Waiting")
        SENDING = "sending", _("Sending")
        SENT = "sent", _("Sent")
        SUPPRESSED = "suppressed", _("Suppressed")
        FAILED = "failed", _("Failed")
        CANCELLED = "cancelled", _("Cancelled")

    FINAL = ("control", "sent", "suppressed", "failed", "cancelled")

    # No separate indexes on these keys: the unique (campaign, ...) and (member, status)
    # indexes cover the lookups, and every index costs each of a delivery's three updates.
    campaign = models.ForeignKey(
        Campaign, on_delete=models.PROTECT, related_name="deliveries", db_index=False
    )
    variant = models.ForeignKey(
        Variant,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="deliveries",
        db_index=False,
    )
    member = models.ForeignKey(
        Member, on_delete=models.PROTECT, related_name="deliveries", db_index=False
    )
    channel = models.CharField(_("channel"), max_length=10)
    # "" for a one-off campaign; the date of a recurring run, or the trigger's event key.
    occurrence = models.CharField(_("occurrence"), max_length=40, default="", blank=True)
    status = models.CharField(
        _("status"), max_length=12, choices=Status.choices, default=Status.PENDING
    )
    # Why it was suppressed or failed (a stable code, docs/campaigns.md).
    reason = models.CharField(_("reason"), max_length=30, blank=True, default="")
    attempts = models.PositiveSmallIntegerField(_("attempts"), default=0)
    not_before = models.DateTimeField(_("not before"), null=True, blank=True)
    created_at = models.DateTimeField(_("created"), default=timezone.now)
    # When a send task was last queued for it; the sweeper re-queues pending rows whose task
    # was lost (a killed worker), and "sending" rows whose claim is stale.
    queued_at = models.DateTimeField(_("queued"), null=True, blank=True)
    # The member's weekly contact budget was taken for this delivery (taken once, even when
    # a killed worker's delivery is sent again).
    budget_taken = models.BooleanField(_("counted in contact budget"), default=False)
    claimed_at = models.DateTimeField(_("claimed"), null=True, blank=True)
    sent_at = models.DateTimeField(_("sent"), null=True, blank=True)
    provider_ref = models.CharField(_("provider reference"), max_length=100, blank=True, default="")
    opened_at = models.DateTimeField(_("opened"), null=True, blank=True)
    clicked_at = models.DateTimeField(_("clicked"), null=True, blank=True)
    activated_at = models.DateTimeField(_("activated"), null=True, blank=True)
    redeemed_at = models.DateTimeField(_("redeemed"), null=True, blank=True)

    class Meta:
        verbose_name = _("delivery")
        verbose_name_plural = _("deliveries")
        constraints = [
            models.UniqueConstraint(
                fields=["campaign", "occurrence", "member", "channel"],
                name="delivery_unique_per_channel",
            ),
        ]
        indexes = [
            models.Index(fields=["campaign", "status"], name="delivery_campaign_status_idx"),
            models.Index(fields=["member", "status"], name="delivery_member_status_idx"),
            models.Index(
                fields=["claimed_at"], condition=Q(status="sending"), name="delivery_sending_idx"
            ),
            models.Index(
                fields=["not_before"], condition=Q(status="pending"), name="delivery_pending_idx"
            ),
            # The data-quality page's failing addresses (campaigns.data_quality): failed email
            # rows are few, so the index costs sending nothing and spares a scan of them all.
            models.Index(
                fields=["member"],
                condition=Q(status="failed", channel="email"),
                name="delivery_failed_email_idx",
            ),
        ]

    def __str__(self) -> str:
        from campaigns.labels import CHANNEL_LABELS

        channel = CHANNEL_LABELS.get(self.channel, self.channel)
        return f"#{self.pk} {channel} {self.get_status_display()}"


class FanoutChunk(models.Model):
    """One slice of a campaign's audience (a member id range) that a fan-out task turns
    into delivery rows. Done once; the sweeper re-queues chunks whose task was lost."""

    campaign = models.ForeignKey(Campaign, on_delete=models.CASCADE, related_name="chunks")
    occurrence = models.CharField(max_length=40, default="", blank=True)
    low = models.BigIntegerField()
    high = models.BigIntegerField()
    # Promote-the-winner runs send one variant to members not yet reached.
    variant = models.ForeignKey(
        Variant, on_delete=models.CASCADE, null=True, blank=True, related_name="+"
    )
    limit = models.PositiveIntegerField(null=True, blank=True)
    queued_at = models.DateTimeField(default=timezone.now)
    done_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = _("fan-out chunk")
        verbose_name_plural = _("fan-out chunks")
        indexes = [
            models.Index(fields=["campaign", "occurrence"], name="fanout_chunk_campaign_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.campaign_id} [{self.low}, {self.high}]"


class MemberOffer(models.Model):
    """An offer the member has, shown on "My offers"; bonus offers need activation."""

    class Status(models.TextChoices):
        AVAILABLE = "available", _("Available")
        ACTIVE = "active", _("Active")
        USED = "used", _("Used")

    member = models.ForeignKey(Member, on_delete=models.PROTECT, related_name="offers")
    offer = models.ForeignKey(Offer, on_delete=models.PROTECT, related_name="+")
    campaign = models.ForeignKey(Campaign, on_delete=models.PROTECT, related_name="+")
    delivery = models.ForeignKey(
        Delivery, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    status = models.CharField(
        _("status"), max_length=10, choices=Status.choices, default=Status.AVAILABLE
    )
    created_at = models.DateTimeField(_("received"), default=timezone.now)
    # The last moment to activate or collect it (``Offer.activate_until``); after it the
    # offer has expired and leaves the member's pages. None: rows from before deadlines.
    available_until = models.DateTimeField(_("activate by"), null=True, blank=True)
    activated_at = models.DateTimeField(_("activated"), null=True, blank=True)
    active_until = models.DateTimeField(_("active until"), null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name = _("member offer")
        verbose_name_plural = _("member offers")
        constraints = [
            models.UniqueConstraint(
                fields=["member", "offer", "campaign"], name="member_offer_unique"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.member_id}: {self.offer_id} ({self.get_status_display()})"


class InboxMessage(models.Model):
    """A message on the member's pages (the on-site channel), in the member's language."""

    member = models.ForeignKey(Member, on_delete=models.PROTECT, related_name="inbox")
    delivery = models.OneToOneField(Delivery, on_delete=models.PROTECT, related_name="inbox")
    title = models.CharField(_("title"), max_length=150)
    body = models.TextField(_("text"), blank=True)
    created_at = models.DateTimeField(_("received"), default=timezone.now)
    read_at = models.DateTimeField(_("read"), null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name = _("inbox message")
        verbose_name_plural = _("inbox messages")

    def __str__(self) -> str:
        return self.title


class ContactBudget(models.Model):
    """Messages sent to a member in one week (Monday, Europe/Stockholm), across channels.

    Taken with a conditional upsert (``used < cap``), so concurrent senders never exceed it.
    """

    member = models.ForeignKey(Member, on_delete=models.PROTECT, related_name="+")
    week = models.DateField(_("week starting"))
    used = models.PositiveSmallIntegerField(_("messages sent"), default=0)

    class Meta:
        verbose_name = _("contact budget")
        verbose_name_plural = _("contact budgets")
        constraints = [
            models.UniqueConstraint(fields=["member", "week"], name="contact_budget_unique"),
        ]

    def __str__(self) -> str:
        return f"{self.member_id} {self.week}: {self.used}"


class ProviderCall(models.Model):
    """Every call the test channel made to its "provider": the fault test reads it to prove
    that no delivery was sent twice. Deliberately not unique."""

    delivery_id = models.BigIntegerField(db_index=True)
    channel = models.CharField(max_length=10)
    idempotency_key = models.CharField(max_length=60)
    # Like a real provider, the test provider delivers the first call per idempotency key
    # and answers later calls with the same key without delivering again.
    accepted = models.BooleanField(default=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        verbose_name = _("provider call")
        verbose_name_plural = _("provider calls")
        constraints = [
            models.UniqueConstraint(
                fields=["idempotency_key"],
                condition=Q(accepted=True),
                name="provider_call_accepted_once",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.idempotency_key} ({'accepted' if self.accepted else 'repeat'})"
