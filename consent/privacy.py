"""Export sections, erasure steps and "my data" sections for members and consent.

members sits below consent and knows nothing of it, so its parts are registered here.
rewards and campaigns register theirs in their own ``privacy.py`` (docs/privacy.md).
"""

from __future__ import annotations

import datetime
import re
from typing import Any

from allauth.account.models import EmailAddress
from django.contrib.admin.models import LogEntry
from django.contrib.contenttypes.models import ContentType
from django.contrib.sessions.models import Session
from django.db import connection, models
from django.db.models import Q
from django.db.models.functions import Cast
from django.utils import timezone
from django.utils.text import capfirst
from django.utils.translation import get_language
from django.utils.translation import gettext_lazy as _

from consent import privacy_parts
from consent.models import (
    AccessLog,
    ConsentEvent,
    ConsentProof,
    ConsentState,
    ContactPreferences,
    MemberInterest,
    PartnerShare,
    PrivacyRequest,
    UsedUnsubscribeToken,
)
from consent.scrub import ERASED, Identifiers, identifier_regex, scrub
from consent.services.consent import Proof, consent_set_locked
from consent.services.export import export_leftovers_clean, privacy_export_file_delete
from consent.webhooks.shares import SHOWN_GROUPS, partner_share_rows, share_sentence
from members.external_ids import external_id_erased_form
from members.formats import date_short, datetime_short
from members.import_jobs import import_jobs_purge
from members.models import (
    ActivityEvent,
    DuplicateCandidate,
    ImportJob,
    Member,
    MemberMerge,
    OutboxEvent,
    Store,
    User,
)
from members.phone import phone_display
from members.rows import CompiledQuery

Row = dict[str, Any]


# --- export ------------------------------------------------------------------------------


def _profile(member: Member) -> list[Row]:
    row = privacy_parts.model_row(member)
    row["home_store_name"] = member.home_store.name if member.home_store else None
    return [row]


def _login(member: Member) -> list[Row]:
    user = member.user
    if user is None:
        return []
    row = privacy_parts.model_row(user)
    # The password itself is never stored; its hash is not handed out either.
    row["password"] = _("(set)") if user.has_usable_password() else _("(not set)")
    row["password"] = str(row["password"])
    return [row]


def _email_addresses(member: Member) -> list[Row]:
    if member.user_id is None:
        return []
    return [
        {"email": e.email, "verified": e.verified, "primary": e.primary}
        for e in EmailAddress.objects.filter(user_id=member.user_id).order_by("pk")
    ]


def _timeline(member: Member) -> list[Row]:
    return [
        privacy_parts.model_row(e)
        for e in ActivityEvent.objects.filter(member=member).order_by("pk")
    ]


def _consent_history(member: Member) -> list[Row]:
    rows = []
    # the members merged into this one keep their events as written (consent.merging)
    for event in (
        ConsentEvent.objects.filter(Q(member=member) | Q(member__merged_into=member))
        .select_related("purpose", "policy_version")
        .order_by("pk")
    ):
        row = privacy_parts.model_row(event)
        row["purpose_code"] = event.purpose.code
        row["policy_version_name"] = event.policy_version.version
        row["policy_content_hash"] = event.policy_version.content_hash
        rows.append(row)
    return rows


def _rows(model: Any, **filters: Any) -> Any:
    def rows(member: Member) -> list[Row]:
        return [
            privacy_parts.model_row(o)
            for o in model.objects.filter(**{filters["path"]: member}).order_by("pk")
        ]

    return rows


def _merges(member: Member) -> list[Row]:
    """The merges that made this membership, and the one that ended it (a tombstone's)."""
    return [
        privacy_parts.model_row(m)
        for m in MemberMerge.objects.filter(Q(survivor=member) | Q(merged=member)).order_by("pk")
    ]


def _duplicate_pairs(member: Member) -> list[Row]:
    """The pairs the duplicate finder proposed with this member (members.duplicates), and
    what staff decided. The other member of a pair is another person: their id is left out."""
    rows = []
    pairs = DuplicateCandidate.objects.filter(Q(member_a=member) | Q(member_b=member))
    for pair in pairs.order_by("pk"):
        row = privacy_parts.model_row(pair)
        for side in ("member_a", "member_b"):
            if getattr(pair, f"{side}_id") != member.pk:
                row[side] = None
        rows.append(row)
    return rows


