"""Tiers, members' tiers, their history and benefits, the reward catalogue, vouchers,
challenges, referrals and reviews (docs/rewards.md). Every write goes through
``rewards.loyalty.tiers``, ``catalogue``, ``challenges``, ``referrals`` and ``reviews``.
"""

from __future__ import annotations

from decimal import Decimal

from django.conf import settings
from django.db import models
from django.db.models import F, Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from members.models import Member, Store
from members.pictures.models import PictureFields
from rewards.purchases.models import Category

# --- tiers ----------------------------------------------------------------------------------


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


class TierChange(models.Model):
    """Every change of a member's tier, with its reason (append-only audit)."""

    class Reason(models.TextChoices):
        PURCHASE = "purchase", _("A purchase crossed the threshold")
        REEVALUATION = "reevaluation", _("Nightly re-evaluation")
        GRACE_ENDED = "grace_ended", _("Below the threshold after the grace period")
        STAFF = "staff", _("Set by staff")

    member = models.ForeignKey(
        Member, verbose_name=_("member"), on_delete=models.PROTECT, related_name="tier_changes"
    )
    from_tier = models.ForeignKey(
        Tier,
        verbose_name=_("from"),
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
    )
    to_tier = models.ForeignKey(
        Tier, verbose_name=_("to"), on_delete=models.PROTECT, related_name="+"
    )
    reason = models.CharField(_("reason"), max_length=14, choices=Reason.choices)
    # What the member had at the moment of the change (points earned or spend in the window).
    qualifying_value = models.BigIntegerField(_("qualifying points or öre"), default=0)
    purchase_id = models.BigIntegerField(_("purchase"), null=True, blank=True)
    created_at = models.DateTimeField(_("time"), default=timezone.now)

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name = _("tier change")
        verbose_name_plural = _("tier changes")
        indexes = [models.Index(fields=["member", "-created_at"], name="tierchange_member_idx")]

    def __str__(self) -> str:
        return f"{self.member_id}: {self.from_tier_id} -> {self.to_tier_id}"


class Benefit(models.Model):
    """A perk members of a tier (or higher) may choose for a period ("choose your benefit")."""

    class Kind(models.TextChoices):
        FREE_DELIVERY = "free_delivery", _("Free delivery")
        CATEGORY_MULTIPLIER = "category_multiplier", _("Extra points in one category")
        PARTNER = "partner", _("Partner perk")
        OTHER = "other", _("Other perk")

    code = models.SlugField(_("code"), max_length=40, unique=True)
    kind = models.CharField(_("kind"), max_length=20, choices=Kind.choices)
    name_sv = models.CharField(_("name (Swedish)"), max_length=100)
    name_en = models.CharField(_("name (English)"), max_length=100)
    description_sv = models.TextField(_("description (Swedish)"), blank=True)
    description_en = models.TextField(_("description (English)"), blank=True)
    min_tier = models.ForeignKey(
        Tier, verbose_name=_("from tier"), on_delete=models.PROTECT, related_name="benefits"
    )
    category = models.ForeignKey(
        Category, verbose_name=_("category"), on_delete=models.PROTECT, null=True, blank=True
    )
    multiplier = models.DecimalField(
        _("multiplier"), max_digits=6, decimal_places=3, default=Decimal("2")
    )
    active = models.BooleanField(_("active"), default=True)

    class Meta:
        ordering = ["min_tier__rank", "code"]
        verbose_name = _("tier benefit")
        verbose_name_plural = _("tier benefits")
        constraints = [
            models.CheckConstraint(condition=Q(multiplier__gte=1), name="benefit_multiplier_ge1"),
        ]

    def __str__(self) -> str:
        return self.name_en

    def name_for(self, language: str) -> str:
        return self.name_sv if language == "sv" else self.name_en


