"""Merging two members who are one person (issue 15, docs/merging.md).

``member_merge`` is the one way to do it. It locks both member rows in primary-key order (as
every writer that touches two members does, so two merges of crossed pairs never deadlock),
then runs every registered merge step in one transaction. Each app moves its own rows:

- members (here, ``members_merge_step``): the timeline, earlier tombstones, the profile
  fields the survivor lacks, the login; the duplicate pairs (``members.duplicates``);
- consent (``consent.merging``): the most restrictive current state per purpose and channel,
  both histories kept as proof, preferences, interests, requests, logs;
- rewards (``rewards.merging``): points by transfer entries (lots keep their dates),
  purchases, vouchers, reservations, challenges, referrals, reviews; then the tier;
- campaigns (``campaigns.merging``): offers and deliveries.

Lower apps know nothing of higher ones, so the higher apps register their steps from their
``AppConfig.ready`` (``merge_step_register``), like the erasure steps of consent's register.

The merged member stays as a tombstone (``Member.merged_into``): its number, card and QR
resolve to the survivor (``member_resolve``), and its personal fields are cleared, so what is
kept about the person lives on the survivor only. An audit row (``MemberMerge``) records who,
when, why and what moved, and the survivor's timeline gets a "merged" event.

Every relation to ``Member`` in every app is either moved by a step (the step reports it in
its counts under ``"<app_label>.<Model>.<field>"``) or listed in ``MERGE_STAYS`` with the
reason it stays on the tombstone; tests/members/test_merge.py reads the model graph and fails
for a relation that is neither.
"""

from __future__ import annotations

import contextvars
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from importlib import import_module

from allauth.account.models import EmailAddress
from django.conf import settings
from django.contrib.auth import HASH_SESSION_KEY, SESSION_KEY
from django.contrib.sessions.models import Session
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from members.activity import Kind, activity_record
from members.errors import ConflictError, DomainError
from members.models import ActivityEvent, Member, MemberMerge, User
from members.selectors import member_resolve

__all__ = [
    "MERGE_STAYS",
    "MergeConflictError",
    "MergeError",
    "MergeStep",
    "member_merge",
    "member_resolve",
    "merge_actor",
    "merge_stays_register",
    "merge_step_register",
    "merge_steps",
]

# (survivor, merged) -> what moved, {"<label>": count}; runs inside the merge transaction
# with both member rows locked. Must leave nothing of the merged member's that the
# survivor needs (the tombstone keeps only its number and card, to resolve). A relation to
# Member that the step moves is reported as "<app_label>.<Model>.<field>" (0 when there was
# nothing to move), so the model-graph test sees that the step covers it.
MergeRun = Callable[[Member, Member], dict[str, int]]


# Relations to Member that a merge leaves on the tombstone, "<app_label>.<Model>.<field>" ->
# why. Every other relation to Member must be moved by a step (see above). A model added
# later with a relation to Member fails tests/members/test_merge.py until it is moved by its
# app's step or listed here. members and consent keep their entries below; rewards and
# campaigns add theirs either in the block at the end or, from their AppConfig.ready next
# to their merge_step_register, with merge_stays_register(THEIR_DICT) (same key format).
MERGE_STAYS: dict[str, str] = {
    # --- members ---
    "members.DuplicateCandidate.member_a": (
        "the pair that was merged stays, marked merged (the review's answer), and so do the "
        "merged member's 'not the same person' answers, which are copied to the survivor; "
        "open pairs are removed and the survivor checked afresh "
        "(members.duplicates.duplicates_after_merge, a step of its own, order 15)"
    ),
    "members.DuplicateCandidate.member_b": "as member_a",
    "members.MemberMerge.survivor": (
        "the audit rows of earlier merges are history: they name the member who was kept then"
    ),
    "members.MemberMerge.merged": (
        "the audit row of a merge names the tombstone it made (one per tombstone)"
    ),
    "members.OutboxEvent.member": (
        "public events already told to integrations (members.outbox) name the member as they "
        "were then, and a redelivery must carry the same body; member.merged tells receivers "
        "the two ids are one person, and erasing the survivor emits member.erased for the "
        "tombstone too"
    ),
    # --- consent ---
    "consent.ConsentEvent.member": (
        "the consent record is append-only (a database trigger refuses UPDATE): the merged "
        "member's events stay as written, under the tombstone, as proof; the survivor's "
        "history includes them (consent.selectors.consent_history, the export), "
        "and the merge itself is a new event on the survivor"
    ),
    # --- rewards, campaigns (merge-books) ---
}


@dataclass(frozen=True)
class MergeStep:
    name: str
    run: MergeRun
    order: int = 100