def _merged_rows(model: Any, *, path: str) -> Any:
    """``_rows`` of the member and of the members merged into it (rows that stay on the
    tombstone: consent.merging)."""

    def rows(member: Member) -> list[Row]:
        found = Q(**{path: member}) | Q(**{f"{path}__merged_into": member})
        return [privacy_parts.model_row(o) for o in model.objects.filter(found).order_by("pk")]

    return rows


def _register_exports() -> None:
    sections: list[tuple[str, Any, Any, Any]] = [
        ("profile", _("Your profile"), _profile, Member),
        ("login", _("Your login"), _login, User),
        ("email_addresses", _("Email addresses"), _email_addresses, None),
        ("timeline", _("What you have done in the club"), _timeline, ActivityEvent),
        (
            "integration_events",
            _("Events told to the club's integrations"),
            _merged_rows(OutboxEvent, path="member"),
            OutboxEvent,
        ),
        ("consent_history", _("Consent history"), _consent_history, ConsentEvent),
        (
            "consent_proof",
            _("Proof of consent given on the web"),
            _merged_rows(ConsentProof, path="event__member"),
            ConsentProof,
        ),
        (
            "consent_current",
            _("Your current choices"),
            _rows(ConsentState, path="member"),
            ConsentState,
        ),
        (
            "contact_preferences",
            _("Contact preferences"),
            _rows(ContactPreferences, path="member"),
            ContactPreferences,
        ),
        ("interests", _("Your interests"), _rows(MemberInterest, path="member"), MemberInterest),
        (
            "partner_shares",
            _("Shared with partners"),
            _rows(PartnerShare, path="member"),
            PartnerShare,
        ),
        (
            "unsubscribe_links",
            _("Unsubscribe links used"),
            _rows(UsedUnsubscribeToken, path="member"),
            UsedUnsubscribeToken,
        ),
        (
            "privacy_requests",
            _("Your export and erasure requests"),
            _rows(PrivacyRequest, path="member"),
            PrivacyRequest,
        ),
        (
            "access_log",
            _("When staff opened your record"),
            _rows(AccessLog, path="member"),
            AccessLog,
        ),
        ("merges", _("Memberships merged into yours"), _merges, MemberMerge),
        (
            "duplicate_pairs",
            _("Possible duplicates of your membership"),
            _duplicate_pairs,
            DuplicateCandidate,
        ),
        ("import_reports", _("Import reports that name you"), _import_reports, ImportJob),
    ]
    for order, (name, title, rows, model) in enumerate(sections, start=1):
        privacy_parts.export_section_register(
            name=name, title=title, rows=rows, model=model, order=order * 10
        )


def _import_reports(member: Member) -> list[Row]:
    """Back-office import reports whose lines name the member (members.import_jobs): which
    upload, when, and only the report lines about them (other people's lines are not
    theirs to see). Kept ``IMPORT_JOB_RETENTION_DAYS``; erasure scrubs them."""
    strong = identifier_regex(member_identifiers(member))
    if not strong:
        return []
    pattern = re.compile(strong, re.IGNORECASE)
    jobs = (
        ImportJob.objects.annotate(text=Cast("report", models.TextField()))
        .filter(text__iregex=strong)
        .order_by("created_at", "pk")
    )
    return [
        {
            "id": job.pk,
            "file_name": job.file_name,
            "created_at": job.created_at.isoformat(),
            "report": [line for line in job.report if pattern.search(str(line))],
        }
        for job in jobs
    ]


# --- erasure -----------------------------------------------------------------------------


def _month_start(value: datetime.datetime) -> datetime.datetime:
    return value.replace(day=1, hour=0, minute=0, second=0, microsecond=0)


