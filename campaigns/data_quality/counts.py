"""The data-quality counts and the lists behind them (docs/data-quality.md).

``data_quality_counts`` answers every count in six queries whatever the number of members:
one aggregate over the members (each count a ``FILTER`` clause, the sets it tests against
hashed once), the few emails and phones the database cannot judge alone, and one count each
for duplicate pairs, products and purchases. Counted members are the living ones: erased
members (anonymised tombstones) and members merged into another are left out.

Emails and phones are judged by the same rules as the forms: Django's email validator and
``members.phone.phone_normalise``. The database only lets through what is certainly valid
(``EMAIL_SURELY_VALID``, ``PHONE_SURELY_VALID``, strict subsets of those rules); the rest,
usually a handful, is fetched and checked in Python.
"""

from __future__ import annotations

import datetime
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.paginator import Page, Paginator
from django.core.validators import validate_email
from django.db.models import (
    BooleanField,
    Count,
    Exists,
    ExpressionWrapper,
    F,
    Max,
    OuterRef,
    Q,
    QuerySet,
)
from django.db.models.functions import Coalesce, Length
from django.db.models.lookups import LessThanOrEqual
from django.utils import timezone
from django.utils.functional import Promise
from django.utils.translation import gettext_lazy as _

from campaigns.models import Delivery
from consent.deadlines import months_add
from consent.models import ConsentState, LawfulBasis
from members.models import ActivityEvent, DuplicateCandidate, Member
from members.phone import phone_normalise
from rewards.models import Product, Purchase

# Certainly valid for Django's EmailValidator: a dot-atom of common characters, host labels
# of letters and digits with inner hyphens, a top-level domain of letters, and at most 64
# characters in all (so no label can pass the 63 Django allows). Written without bounded
# repeats ({0,61}), which PostgreSQL's regex engine runs ten times slower.
EMAIL_SURELY_VALID = (
    r"^[a-z0-9_+-]+(\.[a-z0-9_+-]+)*@[a-z0-9]+(-+[a-z0-9]+)*(\.[a-z0-9]+(-+[a-z0-9]+)*)*"
    r"\.[a-z][a-z]+$"
)
EMAIL_SURELY_VALID_LENGTH = 64
# Certainly a valid mobile number for ``phone_normalise``: a Swedish mobile in E.164
# (070, 072, 073, 076, 079 and seven digits), which is how the club stores numbers.
PHONE_SURELY_VALID = r"^\+467[02369]" + "[0-9]" * 7 + "$"  # seven digits, spelt out: faster
# Delivery failures that say nothing about the address.
NOT_ABOUT_THE_ADDRESS = ("no_variant",)
PER_PAGE = 50


@dataclass(frozen=True)
class CountKind:
    """One line of the page: its code (stable, kept in the snapshots), its name, what it
    means, and what it counts (``members``, ``pairs``, ``products``, ``purchases``)."""

    code: str
    label: Promise
    meaning: Promise
    subject: str
    field: str = ""  # for "missing" counts: the member field


MISSING = {
    "email": _("email address"),
    "phone": _("mobile number"),
    "birth_date": _("birth date"),
    "postcode": _("postcode"),
    "home_store": _("home store"),
    "language": _("language"),
}

