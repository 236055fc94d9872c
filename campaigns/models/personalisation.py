"""Product and category affinities, and each member's next best offer.

Affinities are aggregate statistics over purchase lines (no member appears in them): for a
pair of items A -> B, how many transactions held both, and the support, confidence and lift
of "A, so also B". A transaction is either one purchase (``basket``: bought together) or
one member's whole history (``member``: bought by the same people, at any time). They are
recomputed nightly in one swap (``campaigns.personalisation.affinities_compute``).

``MemberRecommendation`` rows are each member's ranked recommendations (rank 1 is the
next best offer) with the reason in plain words. They are profiling: computed only for
members who consented to the ``profiling`` purpose, hidden at once when that consent is
withdrawn, deleted by the next run, by erasure and by retention.
"""

from __future__ import annotations

from django.db import models
from django.db.models import F, Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from consent.models import Interest
from members.models import Member
from rewards.models import Category, Product, Tier

__all__ = [
    "AffinityBasis",
    "CategoryAffinity",
    "InterestCategory",
    "MemberRecommendation",
    "PersonalisationRun",
    "ProductAffinity",
]


class AffinityBasis(models.TextChoices):
    BASKET = "basket", _("Bought in the same purchase")
    MEMBER = "member", _("Bought by the same member")


def _affinity_constraints(prefix: str, a: str, b: str) -> list[models.BaseConstraint]:
    return [
        models.UniqueConstraint(fields=["basis", a, b], name=f"{prefix}_unique_pair"),
        models.CheckConstraint(condition=~Q(**{a: F(b)}), name=f"{prefix}_distinct_items"),
        models.CheckConstraint(
            condition=Q(pair_count__gte=1)
            & Q(support__gt=0)
            & Q(support__lte=1)
            & Q(confidence__gt=0)
            & Q(confidence__lte=1)
            & Q(lift__gt=0),
            name=f"{prefix}_measures_in_range",
        ),
    ]


class ProductAffinity(models.Model):
    """Members who bought ``product_a`` also bought ``product_b`` (directed: A -> B).

    ``support`` = P(A and B), ``confidence`` = P(B | A), ``lift`` = P(B | A) / P(B): above 1
    means A makes B more likely than it is on average.
    """

    basis = models.CharField(_("basis"), max_length=10, choices=AffinityBasis.choices)
    product_a = models.ForeignKey(
        Product, verbose_name=_("bought"), on_delete=models.CASCADE, related_name="+"
    )
    product_b = models.ForeignKey(
        Product, verbose_name=_("also bought"), on_delete=models.CASCADE, related_name="+"
    )
    pair_count = models.PositiveIntegerField(_("transactions with both"))
    support = models.FloatField(_("support"))
    confidence = models.FloatField(_("confidence"))
    lift = models.FloatField(_("lift"))
    computed_at = models.DateTimeField(_("computed"), default=timezone.now)

    class Meta:
        ordering = ["basis", "product_a", "-lift"]
        verbose_name = _("product affinity")
        verbose_name_plural = _("product affinities")
        constraints = _affinity_constraints("product_affinity", "product_a", "product_b")
        indexes = [
            models.Index(fields=["product_a", "basis", "-lift"], name="product_affinity_a_idx")
        ]

    def __str__(self) -> str:
        return f"{self.product_a_id} -> {self.product_b_id} ({self.basis}, lift {self.lift:.2f})"


class CategoryAffinity(models.Model):
    """Members who bought in ``category_a`` also bought in ``category_b`` (A -> B)."""

    basis = models.CharField(_("basis"), max_length=10, choices=AffinityBasis.choices)
    category_a = models.ForeignKey(
        Category, verbose_name=_("bought in"), on_delete=models.CASCADE, related_name="+"
    )
    category_b = models.ForeignKey(
        Category, verbose_name=_("also bought in"), on_delete=models.CASCADE, related_name="+"
    )
    pair_count = models.PositiveIntegerField(_("transactions with both"))
    support = models.FloatField(_("support"))
    confidence = models.FloatField(_("confidence"))
    lift = models.FloatField(_("lift"))
    computed_at = models.DateTimeField(_("computed"), default=timezone.now)

    class Meta:
        ordering = ["basis", "category_a", "-lift"]
        verbose_name = _("category affinity")
        verbose_name_plural = _("category affinities")
        constraints = _affinity_constraints("category_affinity", "category_a", "category_b")
        indexes = [
            models.Index(fields=["category_a", "basis", "-lift"], name="category_affinity_a_idx")
        ]

    def __str__(self) -> str:
        return f"{self.category_a_id} -> {self.category_b_id} ({self.basis})"