_steps: dict[str, MergeStep] = {}

# Who is merging, for steps that write records naming an actor (consent events).
_actor: contextvars.ContextVar[User | None] = contextvars.ContextVar("merge_actor", default=None)


def merge_stays_register(stays: dict[str, str]) -> None:
    """Add an app's relations that stay on the tombstone, ``{"<app>.<Model>.<field>": why}``
    (see ``MERGE_STAYS``); from the app's ``AppConfig.ready``."""
    MERGE_STAYS.update(stays)


def merge_step_register(*, name: str, run: MergeRun, order: int = 100) -> None:
    """Add (or replace, by name) one app's part of a merge. Lower ``order`` runs first:
    members 10, consent 20, rewards 30, campaigns 40."""
    _steps[name] = MergeStep(name=name, run=run, order=order)


def merge_steps() -> list[MergeStep]:
    return sorted(_steps.values(), key=lambda step: (step.order, step.name))


def merge_actor() -> User | None:
    """The staff user carrying out the merge that is running (None: the system). For steps."""
    return _actor.get()


@contextmanager
def _acting(actor: User | None) -> Iterator[None]:
    token = _actor.set(actor if actor is not None and actor.is_authenticated else None)
    try:
        yield
    finally:
        _actor.reset(token)


class MergeError(DomainError):
    code = "merge_refused"
    default_message = _("These two members cannot be merged.")


class MergeConflictError(ConflictError):
    code = "merge_conflict"
    default_message = _("One of the members was merged or erased in the meantime.")


def member_merge(
    *, survivor_id: int, merged_id: int, actor: User | None = None, reason: str = ""
) -> MemberMerge:
    """Merge ``merged_id`` into ``survivor_id``; returns the audit row.

    Idempotent: merging a pair that is already merged this way returns the first audit row.
    Refused (``MergeError``) for one member with itself; ``MergeConflictError`` when either
    member is erased or already merged elsewhere (checked under the locks). A refusal
    changes nothing."""
    if survivor_id == merged_id:
        raise MergeError(_("A member cannot be merged with themselves."))
    with transaction.atomic(), _acting(actor):
        locked = {
            member.pk: member
            for member in Member.objects.select_for_update(of=("self",))
            .select_related("user")
            .filter(pk__in=[survivor_id, merged_id])
            .order_by("pk")
        }
        if len(locked) != 2:
            raise MergeError(_("One of the members does not exist."))
        survivor, merged = locked[survivor_id], locked[merged_id]
        if merged.merged_into_id == survivor.pk:
            return MemberMerge.objects.get(merged=merged)
        if survivor.merged_into_id is not None or merged.merged_into_id is not None:
            raise MergeConflictError()
        if survivor.is_erased or merged.is_erased:
            raise MergeConflictError()
        moved: dict[str, int] = {}
        for step in merge_steps():
            moved.update(step.run(survivor, merged))
        now = timezone.now()
        Member.objects.filter(pk=merged.pk).update(merged_into=survivor, merged_at=now)
        merged.merged_into, merged.merged_at = survivor, now
        audit = MemberMerge.objects.create(
            survivor=survivor,
            merged=merged,
            actor=actor if actor is not None and actor.is_authenticated else None,
            reason=reason[:200],
            moved=moved,
            created_at=now,
        )
        activity_record(
            member=survivor,
            kind=Kind.MERGED,
            data={"merge": audit.pk, "merged_member": merged.pk},
            source="staff" if audit.actor_id else "system",
            actor=actor,
        )
    return audit


# --- members' own step (order 10) ----------------------------------------------------------

# Profile fields the survivor takes from the merged member when it has none of its own.
_FILLED = ("phone", "birth_date", "postcode", "home_store_id", "first_name", "last_name")


def members_merge_step(survivor: Member, merged: Member) -> dict[str, int]:
    """members' part: the timeline, earlier tombstones, the profile, the login; then the
    tombstone's personal fields are cleared (its number and card stay, so they resolve).
    ``survivor`` is updated in place."""
    moved = {
        "members.ActivityEvent.member": ActivityEvent.objects.filter(member=merged).update(
            member=survivor
        ),
        # A member merged into this one earlier now points at the survivor directly: one
        # step resolves it, and erasing the survivor finds it in ``merged_members``.
        "members.Member.merged_into": Member.objects.filter(merged_into=merged).update(
            merged_into=survivor
        ),
    }
    moved.update(_profile_fill(survivor, merged))
    moved.update(_login_move(survivor, merged))
    Member.objects.filter(pk=merged.pk).update(
        first_name="",
        last_name="",
        phone="",
        birth_date=None,
        postcode="",
        home_store=None,
        user=None,
    )
    merged.first_name = merged.last_name = merged.phone = merged.postcode = ""
    merged.birth_date = None
    merged.home_store = None
    merged.user = None
    return moved