COUNTS: tuple[CountKind, ...] = (
    CountKind(
        "members_missing_email",
        _("Members without an email address"),
        _("Email campaigns cannot reach them."),
        "members",
        "email",
    ),
    CountKind(
        "members_missing_phone",
        _("Members without a mobile number"),
        _("SMS campaigns cannot reach them."),
        "members",
        "phone",
    ),
    CountKind(
        "members_missing_birth_date",
        _("Members without a birth date"),
        _("Age segments and birthday points leave them out."),
        "members",
        "birth_date",
    ),
    CountKind(
        "members_missing_postcode",
        _("Members without a postcode"),
        _("Local offers and finding duplicates by address leave them out."),
        "members",
        "postcode",
    ),
    CountKind(
        "members_missing_home_store",
        _("Members without a home store"),
        _("Segments by home store leave them out."),
        "members",
        "home_store",
    ),
    CountKind(
        "members_missing_language",
        _("Members without a known language"),
        _("Messages are written in Swedish or English; these members have neither."),
        "members",
        "language",
    ),
    CountKind(
        "emails_invalid_or_bouncing",
        _("Email addresses that are invalid or fail"),
        _(
            "The address is not a valid email address, or the last email sent to it failed "
            "for good."
        ),
        "members",
    ),
    CountKind(
        "phones_invalid",
        _("Mobile numbers that cannot be used"),
        _("The number is not a valid mobile number, so no SMS can be sent to it."),
        "members",
    ),
    CountKind(
        "members_without_consent",
        _("Members with no valid consent"),
        _(
            "No consent is given to any purpose that needs one, or the login is blocked: "
            "no marketing message of any kind may reach them."
        ),
        "members",
    ),
    CountKind(
        "members_inactive_past_retention",
        _("Members inactive past the retention limit"),
        _(
            "No activity for longer than the retention period: the nightly retention job "
            "will anonymise them."
        ),
        "members",
    ),
    CountKind(
        "duplicates_waiting",
        _("Possible duplicates waiting for review"),
        _("Pairs of members who may be the same person, not yet merged or set aside."),
        "pairs",
    ),
    CountKind(
        "products_without_category",
        _("Products without a category"),
        _("Category segments, affinities and category offers leave them out."),
        "products",
    ),
    CountKind(
        "purchases_unclaimed",
        _("Purchases without a member, past the claim window"),
        _("No member can claim these points any more."),
        "purchases",
    ),
)
BY_CODE = {kind.code: kind for kind in COUNTS}


# --- the sets the counts test against ---------------------------------------------------------


def _members() -> QuerySet[Member]:
    """The living members: not erased, not merged into another."""
    return Member.objects.filter(erased_at__isnull=True, merged_into__isnull=True)


_MISSING_Q: dict[str, Callable[[], Q]] = {
    "email": lambda: Q(user__isnull=True) | Q(user__email=""),
    "phone": lambda: Q(phone=""),
    "birth_date": lambda: Q(birth_date__isnull=True),
    "postcode": lambda: Q(postcode=""),
    "home_store": lambda: Q(home_store__isnull=True),
    "language": lambda: ~Q(preferred_language__in=Member.Language.values),
}


def _consented() -> QuerySet[ConsentState, Any]:
    """Members with a granted consent to an active purpose that rests on consent, on the
    purpose's own channel (consent.selectors.contact_permissions reads the same row)."""
    return ConsentState.objects.filter(
        granted=True,
        purpose__active=True,
        purpose__lawful_basis=LawfulBasis.CONSENT,
        channel=F("purpose__channel"),
    ).values("member_id")


def _without_consent() -> Q:
    return ~Q(pk__in=_consented()) | Q(user__is_active=False)


def retention_cutoff(now: datetime.datetime) -> datetime.datetime:
    return months_add(now, -settings.PRIVACY_INACTIVITY_MONTHS)


def _inactive(now: datetime.datetime) -> Q:
    """consent.services.retention.members_inactive_since: joined, last logged in and last
    acted (any timeline event not from ``system``) before the cutoff."""
    cutoff = retention_cutoff(now)
    recently_active = (
        ActivityEvent.objects.filter(created_at__gte=cutoff)
        .exclude(source="system")
        .values("member_id")
    )
    return (
        Q(joined_at__lt=cutoff)
        & (Q(user__isnull=True) | Q(user__last_login__isnull=True) | Q(user__last_login__lt=cutoff))
        & ~Q(pk__in=recently_active)
    )


def _bouncing() -> QuerySet[Delivery, Any]:
    """Members whose email failed for good (``failed``: the provider refused it, or it was
    still refused after every retry) with no email sent to them since. Nothing records
    bounces reported later by the provider (no webhook yet): docs/data-quality.md."""
    sent_since = Delivery.objects.filter(
        member_id=OuterRef("member_id"),
        channel="email",
        status=Delivery.Status.SENT,
        sent_at__gte=Coalesce(OuterRef("claimed_at"), OuterRef("created_at")),
    )
    return (
        Delivery.objects.filter(channel="email", status=Delivery.Status.FAILED)
        .exclude(reason__in=NOT_ABOUT_THE_ADDRESS)
        .exclude(Exists(sent_since))
        .values("member_id")
    )