class BenefitChoice(models.Model):
    """A benefit the member picked for one period (a calendar month, Stockholm)."""

    member = models.ForeignKey(
        Member, verbose_name=_("member"), on_delete=models.PROTECT, related_name="benefit_choices"
    )
    benefit = models.ForeignKey(Benefit, verbose_name=_("benefit"), on_delete=models.PROTECT)
    period_start = models.DateField(_("period"))
    created_at = models.DateTimeField(_("chosen"), default=timezone.now)

    class Meta:
        ordering = ["-period_start", "benefit"]
        verbose_name = _("benefit choice")
        verbose_name_plural = _("benefit choices")
        constraints = [
            models.UniqueConstraint(
                fields=["member", "benefit", "period_start"], name="benefitchoice_unique"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.member_id}: {self.benefit_id} ({self.period_start})"


# --- the reward catalogue -------------------------------------------------------------------


class Reward(PictureFields):
    """Something members choose for their points. Stock is taken by conditional UPDATE."""

    class Kind(models.TextChoices):
        DISCOUNT_PERCENT = "discount_percent", _("Discount (percent)")
        DISCOUNT_AMOUNT = "discount_amount", _("Discount (SEK)")
        FREE_PRODUCT = "free_product", _("Free product")
        PARTNER = "partner", _("Partner reward")
        INVITATION = "invitation", _("Invitation")
        DONATION = "donation", _("Donation to charity")

    code = models.SlugField(_("code"), max_length=40, unique=True)
    kind = models.CharField(_("kind"), max_length=20, choices=Kind.choices)
    name_sv = models.CharField(_("name (Swedish)"), max_length=120)
    name_en = models.CharField(_("name (English)"), max_length=120)
    description_sv = models.TextField(_("description (Swedish)"), blank=True)
    description_en = models.TextField(_("description (English)"), blank=True)
    points_cost = models.PositiveIntegerField(_("points"))
    percent_off = models.PositiveSmallIntegerField(_("percent off"), null=True, blank=True)
    amount_off_ore = models.BigIntegerField(_("amount off (öre)"), null=True, blank=True)
    min_basket_ore = models.BigIntegerField(_("minimum basket (öre)"), default=0)
    product_sku = models.CharField(_("free product SKU"), max_length=64, blank=True)
    charity = models.CharField(_("charity"), max_length=120, blank=True)
    event_starts_at = models.DateTimeField(_("event starts"), null=True, blank=True)
    event_place = models.CharField(_("event place"), max_length=200, blank=True)
    valid_days = models.PositiveSmallIntegerField(_("voucher valid for days"), default=30)
    min_tier = models.ForeignKey(
        Tier,
        verbose_name=_("only from tier"),
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="rewards",
    )
    # None: unlimited. Partner rewards: the number of unused codes in the pool.
    stock_total = models.PositiveIntegerField(_("total stock"), null=True, blank=True)
    stock_left = models.PositiveIntegerField(_("stock left"), null=True, blank=True)
    per_member_limit = models.PositiveSmallIntegerField(
        _("limit per member"), null=True, blank=True
    )
    starts_at = models.DateTimeField(_("available from"), default=timezone.now)
    ends_at = models.DateTimeField(_("available until"), null=True, blank=True)
    active = models.BooleanField(_("active"), default=True)
    created_at = models.DateTimeField(_("created"), default=timezone.now)

    class Meta:
        ordering = ["points_cost", "code"]
        verbose_name = _("reward")
        verbose_name_plural = _("rewards")
        constraints = [
            # The last guard against overselling: stock never goes below zero.
            models.CheckConstraint(
                condition=Q(stock_left__isnull=True) | Q(stock_left__gte=0),
                name="reward_stock_nonneg",
            ),
            models.CheckConstraint(
                condition=Q(percent_off__isnull=True)
                | (Q(percent_off__gte=1) & Q(percent_off__lte=100)),
                name="reward_percent_range",
            ),
        ]

    def __str__(self) -> str:
        return self.name_en

    def name_for(self, language: str) -> str:
        return self.name_sv if language == "sv" else self.name_en

    def description_for(self, language: str) -> str:
        return self.description_sv if language == "sv" else self.description_en

    @property
    def sold_out(self) -> bool:
        return self.stock_left is not None and self.stock_left <= 0


class Voucher(models.Model):
    """A claimed reward: an unguessable code (and QR), usable exactly once before it expires.

    Invitations are vouchers too: the QR ticket, used at the door."""

    class Status(models.TextChoices):
        ISSUED = "issued", _("Ready to use")
        USED = "used", _("Used")
        CANCELLED = "cancelled", _("Cancelled")

    reward = models.ForeignKey(
        Reward, verbose_name=_("reward"), on_delete=models.PROTECT, related_name="vouchers"
    )
    member = models.ForeignKey(
        Member, verbose_name=_("member"), on_delete=models.PROTECT, related_name="vouchers"
    )
    code = models.CharField(_("code"), max_length=32, unique=True)
    status = models.CharField(
        _("status"), max_length=10, choices=Status.choices, default=Status.ISSUED
    )
    points_spent = models.PositiveIntegerField(_("points spent"))
    claim_key = models.CharField(_("claim key"), max_length=160, unique=True)
    partner_code = models.CharField(_("partner code"), max_length=100, blank=True)
    issued_at = models.DateTimeField(_("issued"), default=timezone.now)
    valid_until = models.DateTimeField(_("valid until"))
    used_at = models.DateTimeField(_("used"), null=True, blank=True)
    used_store = models.ForeignKey(
        Store,
        verbose_name=_("used in store"),
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
    )
    used_reference = models.CharField(_("basket or order"), max_length=64, blank=True)
    redeem_key = models.CharField(_("redeem key"), max_length=160, blank=True)
    cancelled_at = models.DateTimeField(_("cancelled"), null=True, blank=True)

    class Meta:
        ordering = ["-issued_at", "-id"]
        verbose_name = _("voucher")
        verbose_name_plural = _("vouchers")
        indexes = [
            models.Index(fields=["member", "status"], name="voucher_member_status_idx"),
            models.Index(fields=["reward", "status"], name="voucher_reward_status_idx"),
        ]
        constraints = [
            models.CheckConstraint(
                condition=~Q(status="used") | Q(used_at__isnull=False), name="voucher_used_has_time"
            ),
        ]

    def __str__(self) -> str:
        return self.code

    @property
    def formatted_code(self) -> str:
        return "-".join(self.code[i : i + 4] for i in range(0, len(self.code), 4))

    def usable_at(self, when: object = None) -> bool:
        now = when or timezone.now()
        return self.status == self.Status.ISSUED and self.valid_until > now  # type: ignore[operator]


class PartnerCode(models.Model):
    """One external code from a partner's uploaded pool; drawn once, by SKIP LOCKED."""

    reward = models.ForeignKey(
        Reward, verbose_name=_("reward"), on_delete=models.PROTECT, related_name="partner_codes"
    )
    code = models.CharField(_("code"), max_length=100)
    voucher = models.OneToOneField(
        Voucher,
        verbose_name=_("voucher"),
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="pool_code",
    )
    batch = models.CharField(_("upload"), max_length=60, blank=True)
    uploaded_at = models.DateTimeField(_("uploaded"), default=timezone.now)

    class Meta:
        ordering = ["id"]
        verbose_name = _("partner code")
        verbose_name_plural = _("partner codes")
        constraints = [
            models.UniqueConstraint(fields=["reward", "code"], name="partnercode_unique"),
        ]
        indexes = [
            models.Index(
                fields=["reward", "id"], condition=Q(voucher__isnull=True), name="partnercode_free"
            )
        ]

    def __str__(self) -> str:
        return f"{self.reward_id}: {self.code[:4]}…"


class WaitlistEntry(models.Model):
    """A member waiting for a place at a full invitation; offered a place, first come first
    served, when a ticket is cancelled."""

    reward = models.ForeignKey(
        Reward, verbose_name=_("invitation"), on_delete=models.PROTECT, related_name="waitlist"
    )
    member = models.ForeignKey(
        Member, verbose_name=_("member"), on_delete=models.PROTECT, related_name="waitlists"
    )
    created_at = models.DateTimeField(_("joined"), default=timezone.now)
    voucher = models.OneToOneField(
        Voucher,
        verbose_name=_("ticket"),
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
    )

    class Meta:
        ordering = ["created_at", "id"]
        verbose_name = _("waiting list entry")
        verbose_name_plural = _("waiting list")
        constraints = [
            models.UniqueConstraint(fields=["reward", "member"], name="waitlist_unique"),
        ]

    def __str__(self) -> str:
        return f"{self.reward_id}: {self.member_id}"


# --- gamification ---------------------------------------------------------------------------


class Badge(PictureFields):
    code = models.SlugField(_("code"), max_length=40, unique=True)
    name_sv = models.CharField(_("name (Swedish)"), max_length=80)
    name_en = models.CharField(_("name (English)"), max_length=80)
    symbol = models.CharField(_("symbol"), max_length=8, default="★")

    class Meta:
        ordering = ["code"]
        verbose_name = _("badge")
        verbose_name_plural = _("badges")

    def __str__(self) -> str:
        return self.name_en

    def name_for(self, language: str) -> str:
        return self.name_sv if language == "sv" else self.name_en


class Challenge(PictureFields):
    """A goal configured in admin; progress follows the member's timeline as it happens."""

    class Kind(models.TextChoices):
        PURCHASES = "purchases", _("Purchases within the window")
        NEW_CATEGORY = "new_category", _("Buy in a category for the first time")
        STORES = "stores", _("Visit different stores within the window")
        PROFILE = "profile", _("Complete the profile")
        WEEKEND_CHECKINS = "weekend_checkins", _("Check in on weekends in a row")
        REVIEWS = "reviews", _("Approved reviews")

    code = models.SlugField(_("code"), max_length=40, unique=True)
    kind = models.CharField(_("kind"), max_length=20, choices=Kind.choices)
    name_sv = models.CharField(_("name (Swedish)"), max_length=120)
    name_en = models.CharField(_("name (English)"), max_length=120)
    description_sv = models.TextField(_("description (Swedish)"), blank=True)
    description_en = models.TextField(_("description (English)"), blank=True)
    target = models.PositiveSmallIntegerField(_("target"), default=1)
    window_days = models.PositiveSmallIntegerField(_("window (days)"), null=True, blank=True)
    points = models.PositiveIntegerField(_("points on completion"), default=0)
    badge = models.ForeignKey(
        Badge, verbose_name=_("badge"), on_delete=models.PROTECT, null=True, blank=True
    )
    starts_at = models.DateTimeField(_("starts"), default=timezone.now)
    ends_at = models.DateTimeField(_("ends"), null=True, blank=True)
    active = models.BooleanField(_("active"), default=True)

    class Meta:
        ordering = ["starts_at", "code"]
        verbose_name = _("challenge")
        verbose_name_plural = _("challenges")
        constraints = [
            models.CheckConstraint(condition=Q(target__gte=1), name="challenge_target_ge1"),
        ]

    def __str__(self) -> str:
        return self.name_en

    def name_for(self, language: str) -> str:
        return self.name_sv if language == "sv" else self.name_en

    def description_for(self, language: str) -> str:
        return self.description_sv if language == "sv" else self.description_en


class ChallengeProgress(models.Model):
    member = models.ForeignKey(
        Member,
        verbose_name=_("member"),
        on_delete=models.PROTECT,
        related_name="challenge_progress",
    )
    challenge = models.ForeignKey(
        Challenge, verbose_name=_("challenge"), on_delete=models.PROTECT, related_name="progress"
    )
    progress = models.PositiveSmallIntegerField(_("progress"), default=0)
    updated_at = models.DateTimeField(_("updated"), default=timezone.now)
    completed_at = models.DateTimeField(_("completed"), null=True, blank=True)

    class Meta:
        verbose_name = _("challenge progress")
        verbose_name_plural = _("challenge progress")
        constraints = [
            models.UniqueConstraint(fields=["member", "challenge"], name="progress_unique"),
        ]

    def __str__(self) -> str:
        return f"{self.member_id}: {self.challenge_id} {self.progress}"


class MemberBadge(models.Model):
    member = models.ForeignKey(
        Member, verbose_name=_("member"), on_delete=models.PROTECT, related_name="badges"
    )
    badge = models.ForeignKey(Badge, verbose_name=_("badge"), on_delete=models.PROTECT)
    awarded_at = models.DateTimeField(_("awarded"), default=timezone.now)

    class Meta:
        ordering = ["-awarded_at"]
        verbose_name = _("member badge")
        verbose_name_plural = _("member badges")
        constraints = [
            models.UniqueConstraint(fields=["member", "badge"], name="memberbadge_unique"),
        ]

    def __str__(self) -> str:
        return f"{self.member_id}: {self.badge_id}"


# --- referrals ------------------------------------------------------------------------------


class ReferralCode(models.Model):
    member = models.OneToOneField(
        Member, verbose_name=_("member"), on_delete=models.PROTECT, related_name="referral_code"
    )
    code = models.CharField(_("code"), max_length=16, unique=True)
    created_at = models.DateTimeField(_("created"), default=timezone.now)

    class Meta:
        verbose_name = _("referral code")
        verbose_name_plural = _("referral codes")

    def __str__(self) -> str:
        return self.code


class Referral(models.Model):
    """A friend who joined with a member's code; both are rewarded after the friend's first
    purchase (event rule "referral", within its caps)."""

    class Status(models.TextChoices):
        PENDING = "pending", _("Waiting for the first purchase")
        COMPLETED = "completed", _("Completed")

    referrer = models.ForeignKey(
        Member, verbose_name=_("referrer"), on_delete=models.PROTECT, related_name="referrals"
    )
    referred = models.OneToOneField(
        Member,
        verbose_name=_("referred member"),
        on_delete=models.PROTECT,
        related_name="referred_by",
    )
    status = models.CharField(
        _("status"), max_length=10, choices=Status.choices, default=Status.PENDING
    )
    created_at = models.DateTimeField(_("created"), default=timezone.now)
    completed_at = models.DateTimeField(_("completed"), null=True, blank=True)
    purchase_id = models.BigIntegerField(_("first purchase"), null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        verbose_name = _("referral")
        verbose_name_plural = _("referrals")
        constraints = [
            models.CheckConstraint(condition=~Q(referrer=F("referred")), name="referral_not_self"),
        ]

    def __str__(self) -> str:
        return f"{self.referrer_id} -> {self.referred_id}"


class ReferralIdentity(models.Model):
    """A keyed hash (HMAC with the site key) of a phone number, email address or payment
    identity that has been referred once: it can never be referred again."""

    class Kind(models.TextChoices):
        PHONE = "phone", _("Phone")
        EMAIL = "email", _("Email")
        PAYMENT = "payment", _("Payment")

    kind = models.CharField(_("kind"), max_length=8, choices=Kind.choices)
    digest = models.CharField(_("hash"), max_length=64, unique=True)
    referral = models.ForeignKey(
        Referral, verbose_name=_("referral"), on_delete=models.PROTECT, related_name="identities"
    )
    created_at = models.DateTimeField(_("created"), default=timezone.now)

    class Meta:
        verbose_name = _("referred identity")
        verbose_name_plural = _("referred identities")

    def __str__(self) -> str:
        return f"{self.kind}:{self.digest[:8]}"


# --- reviews and social posts ---------------------------------------------------------------


class Review(models.Model):
    class Kind(models.TextChoices):
        REVIEW = "review", _("Review")
        SOCIAL = "social", _("Social media post")

    class Status(models.TextChoices):
        PENDING = "pending", _("Waiting for moderation")
        APPROVED = "approved", _("Approved")
        REJECTED = "rejected", _("Rejected")

    member = models.ForeignKey(
        Member, verbose_name=_("member"), on_delete=models.PROTECT, related_name="reviews"
    )
    kind = models.CharField(_("kind"), max_length=8, choices=Kind.choices)
    text = models.TextField(_("text"), blank=True, max_length=4000)
    url = models.URLField(_("link"), blank=True, max_length=500)
    product = models.ForeignKey(
        "rewards.Product",
        verbose_name=_("product"),
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
    )
    status = models.CharField(
        _("status"), max_length=10, choices=Status.choices, default=Status.PENDING
    )
    submitted_at = models.DateTimeField(_("submitted"), default=timezone.now)
    moderated_at = models.DateTimeField(_("moderated"), null=True, blank=True)
    moderated_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("moderated by"),
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
    )
    reject_reason = models.CharField(_("reason for rejection"), max_length=200, blank=True)

    class Meta:
        ordering = ["-submitted_at", "-id"]
        verbose_name = _("review or post")
        verbose_name_plural = _("reviews and posts")
        permissions = [("moderate_submission", "Can approve or reject reviews and posts")]
        indexes = [
            models.Index(
                fields=["submitted_at"], condition=Q(status="pending"), name="review_pending_idx"
            )
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} #{self.pk}"
