"""Identity, stores, the member timeline and integration keys.

Model methods only derive values from their own fields; every state change goes through a
service in ``members.services``.
"""

from __future__ import annotations

import secrets
import uuid
from typing import Any, ClassVar

from django.conf import settings
from django.contrib.auth.models import AbstractUser, BaseUserManager
from django.contrib.postgres.functions import RandomUUID
from django.db import models
from django.db.models.functions import Lower
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from members.validators import birth_date_validate, name_validate


class UserManager(BaseUserManager["User"]):
    use_in_migrations = True

    def _create_user(self, email: str, password: str | None, **extra: Any) -> User:
        if not email:
            raise ValueError("An email address is required.")
        user = self.model(email=self.normalize_email(email).lower(), **extra)
        user.set_password(password)
        user.save(using=self._db)
        return user

    def create_user(self, email: str, password: str | None = None, **extra: Any) -> User:
        extra.setdefault("is_staff", False)
        extra.setdefault("is_superuser", False)
        return self._create_user(email, password, **extra)

    def create_superuser(self, email: str, password: str | None = None, **extra: Any) -> User:
        extra.setdefault("is_staff", True)
        extra.setdefault("is_superuser", True)
        return self._create_user(email, password, **extra)


class User(AbstractUser):
    """A login: members and staff alike. The email address is the user name."""

    username = None  # type: ignore[assignment]
    email = models.EmailField(_("email address"), unique=True)

    USERNAME_FIELD = "email"
    REQUIRED_FIELDS: ClassVar[list[str]] = []

    objects: ClassVar[UserManager] = UserManager()  # type: ignore[assignment]

    class Meta:
        verbose_name = _("user")
        verbose_name_plural = _("users")
        constraints = [
            models.UniqueConstraint(Lower("email"), name="members_user_email_ci_unique"),
        ]

    def __str__(self) -> str:
        return self.email


def door_key_new() -> str:
    """A store's door key (``Store.door_key``): random, URL-safe, 16 characters."""
    return secrets.token_urlsafe(12)


class Store(models.Model):
    """A physical store, or the web shop as a sales channel."""

    class Kind(models.TextChoices):
        STORE = "store", _("Store")
        WEBSHOP = "webshop", _("Web shop")

    class Status(models.TextChoices):
        OPEN = "open", _("Open")
        TEMPORARILY_CLOSED = "temporarily_closed", _("Temporarily closed")
        CLOSED = "closed", _("Closed for good")

    code = models.SlugField(_("code"), max_length=20, unique=True)
    name = models.CharField(_("name"), max_length=100)
    city = models.CharField(_("city"), max_length=100, blank=True)
    kind = models.CharField(_("kind"), max_length=10, choices=Kind.choices, default=Kind.STORE)
    status = models.CharField(
        _("opening status"), max_length=20, choices=Status.choices, default=Status.OPEN
    )
    created_at = models.DateTimeField(_("created"), default=timezone.now)
    # The door poster's QR code carries this, signed (members.door); a new key makes every
    # printed poster of the store stop working at once.
    door_key = models.CharField(
        _("door code key"), max_length=32, default=door_key_new, editable=False
    )

    class Meta:
        ordering = ["name"]
        verbose_name = _("store")
        verbose_name_plural = _("stores")

    def __str__(self) -> str:
        return f"{self.name} ({self.code})"