def email_is_valid(email: str) -> bool:
    try:
        validate_email(email)
    except ValidationError:
        return False
    return True


def phone_is_valid(phone: str) -> bool:
    try:
        phone_normalise(phone)
    except ValidationError:
        return False
    return True


def _email_surely_valid() -> Q:
    return Q(user__email__iregex=EMAIL_SURELY_VALID) & Q(
        LessThanOrEqual(Length("user__email"), EMAIL_SURELY_VALID_LENGTH)
    )


def _email_suspects() -> list[tuple[int, str, bool]]:
    """(member id, email, failing) for addresses the database cannot call valid alone."""
    return list(
        _members()
        .filter(user__isnull=False)
        .exclude(user__email="")
        .exclude(_email_surely_valid())
        .annotate(failing=ExpressionWrapper(Q(pk__in=_bouncing()), output_field=BooleanField()))
        .values_list("pk", "user__email", "failing")
    )


def _email_problems() -> dict[int, str]:
    """Of the suspects, the invalid addresses: ``invalid_only`` when no email to it has
    failed yet (not counted by the failing count), else ``invalid``."""
    return {
        member_id: "invalid" if failing else "invalid_only"
        for member_id, email, failing in _email_suspects()
        if not email_is_valid(email)
    }


def _phone_problems() -> list[int]:
    suspects = (
        _members()
        .exclude(phone="")
        .exclude(phone__regex=PHONE_SURELY_VALID)
        .values_list("pk", "phone")
    )
    return [member_id for member_id, phone in suspects if not phone_is_valid(phone)]


def _duplicates_waiting() -> QuerySet[DuplicateCandidate]:
    """What the review queue shows by default (members.admin_duplicates): open pairs of two
    living members."""
    living = {
        f"{side}__{field}__isnull": True
        for side in ("member_a", "member_b")
        for field in ("erased_at", "merged_into")
    }
    return DuplicateCandidate.objects.filter(status=DuplicateCandidate.Status.OPEN, **living)


def _unclaimed(now: datetime.datetime) -> QuerySet[Purchase]:
    window = datetime.timedelta(days=settings.REWARDS_CLAIM_DAYS)
    return Purchase.objects.filter(member__isnull=True, purchased_at__lt=now - window)


# --- the counts -------------------------------------------------------------------------------


def data_quality_counts(*, now: datetime.datetime | None = None) -> dict[str, int]:
    """Every count of the data-quality page, ``{code: n}`` in ``COUNTS`` order (six queries)."""
    now = now or timezone.now()
    aggregates: dict[str, Any] = {
        f"members_missing_{field}": Count("pk", filter=q()) for field, q in _MISSING_Q.items()
    }
    aggregates["members_without_consent"] = Count("pk", filter=_without_consent())
    aggregates["members_inactive_past_retention"] = Count("pk", filter=_inactive(now))
    # Every failing address, plus the invalid ones that are not failing (judged below).
    aggregates["failing"] = Count("pk", filter=Q(pk__in=_bouncing()))
    members = _members().aggregate(**aggregates)
    invalid_only = [p for p in _email_problems().values() if p == "invalid_only"]
    counts = {
        **{k: v for k, v in members.items() if k != "failing"},
        "emails_invalid_or_bouncing": members["failing"] + len(invalid_only),
        "phones_invalid": len(_phone_problems()),
        "duplicates_waiting": _duplicates_waiting().count(),
        "products_without_category": Product.objects.filter(category__isnull=True).count(),
        "purchases_unclaimed": _unclaimed(now).count(),
    }
    return {kind.code: counts[kind.code] for kind in COUNTS}


# --- the lists behind them --------------------------------------------------------------------


