"""Reviews and social-media posts: members submit, staff moderate in admin; an approval is
recorded on the timeline, where the event-points consumer awards the "review" (or "social
share") event rule within its caps per period (docs/rewards.md)."""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.core.validators import URLValidator
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from members.activity import Kind as ActivityKind
from members.activity import activity_record
from members.models import Member, User
from rewards.errors import ReviewNotPendingError, TooManyPendingReviewsError, UnknownReviewError
from rewards.models import Product, Review

MAX_PENDING = 5
MIN_TEXT = 20


def review_submit(
    *, member: Member, kind: str, text: str = "", url: str = "", product: Product | None = None
) -> Review:
    """A review needs a text of some substance; a social post needs a link to it."""
    text, url = (text or "").strip(), (url or "").strip()
    if kind not in Review.Kind.values:
        raise ValidationError({"kind": _("Choose a review or a social media post.")})
    if kind == Review.Kind.REVIEW and len(text) < MIN_TEXT:
        raise ValidationError(
            {"text": _("Write at least %(count)d characters.") % {"count": MIN_TEXT}}
        )
    if len(text) > 4000:
        raise ValidationError({"text": _("Keep it under 4,000 characters.")})
    if kind == Review.Kind.SOCIAL:
        try:
            URLValidator(schemes=["https", "http"])(url)
        except ValidationError as exc:
            raise ValidationError({"url": _("Paste the link to your post.")}) from exc
    if len(url) > 500:
        raise ValidationError({"url": _("The link is too long.")})
    with transaction.atomic():
        # Lock the member row's reviews by locking the member: two submissions at once count
        # each other's pending posts.
        Member.objects.select_for_update().filter(pk=member.pk).first()
        pending = Review.objects.filter(member=member, status=Review.Status.PENDING).count()
        if pending >= MAX_PENDING:
            raise TooManyPendingReviewsError()
        review = Review.objects.create(
            member=member, kind=kind, text=text, url=url, product=product
        )
        activity_record(
            member=member,
            kind=ActivityKind.REVIEW_SUBMITTED,
            data={"review_id": review.pk, "kind": kind},
            source="web",
            actor=member.user,
        )
    return review


def _moderate(*, review_id: int, actor: User | None, status: str, reason: str = "") -> Review:
    now = timezone.now()
    with transaction.atomic():
        review = Review.objects.select_related("member").filter(pk=review_id).first()
        if review is None:
            raise UnknownReviewError()
        # Only one moderation wins, even if two staff members click at once.
        moved = Review.objects.filter(pk=review_id, status=Review.Status.PENDING).update(
            status=status,
            moderated_at=now,
            moderated_by=actor if actor is not None and actor.is_authenticated else None,
            reject_reason=reason[:200],
        )
        if not moved:
            raise ReviewNotPendingError()
        if status == Review.Status.APPROVED:
            activity_record(
                member=review.member,
                kind=ActivityKind.REVIEW_APPROVED,
                data={"review_id": review.pk, "kind": review.kind},
                source="staff",
                actor=actor,
            )
    review.refresh_from_db()
    return review


def review_approve(*, review_id: int, actor: User | None) -> Review:
    return _moderate(review_id=review_id, actor=actor, status=Review.Status.APPROVED)


def review_reject(*, review_id: int, actor: User | None, reason: str = "") -> Review:
    return _moderate(review_id=review_id, actor=actor, status=Review.Status.REJECTED, reason=reason)
