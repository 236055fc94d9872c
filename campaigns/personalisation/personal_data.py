"""Processing-register entries for the personalisation models (format: docs/architecture.md).

``campaigns/personal_data.py`` merges these into the app's ``PERSONAL_DATA`` and
``NOT_PERSONAL``. Affinities are aggregate statistics about products and categories, with no
member in them; recommendations are profiling of one member, kept until the member
withdraws the ``profiling`` consent (then deleted by the next nightly run, and hidden at once).
"""

_RECOMMENDATION = ("profiling", "until_withdrawn")

PERSONAL_DATA = {
    f"MemberRecommendation.{name}": _RECOMMENDATION
    for name in (
        "member",
        "rank",
        "product",
        "category",
        "score",
        "reason",
        "reason_product",
        "reason_category",
        "reason_interest",
        "reason_tier",
        "computed_at",
    )
}

NOT_PERSONAL = {
    "MemberRecommendation.id",
    *(
        f"{model}.{name}"
        for model in ("ProductAffinity", "CategoryAffinity")
        for name in ("id", "basis", "pair_count", "support", "confidence", "lift", "computed_at")
    ),
    "ProductAffinity.product_a",
    "ProductAffinity.product_b",
    "CategoryAffinity.category_a",
    "CategoryAffinity.category_b",
    "InterestCategory.id",
    "InterestCategory.interest",
    "InterestCategory.category",
    *(
        f"PersonalisationRun.{name}"
        for name in (
            "id",
            "started_at",
            "finished_at",
            "baskets",
            "histories",
            "product_pairs",
            "category_pairs",
            "members_scored",
            "recommendations",
        )
    ),
}