@dataclass(frozen=True)
class MemberRow:
    """One member of a drill-down list. ``problems`` are names in words; ``value`` is the
    contact detail at fault, filled only for staff who may see it (``with_values``)."""

    member_id: int
    membership_number: str
    joined_at: datetime.datetime
    problems: list[str]
    value: str = ""
    last_activity: datetime.datetime | None = None


def _member_queryset(code: str, now: datetime.datetime) -> tuple[QuerySet[Member], dict[int, str]]:
    """The members behind ``code`` and, for emails, why each is listed."""
    kind = BY_CODE[code]
    if kind.field:
        return _members().filter(_MISSING_Q[kind.field]()), {}
    if code == "emails_invalid_or_bouncing":
        problems = _email_problems()
        return _members().filter(Q(pk__in=_bouncing()) | Q(pk__in=list(problems))), problems
    if code == "phones_invalid":
        return _members().filter(pk__in=_phone_problems()), {}
    if code == "members_without_consent":
        return _members().filter(_without_consent()), {}
    if code == "members_inactive_past_retention":
        return _members().filter(_inactive(now)), {}
    raise KeyError(code)


EMAIL_PROBLEMS = {
    "invalid": _("not a valid email address"),
    "invalid_only": _("not a valid email address"),
    "failing": _("the last email failed"),
}


def data_quality_members(
    *,
    code: str,
    page: int | str = 1,
    with_values: bool = False,
    now: datetime.datetime | None = None,
) -> Page:
    """One page of the members behind a member count, as ``MemberRow`` objects, in
    membership-number order. Raises ``KeyError`` for a code that lists no members."""
    now = now or timezone.now()
    queryset, email_problems = _member_queryset(code, now)
    rows = queryset.order_by("membership_number").values(
        "pk",
        "membership_number",
        "joined_at",
        "user__email",
        "phone",
        "birth_date",
        "postcode",
        "home_store_id",
        "preferred_language",
    )
    result = Paginator(rows, PER_PAGE).get_page(page)
    last_activity: dict[int, datetime.datetime] = {}
    if code == "members_inactive_past_retention":
        last_activity = dict(
            ActivityEvent.objects.filter(member_id__in=[r["pk"] for r in result.object_list])
            .exclude(source="system")
            .values("member_id")
            .annotate(last=Max("created_at"))
            .values_list("member_id", "last")
        )
    shown: list[Any] = [
        _member_row(code, row, email_problems, with_values, last_activity)
        for row in result.object_list
    ]
    result.object_list = shown
    return result


def _member_row(
    code: str,
    row: dict[str, Any],
    email_problems: dict[int, str],
    with_values: bool,
    last_activity: dict[int, datetime.datetime],
) -> MemberRow:
    missing = {
        "email": not row["user__email"],
        "phone": not row["phone"],
        "birth_date": row["birth_date"] is None,
        "postcode": not row["postcode"],
        "home_store": row["home_store_id"] is None,
        "language": row["preferred_language"] not in Member.Language.values,
    }
    problems = [str(MISSING[field]) for field, is_missing in missing.items() if is_missing]
    value = ""
    if code == "emails_invalid_or_bouncing":
        problems = [str(EMAIL_PROBLEMS[email_problems.get(row["pk"], "failing")])]
        value = row["user__email"] or ""
    elif code == "phones_invalid":
        problems = [str(_("not a valid mobile number"))]
        value = row["phone"]
    return MemberRow(
        member_id=row["pk"],
        membership_number=row["membership_number"],
        joined_at=row["joined_at"],
        problems=problems,
        value=value if with_values else "",
        last_activity=last_activity.get(row["pk"]),
    )


def data_quality_purchases(*, page: int | str = 1, now: datetime.datetime | None = None) -> Page:
    """One page of the purchases without a member past the claim window, oldest first."""
    queryset = (
        _unclaimed(now or timezone.now())
        .select_related("store")
        .only("pk", "receipt_id", "purchased_at", "total_ore", "store__name", "store__code")
        .order_by("purchased_at", "pk")
    )
    return Paginator(queryset, PER_PAGE).get_page(page)
