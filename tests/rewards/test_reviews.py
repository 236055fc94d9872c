"""Reviews and social posts: submitted by members, moderated by staff in admin; approval
awards the event rule's points within its caps, once."""

from __future__ import annotations

import pytest
from django.core.exceptions import ValidationError
from django.test import Client

from members.activity import Kind, activity_consume
from members.models import ActivityEvent
from rewards.errors import ReviewNotPendingError, TooManyPendingReviewsError
from rewards.loyalty import reviews
from rewards.models import EventRule, PointBalance, Review
from tests import factories
from tests.factories import rewards as rf

pytestmark = pytest.mark.django_db
TEXT = "Bra service och snabb hjälp med skorna!"


@pytest.fixture
def rules():
    return (
        rf.event_rule(event=EventRule.Event.REVIEW, points=50, cap=2, period="month"),
        rf.event_rule(event=EventRule.Event.SOCIAL_SHARE, points=30, cap=1, period="week"),
    )


def _points(member) -> int:
    balance = PointBalance.objects.filter(member=member).first()
    return balance.available if balance else 0


def _approve(review: Review, staff=None) -> None:
    reviews.review_approve(review_id=review.pk, actor=staff)
    event = ActivityEvent.objects.filter(kind=Kind.REVIEW_APPROVED).order_by("-pk").first()
    assert event is not None
    activity_consume(event_id=event.pk)
    activity_consume(event_id=event.pk)  # a redelivery changes nothing


def test_review_approve_awards_points_within_the_cap(rules, member):
    # given three reviews (the review rule pays 50 points, twice a month)
    submitted = [reviews.review_submit(member=member, kind="review", text=TEXT) for _ in range(3)]
    assert _points(member) == 0

    # when staff approve all three
    for review in submitted:
        _approve(review)

    # then the member has points for two
    assert _points(member) == 100
    assert Review.objects.filter(member=member, status="approved").count() == 3


def test_social_post_earns_the_social_share_rule(rules, member):
    post = reviews.review_submit(member=member, kind="social", url="https://instagram.com/p/abc")
    _approve(post)
    assert _points(member) == 30


def test_review_reject_awards_nothing_and_moderation_happens_once(rules, member):
    review = reviews.review_submit(member=member, kind="review", text=TEXT)
    rejected = reviews.review_reject(review_id=review.pk, actor=None, reason="Off topic")
    assert rejected.status == "rejected"
    assert rejected.reject_reason == "Off topic"
    with pytest.raises(ReviewNotPendingError):
        reviews.review_approve(review_id=review.pk, actor=None)
    assert not ActivityEvent.objects.filter(kind=Kind.REVIEW_APPROVED).exists()
    assert _points(member) == 0


def test_review_submit_validation(member):
    with pytest.raises(ValidationError):
        reviews.review_submit(member=member, kind="review", text="Bra")
    with pytest.raises(ValidationError):
        reviews.review_submit(member=member, kind="social", url="javascript:alert(1)")
    with pytest.raises(ValidationError):
        reviews.review_submit(member=member, kind="poem", text=TEXT)
    for _ in range(reviews.MAX_PENDING):
        reviews.review_submit(member=member, kind="review", text=TEXT)
    with pytest.raises(TooManyPendingReviewsError):
        reviews.review_submit(member=member, kind="review", text=TEXT)
    assert Review.objects.count() == reviews.MAX_PENDING


def test_erasure_step_blanks_the_members_words(member):
    from rewards.privacy import erase_reviews

    reviews.review_submit(member=member, kind="social", url="https://example.se/anna")
    erase_reviews(member)
    review = Review.objects.get(member=member)
    assert (review.text, review.url) == ("", "")


def test_admin_moderation_queue_approve_action(rules, member, django_capture_on_commit_callbacks):
    # given a pending review and a store staff member (moderation is part of their role)
    review = reviews.review_submit(member=member, kind="review", text=TEXT)
    staff = factories.staff_user(role="Store staff")
    client = Client()
    client.force_login(staff)

    # when they open the queue, then the pending review is listed
    page = client.get("/admin/rewards/review/")
    assert page.status_code == 200
    assert TEXT[:20] in page.content.decode()

    # when they approve it with the admin action
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(
            "/admin/rewards/review/",
            {"action": "approve", "_selected_action": [review.pk]},
        )

    # then it is approved and the member's points rose
    assert response.status_code == 302
    review.refresh_from_db()
    assert review.status == "approved"
    assert review.moderated_by == staff
    assert _points(member) == 50


def test_admin_reject_action_asks_for_a_reason(rules, member):
    review = reviews.review_submit(member=member, kind="review", text=TEXT)
    client = Client()
    client.force_login(factories.staff_user(superuser=True))
    form = client.post(
        "/admin/rewards/review/", {"action": "reject", "_selected_action": [review.pk]}
    )
    assert form.status_code == 200
    assert 'name="reason"' in form.content.decode()
    done = client.post(
        "/admin/rewards/review/",
        {"action": "reject", "_selected_action": [review.pk], "reason": "Reklam"},
    )
    assert done.status_code == 302
    review.refresh_from_db()
    assert (review.status, review.reject_reason) == ("rejected", "Reklam")