def erase_member_core(member: Member) -> None:
    """Member and login become a tombstone: no name, contact, birth date, card or password."""
    user = member.user
    identifiers = [v for v in (user.email if user else "", member.phone) if v]
    Member.objects.filter(pk=member.pk).update(
        first_name="",
        last_name="",
        phone="",
        birth_date=None,
        postcode="",
        # a keyed hash: an old import file cannot bring the person back (members.imports)
        external_id=external_id_erased_form(member.external_id) if member.external_id else None,
        home_store=None,
        preferred_language=Member.Language.SWEDISH,
        membership_number=f"X{member.pk:09d}",
        card_token=f"erased-{member.pk}",
        card_token_rotated_at=None,
        joined_at=_month_start(member.joined_at),
    )
    content_types = ContentType.objects.get_for_models(Member, User, EmailAddress)
    log_filter = Q(content_type=content_types[Member], object_id=str(member.pk))
    if user is not None:
        email_ids = [
            str(pk) for pk in EmailAddress.objects.filter(user=user).values_list("pk", flat=True)
        ]
        log_filter |= Q(content_type=content_types[User], object_id=str(user.pk))
        log_filter |= Q(content_type=content_types[EmailAddress], object_id__in=email_ids)
        # the login's other addresses (a merged member's: members.merging) go the same way
        others = [
            e
            for e in EmailAddress.objects.filter(user=user).values_list("email", flat=True)
            if e.lower() != user.email.lower()
        ]
        identifiers.extend(others)
        EmailAddress.objects.filter(user=user).delete()
        if user.has_usable_password():
            user.set_unusable_password()
        User.objects.filter(pk=user.pk).update(
            email=f"erased-{member.pk}@erased.invalid",
            first_name="",
            last_name="",
            password=user.password,
            is_active=False,
            last_login=None,
            date_joined=_month_start(user.date_joined),
        )
        user.groups.clear()
        _sessions_delete(user.pk)
        for email in [user.email, *others]:
            if email:
                _login_attempts_delete(email)
    for value in identifiers:
        log_filter |= Q(object_repr__icontains=value) | Q(change_message__icontains=value)
    LogEntry.objects.filter(log_filter).update(
        object_repr=f"[erased #{member.pk}]", change_message=""
    )


def member_identifiers(member: Member) -> Identifiers:
    user = member.user
    return Identifiers(
        email=user.email if user else "",
        phone=member.phone,
        membership_number=member.membership_number,
        first_name=member.first_name,
        last_name=member.last_name,
        birth_date=member.birth_date,
    )


def erase_free_text(member: Member) -> None:
    """Replace the member's identifiers in every registered free-text field
    (``privacy_parts.free_text_register``): references, staff notes, uploads, admin log lines.

    Runs before the member row is blanked (its identifiers are still known); on a second run
    the member is a tombstone and there is nothing left to look for. The rows stay (books,
    audit trail); only the matching text changes."""
    if member.erased_at is not None:
        return
    everyone = [member_identifiers(member)]
    if member.user_id is not None:
        # Other addresses of the login: a merged member's, kept so the person signs in with
        # either (members.merging); the login's own is in the first set.
        everyone += [
            Identifiers(email=email)
            for email in EmailAddress.objects.filter(user_id=member.user_id)
            .exclude(email__iexact=member.user.email if member.user else "")
            .values_list("email", flat=True)
        ]
    # The ledger's trigger lets exactly this transaction change a ledger entry's reason.
    with connection.cursor() as cursor:
        cursor.execute("SELECT set_config('kundklubb.erasure', 'on', true)")
    for ids in everyone:
        strong = identifier_regex(ids)
        with_names = identifier_regex(ids, names=True)
        if not with_names:
            continue
        for entry in privacy_parts.free_texts():
            _free_text_scrub(entry, member, strong=strong, with_names=with_names)
    with connection.cursor() as cursor:
        cursor.execute("SELECT set_config('kundklubb.erasure', '', true)")


def _free_text_scrub(
    entry: privacy_parts.FreeText, member: Member, *, strong: str, with_names: str
) -> None:
    model = entry.model
    queryset = model._default_manager.all()
    regex = strong
    if entry.member_path is not None:
        queryset = queryset.filter(**{entry.member_path: member})
        regex = with_names
    if not regex:
        return
    found = Q()
    for name in entry.fields:
        field = model._meta.get_field(name)
        if isinstance(field, models.JSONField):
            alias = f"_erasure_{name}"
            queryset = queryset.annotate(**{alias: Cast(name, models.TextField())})
            found |= Q(**{f"{alias}__iregex": regex})
        else:
            found |= Q(**{f"{name}__iregex": regex})
    for obj in queryset.filter(found).only("pk", *entry.fields).order_by("pk"):
        replacement = f"{ERASED}{obj.pk}" if entry.unique else ERASED
        changes = {}
        for name in entry.fields:
            old = getattr(obj, name)
            new = scrub(old, with_names, replacement)
            if new != old:
                changes[name] = new
        if changes:
            model._default_manager.filter(pk=obj.pk).update(**changes)