class Member(models.Model):
    """A club member. One per user; members who joined in store may have no login yet."""

    class Language(models.TextChoices):
        SWEDISH = "sv", _("Swedish")
        ENGLISH = "en", _("English")

    class JoinChannel(models.TextChoices):
        WEB = "web", _("Web")
        STORE = "store", _("Store")
        WEBSHOP = "webshop", _("Web shop")
        IMPORT = "import", _("Import")

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL,
        verbose_name=_("user"),
        on_delete=models.PROTECT,
        related_name="member",
        null=True,
        blank=True,
    )
    membership_number = models.CharField(_("membership number"), max_length=10, unique=True)
    first_name = models.CharField(_("first name"), max_length=100, validators=[name_validate])
    last_name = models.CharField(_("last name"), max_length=100, validators=[name_validate])
    phone = models.CharField(_("mobile number"), max_length=20, blank=True, db_index=True)
    birth_date = models.DateField(
        _("birth date"), null=True, blank=True, validators=[birth_date_validate]
    )
    preferred_language = models.CharField(
        _("preferred language"), max_length=2, choices=Language.choices, default=Language.SWEDISH
    )
    home_store = models.ForeignKey(
        Store,
        verbose_name=_("home store"),
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="home_members",
    )
    # A database default too: rows written by SQL that predates the column (a server of the
    # previous release during a deploy, bulk seeding) stay valid.
    postcode = models.CharField(_("postcode"), max_length=10, blank=True, default="", db_default="")
    joined_at = models.DateTimeField(_("joined"), default=timezone.now)
    join_channel = models.CharField(
        _("join channel"), max_length=10, choices=JoinChannel.choices, default=JoinChannel.WEB
    )
    # The secret behind the card's QR code; rotating it revokes every old screenshot.
    card_token = models.CharField(_("card token"), max_length=64, unique=True)
    card_token_rotated_at = models.DateTimeField(_("card token rotated"), null=True, blank=True)
    # The member's id in the club or till system they were imported from (members.imports,
    # docs/import.md): the import's idempotency key, so a file imported twice adds nobody
    # twice. Unique when set; members who joined here have none.
    external_id = models.CharField(
        _("external id"), max_length=64, null=True, blank=True, unique=True
    )
    # Set when the member has been anonymised (erasure or retention); the row stays as a
    # tombstone so that the books (purchases, ledger) keep their owner.
    erased_at = models.DateTimeField(_("erased"), null=True, blank=True)
    # Set when this member was merged into another (members.merging): the row stays as a
    # tombstone whose number, card and QR resolve to the survivor.
    merged_into = models.ForeignKey(
        "self",
        verbose_name=_("merged into"),
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="merged_members",
    )
    merged_at = models.DateTimeField(_("merged"), null=True, blank=True)

    class Meta:
        verbose_name = _("member")
        verbose_name_plural = _("members")
        indexes = [
            models.Index(Lower("last_name"), Lower("first_name"), name="member_name_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.full_name} ({self.membership_number})"

    @property
    def full_name(self) -> str:
        return f"{self.first_name} {self.last_name}".strip()

    @property
    def is_erased(self) -> bool:
        return self.erased_at is not None

    @property
    def formatted_membership_number(self) -> str:
        """The number as printed on the card: groups of four, easy to read aloud."""
        number = self.membership_number
        return " ".join(number[i : i + 4] for i in range(0, len(number), 4))


class DuplicateCandidate(models.Model):
    """Two members who may be one person (members.duplicates), with a score and the reasons.

    The pair is stored once, the lower id first. "Not the same person" is remembered as a
    dismissed row, so the pair is never proposed again."""

    class Status(models.TextChoices):
        OPEN = "open", _("Waiting for review")
        DISMISSED = "dismissed", _("Not the same person")
        MERGED = "merged", _("Merged")

    member_a = models.ForeignKey(
        Member, verbose_name=_("member"), on_delete=models.CASCADE, related_name="+"
    )
    member_b = models.ForeignKey(
        Member, verbose_name=_("possible duplicate"), on_delete=models.CASCADE, related_name="+"
    )
    score = models.FloatField(_("score"))
    # Rule codes with small facts (members.duplicates), never copies of personal values.
    reasons = models.JSONField(_("reasons"), default=list, blank=True)
    status = models.CharField(
        _("status"), max_length=10, choices=Status.choices, default=Status.OPEN
    )
    found_at = models.DateTimeField(_("found"), default=timezone.now)
    decided_at = models.DateTimeField(_("decided"), null=True, blank=True)
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("decided by"),
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
    )

    class Meta:
        ordering = ["-score", "-found_at"]
        verbose_name = _("possible duplicate")
        verbose_name_plural = _("possible duplicates")
        permissions = [("merge_member", "Can merge two members into one")]
        constraints = [
            models.UniqueConstraint(fields=["member_a", "member_b"], name="duplicate_pair_once"),
            models.CheckConstraint(
                condition=models.Q(member_a__lt=models.F("member_b")),
                name="duplicate_pair_ordered",
            ),
        ]
        indexes = [
            models.Index(
                fields=["-score"],
                condition=models.Q(status="open"),
                name="duplicate_open_idx",
            ),
            models.Index(fields=["member_b"], name="duplicate_member_b_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.member_a_id} ~ {self.member_b_id} ({self.score:.2f})"


class MemberMerge(models.Model):
    """The audit row of one merge: who, when, why and what moved (members.merging)."""

    survivor = models.ForeignKey(
        Member, verbose_name=_("kept member"), on_delete=models.PROTECT, related_name="merges_in"
    )
    merged = models.OneToOneField(
        Member, verbose_name=_("merged member"), on_delete=models.PROTECT, related_name="merge_out"
    )
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("merged by"),
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
    )
    reason = models.CharField(_("reason"), max_length=200, blank=True)
    # What moved, table by table: {"rewards.purchase": 12, "points": 340, ...}.
    moved = models.JSONField(_("what moved"), default=dict, blank=True)
    created_at = models.DateTimeField(_("time"), default=timezone.now)

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name = _("merge")
        verbose_name_plural = _("merges")

    def __str__(self) -> str:
        return f"{self.merged_id} -> {self.survivor_id}"


class ImportJob(models.Model):
    """A file uploaded in the back-office to be imported by the worker (members.import_jobs),
    with its progress and, once done, its report.

    The file waits in the private storage until a real (not dry) run has finished with it;
    the job and its report (which quotes the file's values) are purged after
    ``IMPORT_JOB_RETENTION_DAYS``."""

    class Status(models.TextChoices):
        QUEUED = "queued", _("Waiting for the worker")
        RUNNING = "running", _("Running")
        DONE = "done", _("Done")
        FAILED = "failed", _("Failed")

    kind = models.CharField(_("what"), max_length=20)
    file_name = models.CharField(_("file"), max_length=200)
    # Where the upload waits in the private storage; empty once it has been removed.
    file_path = models.CharField(max_length=200, blank=True)
    dry_run = models.BooleanField(_("dry run"), default=True)
    language = models.CharField(_("language of the report"), max_length=8, default="sv")
    status = models.CharField(
        _("status"), max_length=10, choices=Status.choices, default=Status.QUEUED
    )
    done = models.PositiveIntegerField(_("lines written"), default=0)
    total = models.PositiveIntegerField(_("valid lines"), default=0)
    imported = models.PositiveIntegerField(_("imported"), default=0)
    unchanged = models.PositiveIntegerField(_("unchanged"), default=0)
    rejected = models.PositiveIntegerField(_("rejected"), default=0)
    summary = models.CharField(_("summary"), max_length=200, blank=True)
    # The report's lines in words (notices first, then problems in file order), cut at
    # IMPORT_REPORT_LINES; ``problems_total`` says how many there were.
    report = models.JSONField(_("report"), default=list, blank=True)
    problems_total = models.PositiveIntegerField(_("problems"), default=0)
    error = models.CharField(_("error"), max_length=500, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("uploaded by"),
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
    )
    created_at = models.DateTimeField(_("uploaded"), default=timezone.now)
    started_at = models.DateTimeField(_("started"), null=True, blank=True)
    # Touched with every batch: a running job whose heartbeat stops was interrupted.
    heartbeat_at = models.DateTimeField(_("last progress"), null=True, blank=True)
    finished_at = models.DateTimeField(_("finished"), null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name = _("import")
        verbose_name_plural = _("imports")
        indexes = [models.Index(fields=["created_at"], name="importjob_created_idx")]

    def __str__(self) -> str:
        return f"{self.file_name} ({self.kind})"

    @property
    def is_finished(self) -> bool:
        return self.status in (self.Status.DONE, self.Status.FAILED)


class ActivityEvent(models.Model):
    """One thing a member did, appended by the service that did it, in its transaction.

    The timeline is the single customer view and the source that challenges, triggered
    campaigns, measurement and the "my data" page read. Events carry ids and small facts,
    never copies of personal data. Kinds are listed in ``members.activity.Kind``.
    """

    member = models.ForeignKey(
        Member, verbose_name=_("member"), on_delete=models.PROTECT, related_name="events"
    )
    kind = models.CharField(_("kind"), max_length=40, db_index=True)
    data = models.JSONField(_("facts"), default=dict, blank=True)
    source = models.CharField(_("source"), max_length=20, default="system")
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("acted by"),
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
    )
    store = models.ForeignKey(
        Store,
        verbose_name=_("store"),
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
    )
    created_at = models.DateTimeField(_("time"), default=timezone.now, db_index=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name = _("activity event")
        verbose_name_plural = _("activity events")
        indexes = [models.Index(fields=["member", "-created_at"], name="event_member_time_idx")]

    def __str__(self) -> str:
        from members.labels import EVENT_KIND_LABELS, label_for  # the labels import no models

        return f"{label_for(EVENT_KIND_LABELS, self.kind)} #{self.pk}"


class EventConsumption(models.Model):
    """Marks an event as handled by one consumer; the unique key makes handling idempotent."""

    consumer = models.CharField(max_length=60)
    event = models.ForeignKey(ActivityEvent, on_delete=models.CASCADE, related_name="+")
    processed_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["consumer", "event"], name="event_consumption_unique"),
        ]

    def __str__(self) -> str:
        return f"{self.consumer} #{self.event_id}"


class ApiKey(models.Model):
    """A key for one integration (a till, the web shop) acting for one store.

    Only a SHA-256 hash of the secret is stored; the key is shown once, when created.
    Keys are high-entropy random strings, so a fast hash is as safe as a slow one here.
    """

    store = models.ForeignKey(
        Store, verbose_name=_("store"), on_delete=models.PROTECT, related_name="api_keys"
    )
    name = models.CharField(_("name"), max_length=100)
    prefix = models.CharField(_("prefix"), max_length=16, unique=True, editable=False)
    secret_hash = models.CharField(max_length=64, editable=False)
    scopes = models.JSONField(_("scopes"), default=list)
    created_at = models.DateTimeField(_("created"), default=timezone.now)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("created by"),
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
    )
    revoked_at = models.DateTimeField(_("revoked"), null=True, blank=True)
    last_used_at = models.DateTimeField(_("last used"), null=True, blank=True)

    class Meta:
        verbose_name = _("API key")
        verbose_name_plural = _("API keys")

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix}…)"

    @property
    def is_active(self) -> bool:
        return self.revoked_at is None

    def has_scope(self, scope: str) -> bool:
        return scope in self.scopes


