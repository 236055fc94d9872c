"""Referrals: a code and link per member; a friend who joins with it and makes a first
purchase earns both of them the "referral" event rule's points, within its caps per period
(docs/rewards.md). A phone number, email address or payment identity can be referred once,
ever: keyed hashes of them are kept (``ReferralIdentity``, unique), never the values.
"""

from __future__ import annotations

import datetime
import hashlib
import hmac
import secrets

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from members.activity import Kind as ActivityKind
from members.activity import activity_record
from members.merging import member_resolve
from members.models import ActivityEvent, Member, User
from rewards.errors import (
    AlreadyReferredError,
    DuplicateIdentityError,
    ReferralTooLateError,
    SelfReferralError,
    UnknownReferralCodeError,
)
from rewards.loyalty.catalogue import CODE_ALPHABET
from rewards.models import Purchase, Referral, ReferralCode, ReferralIdentity

CODE_LENGTH = 8


# --- codes and identities -------------------------------------------------------------------


def referral_code_for(*, member: Member) -> ReferralCode:
    """The member's code, created on first use (a concurrent first use gets the same one)."""
    existing = ReferralCode.objects.filter(member=member).first()
    if existing is not None:
        return existing
    for _attempt in range(5):
        code = "".join(secrets.choice(CODE_ALPHABET) for _ in range(CODE_LENGTH))
        ReferralCode.objects.bulk_create(
            [ReferralCode(member=member, code=code)], ignore_conflicts=True
        )
        existing = ReferralCode.objects.filter(member=member).first()
        if existing is not None:
            return existing
    raise RuntimeError("Could not create a unique referral code.")  # pragma: no cover


def referral_code_normalise(text: str) -> str:
    return "".join(ch for ch in (text or "").upper() if ch.isalnum())[:16]


def _digest(kind: str, value: str) -> str:
    key = hashlib.sha256(f"rewards.referral:{settings.SECRET_KEY}".encode()).digest()
    return hmac.new(key, f"{kind}:{value}".encode(), hashlib.sha256).hexdigest()


def normalise_email(email: str) -> str:
    """Lower case, without a "+tag": anna+club@example.se is anna@example.se."""
    email = (email or "").strip().lower()
    local, _at, domain = email.partition("@")
    return f"{local.split('+')[0]}@{domain}" if domain else ""


def normalise_phone(phone: str) -> str:
    digits = "".join(ch for ch in (phone or "") if ch.isdigit())
    if digits.startswith("0") and not digits.startswith("00"):
        digits = "46" + digits[1:]
    return digits.removeprefix("00")


def identity_digests(
    *, phone: str = "", email: str = "", payment_identity: str = ""
) -> dict[str, str]:
    digests: dict[str, str] = {}
    if normalise_phone(phone):
        digests[ReferralIdentity.Kind.PHONE] = _digest("phone", normalise_phone(phone))
    if normalise_email(email):
        digests[ReferralIdentity.Kind.EMAIL] = _digest("email", normalise_email(email))
    if payment_identity.strip():
        digests[ReferralIdentity.Kind.PAYMENT] = _digest("payment", payment_identity.strip())
    return digests


def _member_digests(member: Member, payment_identity: str = "") -> dict[str, str]:
    email = member.user.email if member.user_id and member.user else ""
    return identity_digests(phone=member.phone, email=email, payment_identity=payment_identity)


# --- registering and completing -------------------------------------------------------------


def referral_register(
    *,
    referred: Member,
    code: str,
    payment_identity: str = "",
    actor: User | None = None,
    now: datetime.datetime | None = None,
) -> Referral:
    """A new member names the member who invited them. Refused for one's own code, after the
    first purchase or ``REWARDS_REFERRAL_JOIN_DAYS`` after joining, and for any phone number,
    email address or payment identity that was referred before."""
    now = now or timezone.now()
    referral_code = (
        ReferralCode.objects.select_related("member", "member__user")
        .filter(code=referral_code_normalise(code))
        .first()
    )
    if referral_code is None or referral_code.member.erased_at is not None:
        raise UnknownReferralCodeError()
    # A merged member's code (kept when the survivor had one) refers for the survivor.
    referrer = member_resolve(referral_code.member)
    if referrer.pk == referred.pk:
        raise SelfReferralError()
    if Referral.objects.filter(referred=referred).exists():
        raise AlreadyReferredError()
    too_old = referred.joined_at < now - datetime.timedelta(
        days=settings.REWARDS_REFERRAL_JOIN_DAYS
    )
    if too_old or Purchase.objects.filter(member=referred).exists():
        raise ReferralTooLateError()
    digests = _member_digests(referred, payment_identity)
    if set(digests.values()) & set(_member_digests(referrer).values()):
        raise SelfReferralError()  # the same person under a second membership
    if ReferralIdentity.objects.filter(digest__in=digests.values()).exists():
        raise DuplicateIdentityError()
    try:
        with transaction.atomic():
            referral = Referral.objects.create(referrer=referrer, referred=referred, created_at=now)
            # The unique digest is the guard against two registrations at once.
            ReferralIdentity.objects.bulk_create(
                [
                    ReferralIdentity(kind=kind, digest=digest, referral=referral, created_at=now)
                    for kind, digest in digests.items()
                ]
            )
            activity_record(
                member=referred,
                kind=ActivityKind.REFERRAL_JOINED,
                data={"referral_id": referral.pk, "referrer_id": referrer.pk},
                source="web",
                actor=actor,
            )
    except IntegrityError as exc:
        if Referral.objects.filter(referred=referred).exists():
            raise AlreadyReferredError() from exc
        raise DuplicateIdentityError() from exc
    return referral


def referral_complete(*, referred: Member, purchase_id: int) -> Referral | None:
    """The referred member's first purchase: mark the referral completed (once) and record
    it on the timeline, where the event-points consumer rewards both members within the
    referral rule's caps."""
    with transaction.atomic():
        # A referral between two members later merged stays pending on the tombstone's side
        # (rewards.merging): nobody is rewarded for referring themselves.
        referral = (
            Referral.objects.select_for_update()
            .filter(referred=referred, status=Referral.Status.PENDING)
            .exclude(referrer__merged_into=referred)
            .first()
        )
        if referral is None:
            return None
        now = timezone.now()
        Referral.objects.filter(pk=referral.pk, status=Referral.Status.PENDING).update(
            status=Referral.Status.COMPLETED, completed_at=now, purchase_id=purchase_id
        )
        referral.status, referral.completed_at = Referral.Status.COMPLETED, now
        activity_record(
            member=referred,
            kind=ActivityKind.REFERRAL_COMPLETED,
            data={"referral_id": referral.pk, "referrer_id": referral.referrer_id},
        )
    return referral


def referrals_from_activity(event: ActivityEvent) -> None:
    """Timeline consumer for purchases (and claimed purchases)."""
    purchase_id = (event.data or {}).get("purchase_id")
    if purchase_id and event.member.erased_at is None:
        referral_complete(referred=event.member, purchase_id=purchase_id)


def referrals_for_member(*, member: Member) -> list[Referral]:
    return list(Referral.objects.filter(referrer=member).order_by("-created_at"))
