"""Purposes, policy versions, consent with proof, preferences and privacy requests.

Consent is an append-only record: every grant or withdrawal is a ``ConsentEvent`` that the
database refuses to update or delete (a trigger, see migration 0002). The current answer per
member, purpose and channel is ``ConsentState``, written in the same transaction as the
event. The web proof (IP address, user agent) is personal data that erasure must remove, so
it lives beside the event in ``ConsentProof``, which stays mutable (docs/privacy.md).

Model methods only derive values from their own fields; every change goes through
``consent.services`` (one module per capability).
"""

from __future__ import annotations

import datetime

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import get_language
from django.utils.translation import gettext_lazy as _

from members.models import Member


class Channel(models.TextChoices):
    NONE = "", _("Any channel")
    EMAIL = "email", _("Email")
    SMS = "sms", _("SMS")
    ONSITE = "onsite", _("Member pages")


class LawfulBasis(models.TextChoices):
    CONTRACT = "contract", _("Contract (Art. 6(1)(b))")
    CONSENT = "consent", _("Consent (Art. 6(1)(a))")
    LEGITIMATE_INTEREST = "legitimate_interest", _("Legitimate interest (Art. 6(1)(f))")
    LEGAL_OBLIGATION = "legal_obligation", _("Legal obligation (Art. 6(1)(c))")


class Retention(models.TextChoices):
    """How long a kind of data is kept. Periods come from settings (docs/privacy.md)."""

    MEMBERSHIP = (
        "membership",
        _("While you are a member, and erased after 36 months without activity"),
    )
    BOOKKEEPING = "bookkeeping", _("7 years, as the Swedish Bookkeeping Act requires, then deleted")
    CONSENT_PROOF = (
        "consent_proof",
        _(
            "The record of your choices is kept without personal details; the technical proof "
            "(IP address, browser) until your membership ends"
        ),
    )
    UNTIL_WITHDRAWN = (
        "until_withdrawn",
        _("Until you withdraw your consent or your membership ends"),
    )
    MESSAGES = "messages", _("13 months after the message was sent")
    SECURITY_LOG = "security_log", _("2 years, to show who looked at member data")
    EXPORT_FILE = "export_file", _("7 days after the export was made")
    IMPORT_REPORT = (
        "import_report",
        _("30 days after an import, so that staff can correct the file and run it again"),
    )
    SESSION = "session", _("Until you log out, at most 2 weeks")


class Purpose(models.Model):
    """A processing purpose, editable by the data protection officer.

    Purposes whose lawful basis is consent need a grant from the member; ``channel`` names the
    one channel a marketing purpose is about (email, SMS), blank when it is not about a channel.
    """

    class Category(models.TextChoices):
        MEMBERSHIP = "membership", _("Membership")
        MARKETING = "marketing", _("Marketing")
        PROFILING = "profiling", _("Personalisation")
        PARTNER = "partner", _("Sharing with a partner")
        ANALYTICS = "analytics", _("Analytics")
        LEGAL = "legal", _("Legal and security")

    code = models.SlugField(_("code"), max_length=40, unique=True)
    category = models.CharField(_("category"), max_length=20, choices=Category.choices)
    lawful_basis = models.CharField(_("lawful basis"), max_length=30, choices=LawfulBasis.choices)
    channel = models.CharField(
        _("channel"), max_length=10, choices=Channel.choices, blank=True, default=""
    )
    name_sv = models.CharField(_("name (Swedish)"), max_length=120)
    name_en = models.CharField(_("name (English)"), max_length=120)
    description_sv = models.TextField(_("description (Swedish)"))
    description_en = models.TextField(_("description (English)"))
    partner_name = models.CharField(
        _("partner"), max_length=120, blank=True, help_text=_("Only for sharing with a partner.")
    )
    retention = models.CharField(
        _("retention"), max_length=20, choices=Retention.choices, default=Retention.MEMBERSHIP
    )
    active = models.BooleanField(_("active"), default=True)
    order = models.PositiveSmallIntegerField(_("order"), default=100)

    class Meta:
        ordering = ["order", "code"]
        verbose_name = _("purpose")
        verbose_name_plural = _("purposes")
        constraints = [
            models.CheckConstraint(
                condition=~Q(category="partner") | ~Q(partner_name=""),
                name="consent_purpose_partner_named",
            ),
        ]

    def __str__(self) -> str:
        return self.name

    @property
    def needs_consent(self) -> bool:
        return self.lawful_basis == LawfulBasis.CONSENT

    @property
    def name(self) -> str:
        return self.name_sv if (get_language() or "sv").startswith("sv") else self.name_en

    @property
    def description(self) -> str:
        return (
            self.description_sv
            if (get_language() or "sv").startswith("sv")
            else self.description_en
        )