class OutboxEvent(models.Model):
    """One public event (webhooks and the pull feed, docs/webhooks.md), written by
    ``members.outbox.outbox_emit`` in the same transaction as the change it reports: a
    rolled-back change leaves no row, a committed one always has its row.

    ``data`` carries ids and small facts only, never copies of personal data, so an erased
    member's rows hold nothing to scrub. ``position`` is the pull feed's cursor: NULL when
    written, assigned after commit by ``members.outbox.outbox_sequence`` in commit order, so
    a reader never skips a row whose transaction committed after a later id's (``id`` comes
    from a sequence, taken at insert time, and is not in commit order).
    """

    # A database default too: the till's purchase statement writes its event in SQL.
    uuid = models.UUIDField(
        unique=True, default=uuid.uuid4, db_default=RandomUUID(), editable=False
    )
    type = models.CharField(_("event type"), max_length=40, db_index=True)
    version = models.PositiveSmallIntegerField(_("version"), default=1)
    member = models.ForeignKey(
        Member,
        verbose_name=_("member"),
        on_delete=models.PROTECT,  # members are never deleted (erasure keeps a tombstone)
        null=True,
        blank=True,
        related_name="+",
    )
    store = models.ForeignKey(
        Store,
        verbose_name=_("store"),
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
    )
    data = models.JSONField(_("facts"), default=dict, blank=True)
    occurred_at = models.DateTimeField(_("time"), default=timezone.now, db_index=True)
    position = models.BigIntegerField(_("feed position"), null=True, blank=True, unique=True)

    class Meta:
        verbose_name = _("outbox event")
        verbose_name_plural = _("outbox events")
        indexes = [
            # The rows still waiting for a feed position (members.outbox.outbox_sequence).
            models.Index(
                fields=["id"], name="outbox_unsequenced_idx", condition=models.Q(position=None)
            ),
        ]

    def __str__(self) -> str:
        return f"{self.type} #{self.pk}"

    @property
    def webhook_id(self) -> str:
        """The Standard Webhooks ``webhook-id``: the same for every delivery of the event."""
        return f"msg_{self.uuid.hex}"
