"""Merging two members who are one person (issue 15, docs/merging.md).

``member_merge`` is the one way to do it. It locks both member rows in primary-key order (as
every writer that touches two members does, so two merges of crossed pairs never deadlock),
then runs every registered merge step in one transaction. Each app moves its own rows:

- members (here): the timeline, the profile fields the survivor lacks, the login;
- consent (``consent.merging``): the most restrictive current state per purpose and channel,
  both histories kept as proof;
- rewards (``rewards.merging``): points by transfer entries (lots keep their dates),
  purchases, vouchers, reservations, challenges, referrals, reviews; then the tier;
- campaigns (``campaigns.merging``): offers and deliveries.

Lower apps know nothing of higher ones, so the higher apps register their steps from their
``AppConfig.ready`` (``merge_step_register``), like the erasure steps of consent's register.

The merged member stays as a tombstone (``Member.merged_into``): its number, card and QR
resolve to the survivor (``member_resolve``), and its personal fields are cleared, so what is
kept about the person lives on the survivor only. An audit row (``MemberMerge``) records who,
when, why and what moved, and the survivor's timeline gets a "merged" event.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from members.activity import Kind, activity_record
from members.errors import ConflictError, DomainError
from members.models import Member, MemberMerge, User

# (survivor, merged) -> what moved, {"<label>": count}; runs inside the merge transaction
# with both member rows locked. Must leave nothing of the merged member's that the
# survivor needs (the tombstone keeps only its number and card, to resolve).
MergeRun = Callable[[Member, Member], dict[str, int]]


@dataclass(frozen=True)
class MergeStep:
    name: str
    run: MergeRun
    order: int = 100


_steps: dict[str, MergeStep] = {}


def merge_step_register(*, name: str, run: MergeRun, order: int = 100) -> None:
    """Add (or replace, by name) one app's part of a merge. Lower ``order`` runs first:
    members 10, consent 20, rewards 30, campaigns 40."""
    _steps[name] = MergeStep(name=name, run=run, order=order)


def merge_steps() -> list[MergeStep]:
    return sorted(_steps.values(), key=lambda step: (step.order, step.name))


class MergeError(DomainError):
    code = "merge_refused"
    default_message = _("These two members cannot be merged.")


class MergeConflictError(ConflictError):
    code = "merge_conflict"
    default_message = _("One of the members was merged or erased in the meantime.")


def member_resolve(member: Member) -> Member:
    """The member a tombstone was merged into (following chains), or the member itself."""
    seen = {member.pk}
    while member.merged_into_id is not None:
        member = Member.objects.select_related("user").get(pk=member.merged_into_id)
        if member.pk in seen:  # a cycle cannot be written by member_merge; never loop
            break
        seen.add(member.pk)
    return member


def member_merge(
    *, survivor_id: int, merged_id: int, actor: User | None = None, reason: str = ""
) -> MemberMerge:
    """Merge ``merged_id`` into ``survivor_id``; returns the audit row.

    Idempotent: merging a pair that is already merged this way returns the first audit row.
    Refused (``MergeError``) for one member with itself; ``MergeConflictError`` when either
    member is erased or already merged elsewhere (checked under the locks)."""
    if survivor_id == merged_id:
        raise MergeError(_("A member cannot be merged with themselves."))
    with transaction.atomic():
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