def _login_attempts_delete(email: str) -> None:
    """django-axes keeps failed log-ins under the typed account name (the email)."""
    from axes.models import AccessAttempt, AccessFailureLog, AccessLog

    for model in (AccessAttempt, AccessFailureLog, AccessLog):
        model.objects.filter(username__iexact=email.strip()).delete()


def _sessions_delete(user_id: int) -> None:
    """Sessions store the user id only inside their encoded data: decode the live ones."""
    doomed = []
    for session in Session.objects.filter(expire_date__gt=timezone.now()).iterator(chunk_size=500):
        if str(session.get_decoded().get("_auth_user_id")) == str(user_id):
            doomed.append(session.pk)
    Session.objects.filter(pk__in=doomed).delete()


def erase_consent_data(member: Member) -> None:
    """Consent events stay (they hold no personal data); their web proof goes, every granted
    consent is withdrawn on the record, and preferences, interests and exports are removed."""
    # The member's requests are locked first, so an export that finishes while the erasure
    # runs either finished before (its file is deleted below) or waits and finds itself
    # cancelled (and deletes its file).
    requests = list(PrivacyRequest.objects.select_for_update().filter(member=member))
    for state in ConsentState.objects.filter(member=member, granted=True).select_related("purpose"):
        consent_set_locked(
            member=member,
            purpose=state.purpose,
            granted=False,
            proof=Proof(source=ConsentEvent.Source.SYSTEM),
        )
    ConsentProof.objects.filter(event__member=member).delete()
    ContactPreferences.objects.filter(member=member).delete()
    MemberInterest.objects.filter(member=member).delete()
    UsedUnsubscribeToken.objects.filter(member=member).delete()
    PartnerShare.objects.filter(member=member).exclude(reference="").update(reference="")
    for request in PrivacyRequest.objects.filter(member=member).exclude(file_name=""):
        privacy_export_file_delete(request=request)
    # What killed builds left: half-made archives in the scratch folder, unfinished files.
    export_leftovers_clean(
        request_ids=[r.pk for r in requests if r.kind == PrivacyRequest.Kind.EXPORT],
        include_live=True,
    )
    PrivacyRequest.objects.filter(member=member).exclude(file_name="").update(file_name="")
    PrivacyRequest.objects.filter(member=member).exclude(refusal_reason="").update(
        refusal_reason=""
    )


# --- the "my data" page --------------------------------------------------------------------


def _local(value: datetime.datetime | None) -> str:
    """ "4 dec. 2026 14:05" (members.formats); "" for ``None``."""
    return datetime_short(value)


# ``member.home_store`` (a query the ORM builds per call), compiled once (members.rows).
_STORE: CompiledQuery[Store] = CompiledQuery(lambda pk: Store.objects.filter(pk=pk), "pk")


def _home_store_name(member: Member) -> str:
    if member.home_store_id is None:
        return ""
    found = _STORE(pk=member.home_store_id)
    return found[0].name if found else ""


def _profile_rows(member: Member) -> list[dict[str, str]]:
    user = member.user
    values = [
        (_("Name"), member.full_name),
        (_("Email address"), user.email if user else ""),
        (_("Mobile number"), phone_display(member.phone) or ""),
        (
            _("Birth date"),
            date_short(member.birth_date),
        ),
        # The field's own name ("Postnummer"), translated in the members app's catalog.
        (capfirst(Member._meta.get_field("postcode").verbose_name), member.postcode),
        (_("Membership number"), member.formatted_membership_number),
        (_("Member since"), _local(member.joined_at)),
        (_("Home store"), _home_store_name(member)),
        (_("Language"), member.get_preferred_language_display()),
    ]
    return [{"label": str(label), "value": str(value) or "—"} for label, value in values]