class InterestCategory(models.Model):
    """Which categories an interest is about ("running" -> running shoes, running wear).

    Marketers keep this map in the back-office; an interest whose code equals a category's
    code needs no row.
    """

    interest = models.ForeignKey(
        Interest, verbose_name=_("interest"), on_delete=models.CASCADE, related_name="+"
    )
    category = models.ForeignKey(
        Category, verbose_name=_("category"), on_delete=models.CASCADE, related_name="+"
    )

    class Meta:
        ordering = ["interest", "category"]
        verbose_name = _("interest category")
        verbose_name_plural = _("interest categories")
        constraints = [
            models.UniqueConstraint(fields=["interest", "category"], name="interest_category_once")
        ]

    def __str__(self) -> str:
        return f"{self.interest_id} -> {self.category_id}"


class MemberRecommendation(models.Model):
    """One recommended product for a member, ranked; rank 1 is the member's next best offer.

    The reason names what it follows from, so that it can be said in the member's language:
    a product or category they bought, an interest they chose, their tier, or popularity.
    """

    class Reason(models.TextChoices):
        BOUGHT_TOGETHER = "bought_together", _("Often bought with something you bought")
        BOUGHT_BY_SAME = "bought_by_same", _("Bought by members who bought what you bought")
        CATEGORY = "category", _("Goes with a category you buy in")
        INTEREST = "interest", _("Matches an interest you chose")
        TIER = "tier", _("Popular in your tier")
        POPULAR = "popular", _("Popular right now")

    member = models.ForeignKey(
        Member,
        verbose_name=_("member"),
        on_delete=models.CASCADE,
        related_name="recommendations",
    )
    rank = models.PositiveSmallIntegerField(_("rank"))
    product = models.ForeignKey(
        Product, verbose_name=_("product"), on_delete=models.CASCADE, related_name="+"
    )
    category = models.ForeignKey(
        Category,
        verbose_name=_("category"),
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
    )
    score = models.FloatField(_("score"))
    reason = models.CharField(_("reason"), max_length=20, choices=Reason.choices)
    reason_product = models.ForeignKey(
        Product,
        verbose_name=_("because of product"),
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
    )
    reason_category = models.ForeignKey(
        Category,
        verbose_name=_("because of category"),
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
    )
    reason_interest = models.ForeignKey(
        Interest,
        verbose_name=_("because of interest"),
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
    )
    reason_tier = models.ForeignKey(
        Tier,
        verbose_name=_("because of tier"),
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
    )
    computed_at = models.DateTimeField(_("computed"), default=timezone.now)

    class Meta:
        ordering = ["member", "rank"]
        verbose_name = _("member recommendation")
        verbose_name_plural = _("member recommendations")
        constraints = [
            models.UniqueConstraint(fields=["member", "rank"], name="recommendation_member_rank"),
            models.UniqueConstraint(
                fields=["member", "product"], name="recommendation_member_product"
            ),
            models.CheckConstraint(condition=Q(rank__gte=1), name="recommendation_rank_positive"),
        ]

    def __str__(self) -> str:
        return f"{self.member_id} #{self.rank}: {self.product_id} ({self.reason})"


class PersonalisationRun(models.Model):
    """One run of the nightly job: what it read and wrote, shown in the back-office."""

    started_at = models.DateTimeField(_("started"), default=timezone.now)
    finished_at = models.DateTimeField(_("finished"), null=True, blank=True)
    baskets = models.PositiveIntegerField(_("purchases read"), default=0)
    histories = models.PositiveIntegerField(_("member histories read"), default=0)
    product_pairs = models.PositiveIntegerField(_("product affinities"), default=0)
    category_pairs = models.PositiveIntegerField(_("category affinities"), default=0)
    members_scored = models.PositiveIntegerField(_("members with recommendations"), default=0)
    recommendations = models.PositiveIntegerField(_("recommendations"), default=0)

    class Meta:
        ordering = ["-started_at", "-id"]
        verbose_name = _("personalisation run")
        verbose_name_plural = _("personalisation runs")

    def __str__(self) -> str:
        return f"run #{self.pk} {self.started_at:%Y-%m-%d %H:%M}"
