"""Writes for identity, stores and integration keys."""

from __future__ import annotations

import datetime
import hashlib
import secrets
from typing import Any

from allauth.account.models import EmailAddress
from django.core.cache import cache
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.db.models import Q
from django.http import HttpRequest
from django.utils import timezone
from django.utils.translation import gettext as _

from members.activity import Kind, activity_record
from members.api.scopes import SCOPES
from members.duplicates import duplicates_find_later
from members.errors import DomainError
from members.models import ApiKey, Member, Store, User, door_key_new
from members.phone import phone_normalise
from members.selectors import member_resolve
from members.validators import birth_date_validate, name_validate, postcode_normalise

PROFILE_FIELDS = (
    "first_name",
    "last_name",
    "phone",
    "birth_date",
    "postcode",
    "preferred_language",
    "home_store",
)

# The profile fields the duplicate rules compare (members.duplicates).
DUPLICATE_FIELDS = {"first_name", "last_name", "phone", "birth_date", "postcode"}


# --- validation shared by sign-up, profile, admin and API ----------------------------------


def _clean_profile(fields: dict[str, Any]) -> dict[str, Any]:
    """Normalise and validate profile fields; collect every error before raising."""
    errors: dict[str, list[ValidationError]] = {}
    cleaned = dict(fields)
    for name in ("first_name", "last_name"):
        if name in cleaned:
            cleaned[name] = (cleaned[name] or "").strip()
            if not cleaned[name]:
                errors.setdefault(name, []).append(
                    ValidationError(_("This field is required."), code="required")
                )
            else:
                try:
                    name_validate(cleaned[name])
                except ValidationError as exc:
                    errors.setdefault(name, []).append(exc)
    if "phone" in cleaned:
        try:
            cleaned["phone"] = phone_normalise(cleaned["phone"] or "")
        except ValidationError as exc:
            errors.setdefault("phone", []).append(exc)
    if "birth_date" in cleaned:
        try:
            birth_date_validate(cleaned["birth_date"])
        except ValidationError as exc:
            errors.setdefault("birth_date", []).append(exc)
    if "postcode" in cleaned:
        try:
            cleaned["postcode"] = postcode_normalise(cleaned["postcode"] or "")
        except ValidationError as exc:
            errors.setdefault("postcode", []).append(exc)
    if "preferred_language" in cleaned and cleaned["preferred_language"] not in Member.Language:
        errors.setdefault("preferred_language", []).append(
            ValidationError(_("Choose Swedish or English."), code="invalid_choice")
        )
    if errors:
        raise ValidationError(errors)
    return cleaned


# --- members ------------------------------------------------------------------------------


def membership_number_generate() -> str:
    """Ten random digits, the last a Luhn check digit, never starting with 0.

    Unguessable enough that a typed number identifies one member (1 in 10^8 hit rate) and
    the check digit catches every single-digit typo at the till.
    """
    body = str(secrets.randbelow(9 * 10**8) + 10**8)
    return body + luhn_check_digit(body)


def luhn_check_digit(body: str) -> str:
    total = 0
    for i, char in enumerate(reversed(body)):
        digit = int(char)
        if i % 2 == 0:
            digit *= 2
            if digit > 9:
                digit -= 9
        total += digit
    return str((10 - total % 10) % 10)


def membership_number_is_valid(number: str) -> bool:
    return len(number) == 10 and number.isdigit() and luhn_check_digit(number[:-1]) == number[-1]


def card_token_generate() -> str:
    return secrets.token_urlsafe(24)


def member_create(
    *,
    first_name: str,
    last_name: str,
    user: User | None = None,
    phone: str = "",
    birth_date: datetime.date | None = None,
    postcode: str = "",
    preferred_language: str = Member.Language.SWEDISH,
    home_store: Store | None = None,
    join_channel: str = Member.JoinChannel.WEB,
    actor: User | None = None,
    source: str = "web",
    membership_number: str | None = None,
) -> Member:
    """Create a member and its "joined" event.

    Validates everything first, so invalid input saves nothing. ``membership_number``: keep
    a number the member already has (an import from an earlier club, the demo data); it
    must be a valid, unused number. Without it a free random number is drawn.
    """
    cleaned = _clean_profile(
        {
            "first_name": first_name,
            "last_name": last_name,
            "phone": phone,
            "birth_date": birth_date,
            "postcode": postcode,
            "preferred_language": preferred_language,
        }
    )
    if join_channel not in Member.JoinChannel:
        raise ValidationError({"join_channel": _("Unknown join channel.")})
    if membership_number is not None and not membership_number_is_valid(membership_number):
        raise ValidationError({"membership_number": _("Not a valid membership number.")})
    with transaction.atomic():
        for _attempt in range(5):
            try:
                with transaction.atomic():
                    member = Member.objects.create(
                        user=user,
                        membership_number=membership_number or membership_number_generate(),
                        card_token=card_token_generate(),
                        home_store=home_store,
                        join_channel=join_channel,
                        **cleaned,
                    )
                break
            except IntegrityError:
                # A colliding random number (rare): draw again. A given number that is
                # taken, or a second member for the same user, is a real error.
                if membership_number is not None:
                    raise
                if user is not None and Member.objects.filter(user=user).exists():
                    raise
        else:  # pragma: no cover - five collisions in a row
            raise RuntimeError("Could not draw a free membership number.")
        activity_record(
            member=member,
            kind=Kind.JOINED,
            data={"channel": join_channel, "home_store_id": home_store.pk if home_store else None},
            source=source,
            actor=actor or user,
            store=home_store,
        )
        # Someone who joined at a till may sign up online too: look for them after commit.
        duplicates_find_later(member_ids=[member.pk])
    return member