# Mina data's shares, newest first (as consent.webhooks.shares reads them), compiled once per
# process (members.rows): the ORM's query and its server-side cursor were about a sixth of the
# page's CPU (docs/benchmarks.md "Member pages").
_SHARES_FIRST = 500
_PARTNER_SHARES: CompiledQuery[PartnerShare] = CompiledQuery(
    lambda member_id: (
        PartnerShare.objects.filter(member_id=member_id)
        .select_related("purpose")
        .order_by("-shared_at", "-id")[:_SHARES_FIRST]
    ),
    "member_id",
)


def _partner_rows(member: Member) -> list[dict[str, str]]:
    """Every share in plain words, a day's shares with one receiver in one sentence
    (consent.webhooks.shares): from the newest shares in one compiled read; a member with more
    shares than it holds and fewer groups than are shown gets them all, as the shares module
    reads them."""
    shares = _PARTNER_SHARES(member_id=member.pk)
    if len(shares) >= _SHARES_FIRST:
        return partner_share_rows(member)
    swedish = (get_language() or "sv").startswith("sv")
    groups: dict[tuple[str, str, str], set[str]] = {}
    for share in shares:
        recipient = share.recipient or share.purpose.partner_name or share.purpose.name
        reason = share.reason_sv if swedish else share.reason_en
        key = (date_short(share.shared_at), recipient, reason)
        if key not in groups and len(groups) >= SHOWN_GROUPS:
            break
        groups.setdefault(key, set()).update(share.data_categories)
    return [
        {
            "text": share_sentence(
                recipient=recipient, kinds=sorted(kinds), shared_on=day, reason=reason
            )
        }
        for (day, recipient, reason), kinds in groups.items()
    ]


def _register_page_sections() -> None:
    privacy_parts.page_section_register(
        name="profile",
        title=_("Your profile"),
        description=_("What you told us when you joined or later. Change it on your profile page."),
        rows=_profile_rows,
        columns=[_("What"), _("Stored")],
        order=10,
    )
    privacy_parts.page_section_register(
        name="partner_shares",
        title=_("Shared with partners"),
        description=_(
            "Who outside the club got data about you from us, what, when and why. Partners "
            "who need your consent only get it if you have said yes."
        ),
        empty_text=_("Nothing about you has been shared with any partner."),
        rows=_partner_rows,
        columns=[_("What was shared")],
        order=60,
    )


def _register_free_texts() -> None:
    # The member's timeline: small facts, but a till's or staff's text may name them.
    privacy_parts.free_text_register(model=ActivityEvent, fields=["data"], member_path="member")
    # The public events' facts (members.outbox): a web shop's order or receipt id may carry
    # the member's phone or email; a webhook sent again after erasure carries the scrubbed one.
    privacy_parts.free_text_register(model=OutboxEvent, fields=["data"], member_path="member")
    # Admin log lines about any object (a purchase, a review, a segment) may name the member
    # (entries about the member, their login and email addresses: erase_member_core).
    privacy_parts.free_text_register(model=LogEntry, fields=["object_repr", "change_message"])
    privacy_parts.free_text_register(model=PartnerShare, fields=["reference"], member_path="member")
    privacy_parts.free_text_register(model=PrivacyRequest, fields=["refusal_reason"])
    # Why staff merged two memberships: their words may name the person (members.merging).
    privacy_parts.free_text_register(model=MemberMerge, fields=["reason"], member_path="survivor")
    # A back-office import's report quotes the rejected lines' values (members.import_jobs).
    privacy_parts.free_text_register(model=ImportJob, fields=["report"])


def register() -> None:
    """members' and consent's parts (``ConsentConfig.ready``)."""
    _register_exports()
    _register_free_texts()
    privacy_parts.erasure_step_register(name="consent", run=erase_consent_data, order=10)
    privacy_parts.erasure_step_register(name="free_text", run=erase_free_text, order=900)
    privacy_parts.erasure_step_register(name="members", run=erase_member_core, order=1000)
    privacy_parts.retention_job_register(name="members.import_jobs", run=import_jobs_purge)
    _register_page_sections()