def _profile_fill(survivor: Member, merged: Member) -> dict[str, int]:
    changes: dict[str, object] = {}
    for attname in _FILLED:
        if getattr(survivor, attname) in (None, "") and getattr(merged, attname) not in (None, ""):
            changes[attname] = getattr(merged, attname)
    if merged.joined_at < survivor.joined_at:  # a member since the earlier of the two
        changes["joined_at"] = merged.joined_at
    if not survivor.external_id and merged.external_id:
        # unique: taken off the tombstone first. With the survivor's own id kept, the
        # tombstone keeps its old id, so an old import file finds it and adds nobody.
        Member.objects.filter(pk=merged.pk).update(external_id=None)
        changes["external_id"] = merged.external_id
        merged.external_id = None
    if changes:
        Member.objects.filter(pk=survivor.pk).update(**changes)
        for attname, value in changes.items():
            setattr(survivor, attname, value)
        if "home_store_id" in changes:
            survivor.home_store = merged.home_store
    return {"members.profile_fields": len(changes)}


def _login_move(survivor: Member, merged: Member) -> dict[str, int]:
    """The survivor keeps one login. Without one of its own, it takes the merged member's
    (password, addresses, sessions and all). With both, the survivor's login stays, the
    merged member's addresses become its secondary addresses (the person signs in with
    either, with the survivor's password, and "Forgot your password?" works for both), the
    merged login's open sessions become the survivor's, and the merged login is switched
    off and emptied (docs/merging.md, "The login")."""
    merged_user = merged.user
    if merged_user is None:
        return {"members.Member.user": 0}
    if survivor.user is None:
        Member.objects.filter(pk=merged.pk).update(user=None)
        Member.objects.filter(pk=survivor.pk).update(user=merged_user)
        survivor.user, merged.user = merged_user, None
        return {"members.Member.user": 1}
    survivor_user = survivor.user
    if merged_user.is_staff or merged_user.is_superuser:
        raise MergeError(
            _(
                "The merged member's login is a staff account. Merge the other way round, or "
                "take the staff rights off the login first."
            )
        )
    addresses = 0
    taken = {
        e.lower()
        for e in EmailAddress.objects.filter(user=survivor_user).values_list("email", flat=True)
    }
    taken.add(survivor_user.email.lower())
    for address in EmailAddress.objects.filter(user=merged_user).order_by("pk"):
        if address.email.lower() in taken:
            address.delete()
            continue
        # in lower case, as allauth keeps addresses (identify looks them up so)
        EmailAddress.objects.filter(pk=address.pk).update(
            user=survivor_user, primary=False, email=address.email.lower()
        )
        taken.add(address.email.lower())
        addresses += 1
    if merged_user.email.lower() not in taken:
        # a login without its allauth row (made before allauth knew it): the address counts
        EmailAddress.objects.create(
            user=survivor_user, email=merged_user.email.lower(), verified=False, primary=False
        )
        addresses += 1
    sessions = _sessions_move(merged_user, survivor_user)
    merged_user.set_unusable_password()
    User.objects.filter(pk=merged_user.pk).update(
        email=f"merged-{merged.pk}@merged.invalid",
        first_name="",
        last_name="",
        password=merged_user.password,
        is_active=False,
        last_login=None,
    )
    merged_user.groups.clear()
    Member.objects.filter(pk=merged.pk).update(user=None)
    merged.user = None
    return {"members.Member.user": 1, "account.EmailAddress": addresses, "sessions": sessions}


def _sessions_move(old: User, new: User) -> int:
    """Open sessions of ``old`` become sessions of ``new``: someone signed in with the merged
    login lands on the survivor's pages at their next click. A session holds the user's id
    and a hash of the password inside its encoded data, so each live one is decoded."""
    store_class = import_module(settings.SESSION_ENGINE).SessionStore
    moved = 0
    new_hash = new.get_session_auth_hash()
    for session in Session.objects.filter(expire_date__gt=timezone.now()).iterator(chunk_size=500):
        data = session.get_decoded()
        if str(data.get(SESSION_KEY)) != str(old.pk):
            continue
        data[SESSION_KEY] = new._meta.pk.value_to_string(new)
        data[HASH_SESSION_KEY] = new_hash
        Session.objects.filter(pk=session.pk).update(session_data=store_class().encode(data))
        moved += 1
    return moved