def member_update_profile(
    *, member: Member, actor: User | None, source: str = "web", **fields: Any
) -> Member:
    """Change profile fields. Records which fields changed (not their values) on the timeline."""
    unknown = set(fields) - set(PROFILE_FIELDS)
    if unknown:
        raise ValueError(f"Not profile fields: {sorted(unknown)}")
    cleaned = _clean_profile(fields)
    with transaction.atomic():
        locked = Member.objects.select_for_update().get(pk=member.pk)
        if locked.merged_into_id is not None:
            # merged meanwhile (the change waited on the merge's lock): the person is the
            # survivor now, and a tombstone never gets personal data (members.merging)
            locked = Member.objects.select_for_update().get(pk=member_resolve(locked).pk)
        changed = [name for name, value in cleaned.items() if getattr(locked, name) != value]
        if not changed:
            return locked
        for name in changed:
            setattr(locked, name, cleaned[name])
        locked.save(update_fields=changed)
        activity_record(
            member=locked,
            kind=Kind.PROFILE_UPDATED,
            data={"fields": sorted(changed)},
            source=source,
            actor=actor,
        )
        if set(changed) & DUPLICATE_FIELDS:
            duplicates_find_later(member_ids=[locked.pk])
    return locked


def member_set_language(*, member: Member, language: str) -> None:
    """Remember the member's language for pages, email and SMS."""
    if language not in Member.Language or member.preferred_language == language:
        return
    with transaction.atomic():
        Member.objects.filter(pk=member.pk).update(preferred_language=language)
        activity_record(
            member=member, kind=Kind.LANGUAGE_CHANGED, data={"language": language}, source="web"
        )
    member.preferred_language = language


def member_email_verified(*, member: Member) -> None:
    """Record on the timeline that the member proved they own their email address."""
    with transaction.atomic():
        activity_record(member=member, kind=Kind.EMAIL_VERIFIED, source="web", actor=member.user)


def card_token_rotate(*, member: Member, actor: User | None) -> Member:
    """Give the card a new QR secret: every earlier QR code (and screenshot) stops working."""
    with transaction.atomic():
        locked = Member.objects.select_for_update().get(pk=member.pk)
        locked.card_token = card_token_generate()
        locked.card_token_rotated_at = timezone.now()
        locked.save(update_fields=["card_token", "card_token_rotated_at"])
        activity_record(member=locked, kind=Kind.CARD_ROTATED, source="web", actor=actor)
    return locked


def store_door_key_rotate(*, store: Store) -> Store:
    """Give the store a new door key: every printed door poster of the store stops working
    (members.door); print the new one."""
    Store.objects.filter(pk=store.pk).update(door_key=door_key_new())
    store.refresh_from_db(fields=["door_key"])
    return store


VERIFICATION_RESEND_SECONDS = 180


class VerificationResendError(DomainError):
    code = "verification_not_sent"
    status = 409


def email_verification_resend(*, member: Member, request: HttpRequest) -> str:
    """Staff send the member a new link to confirm their email address (the member asks at
    the counter why no mail came). Once per ``VERIFICATION_RESEND_SECONDS`` per member;
    refused when the address is confirmed already. Returns the address it went to."""
    address = (
        EmailAddress.objects.filter(user_id=member.user_id, primary=True).first()
        if member.user_id
        else None
    )
    if address is None:
        raise VerificationResendError(_("The member has no email address to confirm."))
    if address.verified:
        raise VerificationResendError(_("The member's email address is already confirmed."))
    if not cache.add(f"verification-resend:{member.pk}", 1, VERIFICATION_RESEND_SECONDS):
        raise VerificationResendError(
            _("A mail was sent a moment ago. Ask the member to look in their inbox and spam.")
        )
    address.send_confirmation(request)
    return str(address.email)


# --- API keys -----------------------------------------------------------------------------

API_KEY_PREFIX = "kk"


def api_key_hash(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def api_key_create(
    *, store: Store, name: str, scopes: list[str], created_by: User | None = None
) -> tuple[ApiKey, str]:
    """Create a key and return it with its plain text, which is never stored or shown again."""
    unknown = sorted(set(scopes) - set(SCOPES))
    if unknown:
        raise ValidationError({"scopes": _("Unknown scopes: %s") % ", ".join(unknown)})
    if not scopes:
        raise ValidationError({"scopes": _("Choose at least one scope.")})
    prefix = secrets.token_hex(6)
    secret = secrets.token_urlsafe(32)
    key = ApiKey.objects.create(
        store=store,
        name=name.strip() or store.code,
        prefix=prefix,
        secret_hash=api_key_hash(secret),
        scopes=sorted(set(scopes)),
        created_by=created_by,
    )
    return key, f"{API_KEY_PREFIX}_{prefix}_{secret}"


def api_key_touch(*, key: ApiKey, now: datetime.datetime | None = None) -> None:
    """Note that the key was used; at most one write a minute per key, so tills stay fast."""
    now = now or timezone.now()
    ApiKey.objects.filter(pk=key.pk).filter(
        Q(last_used_at__isnull=True) | Q(last_used_at__lt=now - datetime.timedelta(minutes=1))
    ).update(last_used_at=now)


def api_key_revoke(*, key: ApiKey) -> None:
    ApiKey.objects.filter(pk=key.pk, revoked_at__isnull=True).update(revoked_at=timezone.now())