class PolicyVersion(models.Model):
    """One version of the privacy policy text; consent points at the version the member saw."""

    version = models.CharField(_("version"), max_length=20, unique=True)
    text_sv = models.TextField(_("text (Swedish)"))
    text_en = models.TextField(_("text (English)"))
    content_hash = models.CharField(_("SHA-256 of the texts"), max_length=64, editable=False)
    effective_at = models.DateTimeField(_("effective from"))
    created_at = models.DateTimeField(_("created"), default=timezone.now)

    class Meta:
        ordering = ["-effective_at"]
        verbose_name = _("policy version")
        verbose_name_plural = _("policy versions")

    def __str__(self) -> str:
        return self.version

    @property
    def text(self) -> str:
        return self.text_sv if (get_language() or "sv").startswith("sv") else self.text_en


class ConsentEvent(models.Model):
    """One grant or withdrawal. Never updated or deleted (a database trigger enforces it).

    Holds no personal data itself: the member is referenced by id, and the web proof lives in
    ``ConsentProof`` so that erasure can remove it while the record of choices stays.
    """

    class Source(models.TextChoices):
        WEB = "web", _("Member web page")
        SIGNUP = "signup", _("Sign-up")
        STORE = "store", _("Staff in store")
        IMPORT = "import", _("Import")
        API = "api", _("API")
        UNSUBSCRIBE_LINK = "unsubscribe", _("Unsubscribe link")
        SYSTEM = "system", _("System")

    member = models.ForeignKey(
        Member, verbose_name=_("member"), on_delete=models.PROTECT, related_name="consent_events"
    )
    purpose = models.ForeignKey(
        Purpose, verbose_name=_("purpose"), on_delete=models.PROTECT, related_name="+"
    )
    channel = models.CharField(
        _("channel"), max_length=10, choices=Channel.choices, blank=True, default=""
    )
    granted = models.BooleanField(_("granted"))
    policy_version = models.ForeignKey(
        PolicyVersion, verbose_name=_("policy version"), on_delete=models.PROTECT, related_name="+"
    )
    source = models.CharField(_("source"), max_length=20, choices=Source.choices)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("acted by"),
        # Users are never deleted (erasure anonymises them); PROTECT keeps the trigger happy.
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
    )
    created_at = models.DateTimeField(_("time"), default=timezone.now, db_index=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name = _("consent event")
        verbose_name_plural = _("consent events")
        indexes = [models.Index(fields=["member", "-created_at"], name="consent_event_member_idx")]

    def __str__(self) -> str:
        return f"{'+' if self.granted else '-'}{self.purpose_id}/{self.channel or '*'} #{self.pk}"


class ConsentProof(models.Model):
    """The web proof of one consent event: personal data, wiped by erasure."""

    event = models.OneToOneField(
        ConsentEvent, on_delete=models.PROTECT, primary_key=True, related_name="proof"
    )
    ip_address = models.GenericIPAddressField(_("IP address"), null=True, blank=True)
    user_agent = models.CharField(_("browser (user agent)"), max_length=400, blank=True)

    class Meta:
        verbose_name = _("consent proof")
        verbose_name_plural = _("consent proofs")

    def __str__(self) -> str:
        return f"proof of #{self.event_id}"


class ConsentState(models.Model):
    """The current answer per member, purpose and channel, derived from the events."""

    member = models.ForeignKey(
        Member, verbose_name=_("member"), on_delete=models.PROTECT, related_name="consent_states"
    )
    purpose = models.ForeignKey(
        Purpose, verbose_name=_("purpose"), on_delete=models.PROTECT, related_name="+"
    )
    channel = models.CharField(_("channel"), max_length=10, choices=Channel.choices, blank=True)
    granted = models.BooleanField(_("granted"))
    event = models.ForeignKey(
        ConsentEvent, verbose_name=_("latest event"), on_delete=models.PROTECT, related_name="+"
    )
    changed_at = models.DateTimeField(_("changed"))

    class Meta:
        verbose_name = _("consent state")
        verbose_name_plural = _("consent states")
        constraints = [
            models.UniqueConstraint(
                fields=["member", "purpose", "channel"], name="consent_state_unique"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.member_id}/{self.purpose_id}/{self.channel or '*'}: {self.granted}"


class ContactPreferences(models.Model):
    """How often and when the member wants to hear from the club; campaigns read it."""

    member = models.OneToOneField(
        Member, on_delete=models.PROTECT, primary_key=True, related_name="contact_preferences"
    )
    max_messages_per_week = models.PositiveSmallIntegerField(
        _("at most this many messages a week"), null=True, blank=True
    )
    quiet_start = models.TimeField(_("quiet hours from"), null=True, blank=True)
    quiet_end = models.TimeField(_("quiet hours until"), null=True, blank=True)
    paused_until = models.DateTimeField(_("marketing paused until"), null=True, blank=True)
    updated_at = models.DateTimeField(_("updated"), default=timezone.now)

    class Meta:
        verbose_name = _("contact preferences")
        verbose_name_plural = _("contact preferences")
        constraints = [
            models.CheckConstraint(
                condition=Q(max_messages_per_week__isnull=True) | Q(max_messages_per_week__gte=1),
                name="consent_prefs_max_positive",
            ),
            models.CheckConstraint(
                condition=Q(quiet_start__isnull=True, quiet_end__isnull=True)
                | Q(quiet_start__isnull=False, quiet_end__isnull=False),
                name="consent_prefs_quiet_both_or_none",
            ),
        ]

    def __str__(self) -> str:
        return f"preferences of {self.member_id}"

    def in_quiet_hours(self, local_time: datetime.time) -> bool:
        start, end = self.quiet_start, self.quiet_end
        if start is None or end is None or start == end:
            return False
        if start < end:
            return start <= local_time < end
        return local_time >= start or local_time < end  # wraps midnight, e.g. 21:00-08:00


class Interest(models.Model):
    """Something a member can say they are interested in (running, football, yoga...)."""

    code = models.SlugField(_("code"), max_length=40, unique=True)
    name_sv = models.CharField(_("name (Swedish)"), max_length=80)
    name_en = models.CharField(_("name (English)"), max_length=80)
    active = models.BooleanField(_("active"), default=True)
    order = models.PositiveSmallIntegerField(_("order"), default=100)

    class Meta:
        ordering = ["order", "code"]
        verbose_name = _("interest")
        verbose_name_plural = _("interests")

    def __str__(self) -> str:
        return self.name

    @property
    def name(self) -> str:
        return self.name_sv if (get_language() or "sv").startswith("sv") else self.name_en


class MemberInterest(models.Model):
    member = models.ForeignKey(
        Member, verbose_name=_("member"), on_delete=models.PROTECT, related_name="interests"
    )
    interest = models.ForeignKey(
        Interest, verbose_name=_("interest"), on_delete=models.PROTECT, related_name="+"
    )
    chosen_at = models.DateTimeField(_("chosen"), default=timezone.now)

    class Meta:
        verbose_name = _("member interest")
        verbose_name_plural = _("member interests")
        constraints = [
            models.UniqueConstraint(fields=["member", "interest"], name="member_interest_unique"),
        ]

    def __str__(self) -> str:
        return f"{self.member_id}: {self.interest_id}"


class PartnerShare(models.Model):
    """A record that data about the member was passed to a partner, and which kinds."""

    member = models.ForeignKey(
        Member, verbose_name=_("member"), on_delete=models.PROTECT, related_name="partner_shares"
    )
    purpose = models.ForeignKey(
        Purpose, verbose_name=_("purpose"), on_delete=models.PROTECT, related_name="+"
    )
    data_categories = models.JSONField(_("kinds of data"), default=list)
    reference = models.CharField(_("reference"), max_length=100, blank=True)
    shared_at = models.DateTimeField(_("shared"), default=timezone.now)
    # A webhook delivery's share (consent.webhooks.shares): who received it as members read
    # it, the event, and why in both languages, as they were when it was sent.
    recipient = models.CharField(_("receiver"), max_length=100, blank=True)
    event_type = models.CharField(_("event type"), max_length=40, blank=True)
    reason_sv = models.CharField(_("why (Swedish)"), max_length=200, blank=True)
    reason_en = models.CharField(_("why (English)"), max_length=200, blank=True)
    endpoint = models.ForeignKey(
        "consent.WebhookEndpoint",
        verbose_name=_("webhook endpoint"),
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
    )

    class Meta:
        ordering = ["-shared_at"]
        verbose_name = _("partner share")
        verbose_name_plural = _("partner shares")

    def __str__(self) -> str:
        return f"share #{self.pk} of {self.member_id}"


class UsedUnsubscribeToken(models.Model):
    """An unsubscribe link already used: each link works once."""

    digest = models.CharField(max_length=64, unique=True)
    member = models.ForeignKey(Member, on_delete=models.PROTECT, related_name="+")
    used_at = models.DateTimeField(default=timezone.now)

    def __str__(self) -> str:
        return f"used link #{self.pk}"


class PrivacyRequest(models.Model):
    """An export (Art. 15, 20) or erasure (Art. 17) request with its legal deadline."""

    class Kind(models.TextChoices):
        EXPORT = "export", _("Export")
        ERASURE = "erasure", _("Erasure")

    class Status(models.TextChoices):
        AWAITING_CONFIRMATION = "awaiting_confirmation", _("Waiting for email confirmation")
        SCHEDULED = "scheduled", _("Scheduled")
        QUEUED = "queued", _("Queued")
        PROCESSING = "processing", _("In progress")
        DONE = "done", _("Done")
        CANCELLED = "cancelled", _("Cancelled")
        REFUSED = "refused", _("Refused")
        EXPIRED = "expired", _("Expired")
        FAILED = "failed", _("Failed")

    class Origin(models.TextChoices):
        MEMBER = "member", _("The member")
        STAFF = "staff", _("Staff")
        RETENTION = "retention", _("Retention job")

    OPEN_STATUSES = ("awaiting_confirmation", "scheduled", "queued", "processing")

    member = models.ForeignKey(
        Member, verbose_name=_("member"), on_delete=models.PROTECT, related_name="privacy_requests"
    )
    kind = models.CharField(_("kind"), max_length=10, choices=Kind.choices)
    status = models.CharField(_("status"), max_length=30, choices=Status.choices)
    origin = models.CharField(
        _("requested by"), max_length=10, choices=Origin.choices, default=Origin.MEMBER
    )
    requested_at = models.DateTimeField(_("requested"), default=timezone.now)
    due_at = models.DateTimeField(_("legal deadline"))
    confirmed_at = models.DateTimeField(_("confirmed"), null=True, blank=True)
    scheduled_for = models.DateTimeField(_("carried out after"), null=True, blank=True)
    completed_at = models.DateTimeField(_("completed"), null=True, blank=True)
    progress = models.PositiveSmallIntegerField(_("progress (%)"), default=0)
    file_name = models.CharField(_("file"), max_length=200, blank=True)
    expires_at = models.DateTimeField(_("download expires"), null=True, blank=True)
    refusal_reason = models.TextField(_("reason for refusal"), blank=True)
    # Export builds: each claim counts an attempt and holds a lease that the building worker
    # renews while it runs; a lease that ran out means the worker died (docs/privacy.md).
    attempts = models.PositiveSmallIntegerField(_("attempts"), default=0)
    lease_until = models.DateTimeField(_("worker lease until"), null=True, blank=True)
    handled_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("handled by"),
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
    )

    class Meta:
        ordering = ["-requested_at", "-id"]
        verbose_name = _("privacy request")
        verbose_name_plural = _("privacy requests")
        constraints = [
            models.CheckConstraint(
                condition=Q(progress__lte=100), name="privacy_request_progress_max"
            ),
            # One open request of each kind per member: a double click never queues two.
            models.UniqueConstraint(
                fields=["member", "kind"],
                condition=Q(
                    status__in=["awaiting_confirmation", "scheduled", "queued", "processing"]
                ),
                name="privacy_request_one_open_per_kind",
            ),
        ]
        indexes = [models.Index(fields=["status", "scheduled_for"], name="privacy_req_due_idx")]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} #{self.pk}"

    @property
    def is_open(self) -> bool:
        return self.status in self.OPEN_STATUSES

    @property
    def is_overdue(self) -> bool:
        return self.is_open and self.due_at < timezone.now()


class AccessLog(models.Model):
    """Staff looked at a member's record in the back-office."""

    staff = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("staff"),
        on_delete=models.PROTECT,
        related_name="+",
    )
    member = models.ForeignKey(
        Member, verbose_name=_("member"), on_delete=models.PROTECT, related_name="access_log"
    )
    view = models.CharField(_("view"), max_length=40)
    viewed_at = models.DateTimeField(_("time"), default=timezone.now, db_index=True)

    class Meta:
        ordering = ["-viewed_at", "-id"]
        verbose_name = _("access log entry")
        verbose_name_plural = _("access log")
        # Store staff find one member by search; only these roles may list members unfiltered.
        permissions = [("browse_members", "Browse the member list without searching")]

    def __str__(self) -> str:
        from consent.labels import ACCESS_VIEW_LABELS

        return (
            f"{self.staff_id} → {self.member_id} ({ACCESS_VIEW_LABELS.get(self.view, self.view)})"
        )


# The webhook tables live in their own module (consent.webhooks); importing them here makes
# them consent's models.
from consent.webhooks.models import (  # noqa: E402, F401
    WebhookAttempt,
    WebhookDelivery,
    WebhookEndpoint,
)
