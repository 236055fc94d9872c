"""Activation: a member who joined in store, was added by staff or was imported gets an
online login with a one-time link (issue 15, docs/import.md "Activation").

The member names themselves on the activation page by email, mobile number or membership
number. When that matches exactly one active member without a usable login (no login at
all, or an imported login with an unusable password), a link goes to the **email address
on record**; never to an address the visitor typed that is not on record. The page answers
the same whatever happened, so it tells nobody whether an address or number is a member's.

The link is ``signing.dumps`` of the member's id and a hash of the login's state (its
password, last login and address), salted and signed with the site key, and expires after
``ACTIVATION_SECONDS``. Setting the password changes that state, so a used link (and every
other link sent before it) no longer matches: single use without a table. The password set
from the link counts as the confirmation of the address it went to.

By phone: a member named by mobile number or membership number who has a mobile number on
record gets a text message (``members.sms``, transactional: no consent, never a campaign)
with the same link and a six-digit code. The code is the way "membership number plus a code
sent to the phone on record": typed with the number (or the mobile number) on
``/konto/aktivera/kod/``, it opens the same password page. A code is kept hashed in the cache
for ``ACTIVATION_SECONDS``, allows ``CODE_TRIES`` wrong guesses, then is burned; it is bound
to the login's state like the link, so it works once. A member with no login yet (a till
member) gives the email address their login will have on the password page; it is confirmed
by allauth's mail afterwards (the link went to the phone, not to that address).
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass

from allauth.account.models import EmailAddress
from django.conf import settings
from django.contrib.auth.hashers import UNUSABLE_PASSWORD_PREFIX
from django.contrib.auth.password_validation import validate_password
from django.core import signing
from django.core.cache import cache
from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import transaction
from django.db.models import Q, QuerySet
from django.http import HttpRequest
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone, translation
from django.utils.crypto import constant_time_compare, salted_hmac
from django.utils.translation import gettext_lazy as _

from members.activity import Kind, activity_record
from members.duplicates import duplicates_find_later
from members.enqueue import task_get
from members.errors import DomainError
from members.models import Member, User
from members.phone import phone_try_normalise
from members.services import membership_number_is_valid
from members.validators import email_length_validate

ACTIVATION_SECONDS = 60 * 60
# Requests per client address and per typed identifier, each per hour; then the page asks
# the visitor to wait. Counted for every request, match or not, so the limit says nothing
# about who is a member.
REQUESTS_PER_CLIENT_PER_HOUR = 20
REQUESTS_PER_IDENTIFIER_PER_HOUR = 5
# At most one activation mail per member in this many seconds (the same member named by
# email, then by phone, then by number sends one mail).
MAIL_INTERVAL_SECONDS = 180
# Wrong guesses a text message's code allows before it is burned.
CODE_TRIES = 5

_SALT = "members.activation"


class ActivationLimitedError(DomainError):
    code = "activation_rate_limited"
    status = 429
    default_message = _("Too many activation requests. Try again in an hour.")


class ActivationLinkInvalidError(DomainError):
    code = "activation_link_invalid"
    status = 400
    default_message = _("The activation link is not valid, has expired or has been used.")


class ActivationCodeInvalidError(DomainError):
    code = "activation_code_invalid"
    status = 400
    default_message = _("The code does not match, has expired or has been used. Ask for a new one.")


@dataclass(frozen=True)
class Identifier:
    """What the visitor typed, read as one kind: ``email``, ``phone`` or ``number``."""

    kind: str
    value: str


def identifier_parse(text: str) -> Identifier | None:
    """An email (has an @), a membership number (ten digits, not starting with 0, with a
    valid check digit: a Swedish mobile number starts with 0 or +46/0046) or a mobile
    number in any form; None for anything else."""
    text = (text or "").strip()
    if not text or len(text) > 254:
        return None
    if "@" in text:
        return Identifier("email", text.lower())
    digits = text.replace(" ", "").replace("-", "")
    if digits.isdigit() and not digits.startswith("0") and membership_number_is_valid(digits):
        return Identifier("number", digits)
    e164 = phone_try_normalise(text)
    return Identifier("phone", e164) if e164 else None


def _without_usable_login() -> QuerySet[Member]:
    """Active members who cannot log in: no login, or a login (not staff, not disabled)
    whose password is unusable (an import's)."""
    # never a merged member's tombstone: its number names the survivor (below)
    return Member.objects.filter(erased_at__isnull=True, merged_into__isnull=True).filter(
        Q(user__isnull=True)
        | Q(
            user__password__startswith=UNUSABLE_PASSWORD_PREFIX,
            user__is_active=True,
            user__is_staff=False,
        )
    )


def activation_candidate(identifier: Identifier) -> Member | None:
    """The one member without a usable login that ``identifier`` names, or None (nobody,
    or several: a phone two such members share names neither)."""
    queryset = _without_usable_login().select_related("user")
    if identifier.kind == "email":
        queryset = queryset.filter(user__email__iexact=identifier.value)
    elif identifier.kind == "phone":
        queryset = queryset.filter(phone=identifier.value)
    else:
        # a merged member's number names the member it was merged into (members.merging)
        queryset = queryset.filter(
            Q(membership_number=identifier.value)
            | Q(merged_members__membership_number=identifier.value)
        )
    found = list(queryset.order_by("pk")[:2])
    return found[0] if len(found) == 1 else None


def _state(member: Member) -> str:
    """A hash of what using a link changes: the login's password (unusable until then),
    last login and address. Any change makes every earlier link stale."""
    user = member.user
    parts = [str(member.pk), str(member.user_id or "")]
    if user is not None:
        parts += [user.password, str(user.last_login or ""), user.email.lower()]
    return salted_hmac(_SALT, "\x1f".join(parts), algorithm="sha256").hexdigest()[:32]


def activation_token_make(member: Member, *, channel: str = "email") -> str:
    """A link token; ``channel`` says where it went ("email" or "sms"): only a link that
    went to the email address confirms that address."""
    return signing.dumps([member.pk, _state(member), channel], salt=_SALT, compress=True)


def _token_payload(token: str) -> tuple[int, str, str]:
    try:
        member_id, state, *rest = signing.loads(token, salt=_SALT, max_age=ACTIVATION_SECONDS)
        return int(member_id), str(state), str(rest[0]) if rest else "email"
    except (signing.BadSignature, ValueError, TypeError) as error:
        raise ActivationLinkInvalidError() from error


def activation_token_channel(token: str) -> str:
    return _token_payload(token)[2]


def activation_token_member(token: str) -> Member:
    """The member a link is for, while the link is valid: signed by this site, younger than
    ``ACTIVATION_SECONDS``, unused and the member still without a usable login. Raises
    ``ActivationLinkInvalidError`` otherwise (one error for every reason)."""
    member_id, state, _channel = _token_payload(token)
    member = _without_usable_login().select_related("user").filter(pk=member_id).first()
    if member is None or not constant_time_compare(state, _state(member)):
        raise ActivationLinkInvalidError()
    return member


def _count(key: str) -> int:
    cache.add(key, 0, 3600 + 60)
    try:
        return int(cache.incr(key))
    except ValueError:  # expired between add and incr
        cache.set(key, 1, 3600 + 60)
        return 1


def _limited(
    *,
    client: str | None,
    identifier: Identifier | None,
    text: str,
    scope: str = "activation",
    per_identifier: int = REQUESTS_PER_IDENTIFIER_PER_HOUR,
) -> bool:
    """Count this request for the client and for what was typed (the parsed identifier, so
    "070-111 22 33" and "+46701112233" count together); True once either is over."""
    hour = int(timezone.now().timestamp() // 3600)
    typed = f"{identifier.kind}:{identifier.value}" if identifier else " ".join(text.split())
    typed_key = hashlib.sha256(typed.lower().encode()).hexdigest()[:32]
    over = _count(f"{scope}:id:{hour}:{typed_key}") > per_identifier
    if client:
        client_key = hashlib.sha256(client.encode()).hexdigest()[:32]
        over = _count(f"{scope}:ip:{hour}:{client_key}") > REQUESTS_PER_CLIENT_PER_HOUR or over
    return over


def activation_request(*, identifier_text: str, client: str | None, request: HttpRequest) -> None:
    """The activation page's form: send a link when the text names exactly one member
    without a usable login who has an email address on record. Returns nothing either way
    (the page answers the same); raises ``ActivationLimitedError`` past the rate limits."""
    identifier = identifier_parse(identifier_text)
    if _limited(client=client, identifier=identifier, text=identifier_text or ""):
        raise ActivationLimitedError()
    member = activation_candidate(identifier) if identifier is not None else None
    if member is None or identifier is None:
        return
    if identifier.kind in ("phone", "number") and member.phone:
        activation_sms_send(member=member, request=request)
    elif member.user is not None and member.user.email:
        activation_mail_send(member=member, request=request)


def activation_offer_for_signup(*, email: str, request: HttpRequest) -> bool:
    """Sign-up with an address that already is the login of a member without a usable
    password: send that address the activation link instead of allauth's "someone tried to
    sign up with your address" mail. True when the member was found (a mail was sent, or
    one was sent a moment ago); False: allauth's mail goes out as usual."""
    member = activation_candidate(Identifier("email", email.strip().lower()))
    if member is None or member.user is None:
        return False
    activation_mail_send(member=member, request=request)
    return True


def activation_mail_send(*, member: Member, request: HttpRequest) -> bool:
    """Mail the member a fresh link, in their language, to the address on record (at most
    one per ``MAIL_INTERVAL_SECONDS``; False when skipped for that). Sent by a worker once
    the caller's transaction commits."""
    assert member.user is not None
    if not cache.add(f"activation:mail:{member.pk}", 1, MAIL_INTERVAL_SECONDS):
        return False
    url = request.build_absolute_uri(
        reverse("members:activate-link", kwargs={"token": activation_token_make(member)})
    )
    context = {"member": member, "activate_url": url, "minutes": ACTIVATION_SECONDS // 60}
    with translation.override(member.preferred_language):
        subject = render_to_string("members/email/activation_subject.txt", context)
        body = render_to_string("members/email/activation_message.txt", context)
    payload = {
        "subject": settings.ACCOUNT_EMAIL_SUBJECT_PREFIX + " ".join(subject.split()),
        "body": body,
        "from_email": settings.DEFAULT_FROM_EMAIL,
        "to": [member.user.email],
        "html": None,
        "headers": {},
    }
    transaction.on_commit(lambda: task_get("members.tasks.email_send").delay(payload))
    return True


def _code_key(member_id: int) -> str:
    return f"activation:code:{member_id}"


def _code_hash(member: Member, code: str) -> str:
    return salted_hmac(_SALT + ".code", f"{member.pk}\x1f{code}", algorithm="sha256").hexdigest()


def activation_sms_send(*, member: Member, request: HttpRequest) -> bool:
    """Text the member a fresh link and code, in their language, to the mobile number on
    record (at most one per ``MAIL_INTERVAL_SECONDS``; False when skipped for that). A new
    code replaces the previous one. Sent by a worker once the caller's transaction commits."""
    assert member.phone
    if not cache.add(f"activation:sms:{member.pk}", 1, MAIL_INTERVAL_SECONDS):
        return False
    code = f"{secrets.randbelow(1_000_000):06d}"
    token = activation_token_make(member, channel="sms")
    cache.set(
        _code_key(member.pk),
        {"hash": _code_hash(member, code), "state": _state(member), "tries": 0},
        ACTIVATION_SECONDS,
    )
    url = request.build_absolute_uri(reverse("members:activate-link", kwargs={"token": token}))
    with translation.override(member.preferred_language):
        text = str(
            _(
                "Kundklubben: your activation code is %(code)s. Or open %(url)s to choose "
                "a password. Valid for %(minutes)d minutes."
            )
            % {"code": code, "url": url, "minutes": ACTIVATION_SECONDS // 60}
        )
    payload = {"to": member.phone, "text": text, "idempotency_key": f"activation-{token[-16:]}"}
    transaction.on_commit(lambda: task_get("members.tasks.sms_send").delay(payload))
    return True


def activation_code_check(*, identifier_text: str, code: str, client: str | None) -> str:
    """The code from the text message, with the membership number or mobile number it went
    to: returns a link token for the password page. One error for every reason (no such
    member, no code, wrong code, burned after ``CODE_TRIES`` wrong guesses, already used);
    ``ActivationLimitedError`` past the page's rate limits."""
    identifier = identifier_parse(identifier_text)
    # Guesses count apart from requests for codes: each code allows CODE_TRIES guesses, and
    # at most REQUESTS_PER_IDENTIFIER_PER_HOUR codes an hour can be asked for.
    limited = _limited(
        client=client,
        identifier=identifier,
        text=identifier_text or "",
        scope="activation-code",
        per_identifier=CODE_TRIES * REQUESTS_PER_IDENTIFIER_PER_HOUR,
    )
    if limited:
        raise ActivationLimitedError()
    code = "".join((code or "").split())
    member = activation_candidate(identifier) if identifier is not None else None
    if member is None or identifier is None or identifier.kind == "email":
        raise ActivationCodeInvalidError()
    key = _code_key(member.pk)
    kept = cache.get(key)
    if not kept or not constant_time_compare(kept["state"], _state(member)):
        raise ActivationCodeInvalidError()
    if not (code.isdigit() and constant_time_compare(kept["hash"], _code_hash(member, code))):
        kept["tries"] += 1
        if kept["tries"] >= CODE_TRIES:
            cache.delete(key)
        else:
            cache.set(key, kept, ACTIVATION_SECONDS)
        raise ActivationCodeInvalidError()
    cache.delete(key)
    return activation_token_make(member, channel="sms")


def member_activate(*, token: str, password: str, email: str = "") -> User:
    """Set the login's password from a valid link, confirm the address the link went to and
    record the activation on the timeline. The member keeps everything (number, card,
    points): the login is theirs already, no member is created. Raises
    ``ActivationLinkInvalidError`` for a link that is no longer valid (also when a second
    tab used it a moment ago) and ``ValidationError`` for a password the validators
    refuse."""
    with transaction.atomic():
        # Lock the member and the login first, then check the link: a second use waiting
        # on these locks reads the password the first one set, and is refused.
        member_id, _state_then, channel = _token_payload(token)
        user_id = (
            Member.objects.select_for_update()
            .filter(pk=member_id)
            .values_list("user_id", flat=True)
            .first()
        )
        if user_id is not None:
            User.objects.select_for_update().filter(pk=user_id).first()
        member = activation_token_member(token)
        if member.user is None:
            return _login_create(member=member, email=email, password=password)
        user = member.user
        validate_password(password, user)
        user.set_password(password)
        user.save(update_fields=["password"])
        address, created = EmailAddress.objects.get_or_create(
            user=user, email__iexact=user.email, defaults={"email": user.email, "primary": True}
        )
        # Only a link that went to this address confirms it; one sent by text message
        # leaves it as it was (allauth's confirmation mail follows).
        newly_verified = channel == "email" and (created or not address.verified)
        if newly_verified:
            EmailAddress.objects.filter(pk=address.pk).update(verified=True)
        if not EmailAddress.objects.filter(user=user, primary=True).exists():
            EmailAddress.objects.filter(pk=address.pk).update(primary=True)
        activity_record(
            member=member,
            kind=Kind.ACCOUNT_ACTIVATED,
            data={"channel": channel},
            source="web",
            actor=user,
        )
        if newly_verified:
            activity_record(member=member, kind=Kind.EMAIL_VERIFIED, source="web", actor=user)
    return user


def _login_create(*, member: Member, email: str, password: str) -> User:
    """A member without a login (a till member who got the link or code by text message)
    activates with the address their login will have. It is not confirmed yet: the link
    went to the phone, so allauth's confirmation mail follows (``activation_email_confirm``).
    Runs inside ``member_activate``'s transaction, with the member row locked."""
    email = (email or "").strip().lower()
    email_length_validate(email)
    try:
        validate_email(email)
    except ValidationError as error:
        raise ValidationError({"email": error.messages}) from error
    if (
        User.objects.filter(email__iexact=email).exists()
        or EmailAddress.objects.filter(email__iexact=email).exists()
    ):
        raise ValidationError(
            {"email": _("This email address already belongs to a login. Log in with it instead.")}
        )
    user = User(email=email)
    validate_password(password, user)
    user.set_password(password)
    user.save()
    EmailAddress.objects.create(user=user, email=email, verified=False, primary=True)
    Member.objects.filter(pk=member.pk).update(user=user)
    member.user = user
    activity_record(
        member=member,
        kind=Kind.ACCOUNT_ACTIVATED,
        data={"channel": "sms"},
        source="web",
        actor=user,
    )
    return user


def activation_email_confirm(*, user: User, request: HttpRequest) -> None:
    """Send allauth's confirmation mail for a login's address that is not confirmed yet
    (a login created from a text message's link)."""
    address = EmailAddress.objects.filter(user=user, primary=True, verified=False).first()
    if address is not None:
        address.send_confirmation(request)


# --- at the staff desk: the member is at the counter, staff have seen them -----------------


class ActivationNotPossibleError(DomainError):
    code = "activation_not_possible"
    status = 409
    default_message = _("This member can log in already.")


def member_login_add(*, member: Member, email: str, actor: User | None) -> User:
    """Give a member who has no login one: ``email`` as its address (unconfirmed) and an
    unusable password, exactly as the import makes one, attached to this member. Staff
    then send the activation link. Refuses an address that is already a login's."""
    email = (email or "").strip().lower()
    email_length_validate(email)
    try:
        validate_email(email)
    except ValidationError as error:
        raise ValidationError({"email": error.messages}) from error
    with transaction.atomic():
        locked = Member.objects.select_for_update().get(pk=member.pk)
        if (
            locked.user_id is not None
            or locked.erased_at is not None
            or locked.merged_into_id is not None
        ):
            raise ActivationNotPossibleError(_("This member has a login already."))
        if (
            User.objects.filter(email__iexact=email).exists()
            or EmailAddress.objects.filter(email__iexact=email).exists()
        ):
            raise ValidationError(
                {"email": _("This email address already belongs to another login.")}
            )
        user = User.objects.create_user(email=email, password=None)
        EmailAddress.objects.create(user=user, email=email, verified=False, primary=True)
        locked.user = user
        locked.save(update_fields=["user"])
        # A new address may be another membership's (members.duplicates).
        duplicates_find_later(member_ids=[locked.pk])
        activity_record(
            member=locked,
            kind=Kind.PROFILE_UPDATED,
            data={"fields": ["email"]},
            source="desk",
            actor=actor,
        )
    member.user = user
    return user


def activation_send_by_staff(
    *, member: Member, request: HttpRequest, actor: User | None, email: str = ""
) -> str:
    """The desk's "Send an activation link": to the address on record, or, for a member
    without a login, to ``email`` (which becomes the login, ``member_login_add``). Returns
    the address. Refuses a member who can log in already, and a second mail within
    ``MAIL_INTERVAL_SECONDS``."""
    member = Member.objects.select_related("user").get(pk=member.pk)
    if member.user is None:
        if not email.strip():
            raise ValidationError({"email": _("Enter the member's email address.")})
        member_login_add(member=member, email=email, actor=actor)
    elif activation_candidate(Identifier("number", member.membership_number)) is None:
        raise ActivationNotPossibleError()
    assert member.user is not None
    if not activation_mail_send(member=member, request=request):
        raise ActivationNotPossibleError(
            _("A link was sent a moment ago. Ask the member to look in their inbox and spam.")
        )
    return str(member.user.email)
