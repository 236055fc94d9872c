"""One-click unsubscribe: signed tokens, each redeemed once."""

from __future__ import annotations

import datetime
import hashlib
import secrets
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.core import signing
from django.db import IntegrityError, transaction

from consent.errors import InvalidUnsubscribeTokenError
from consent.models import ConsentEvent, Purpose, UsedUnsubscribeToken
from consent.services.consent import Proof, consent_set_locked
from members.models import Member
from members.selectors import member_resolve

Source = ConsentEvent.Source


UNSUBSCRIBE_SALT = "consent.unsubscribe"


def unsubscribe_token_make(*, member: Member, purpose: str, channel: str) -> str:
    """A signed token naming the member, purpose and channel; a nonce makes each unique."""
    return signing.dumps(
        {"m": member.pk, "p": purpose, "c": channel, "n": secrets.token_hex(6)},
        salt=UNSUBSCRIBE_SALT,
        compress=True,
    )


def unsubscribe_token_read(token: str) -> dict[str, Any]:
    try:
        data = signing.loads(
            token,
            salt=UNSUBSCRIBE_SALT,
            max_age=datetime.timedelta(days=settings.CONSENT_UNSUBSCRIBE_MAX_AGE_DAYS),
        )
    except signing.BadSignature as exc:
        raise InvalidUnsubscribeTokenError() from exc
    if not isinstance(data, dict) or not {"m", "p", "c", "n"} <= set(data):
        raise InvalidUnsubscribeTokenError()
    return data


@dataclass(frozen=True)
class UnsubscribeResult:
    purpose: Purpose
    withdrawn: bool  # False: the link had been used already, or nothing was granted


def _member_lock_resolved(member_id: int) -> Member | None:
    """Lock the member a link names or, for a link mailed before a merge, the member it was
    merged into (the person's consent is theirs now: consent.merging). The tombstone is read
    without a lock, so locks are still taken on live members only; a merge that commits in
    between is seen under the lock and followed."""
    found = Member.objects.filter(pk=member_id).first()
    for _attempt in range(3):
        if found is None:
            return None
        found = Member.objects.select_for_update().get(pk=member_resolve(found).pk)
        if found.merged_into_id is None:
            break
    return found


def unsubscribe_redeem(
    *, token: str, ip_address: str | None = None, user_agent: str = ""
) -> UnsubscribeResult:
    """Withdraw the purpose the link names, without login. Each link works once."""
    data = unsubscribe_token_read(token)
    purpose = Purpose.objects.filter(code=data["p"]).first()
    if purpose is None:
        raise InvalidUnsubscribeTokenError()
    digest = hashlib.sha256(token.encode()).hexdigest()
    with transaction.atomic():
        member = _member_lock_resolved(data["m"])
        if member is None:
            raise InvalidUnsubscribeTokenError()
        if member.erased_at is not None:
            return UnsubscribeResult(purpose=purpose, withdrawn=False)
        try:
            with transaction.atomic():
                UsedUnsubscribeToken.objects.create(digest=digest, member=member)
        except IntegrityError:
            return UnsubscribeResult(purpose=purpose, withdrawn=False)
        event = consent_set_locked(
            member=member,
            purpose=purpose,
            granted=False,
            channel=data["c"],
            proof=Proof(
                source=Source.UNSUBSCRIBE_LINK, ip_address=ip_address, user_agent=user_agent
            ),
        )
    return UnsubscribeResult(purpose=purpose, withdrawn=event is not None)
