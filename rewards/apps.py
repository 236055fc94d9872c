from importlib import import_module

from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class RewardsConfig(AppConfig):
    name = "rewards"
    verbose_name = _("Rewards")

    def ready(self) -> None:
        from members.activity import Kind, consumer_register
        from members.api.summary import summary_extender_register
        from members.pages import panel_register
        from rewards import consumers, desk, duplicates, import_jobs, merging, privacy, views
        from rewards.api.serializers import BalanceSerializer

        summary_extender_register(
            "rewards",
            consumers.member_summary_points,
            fields={"points": BalanceSerializer},
        )
        panel_register(name="rewards.points", order=10, render=views.points_panel)
        consumer_register(
            name="rewards.event_points",
            kinds=[
                Kind.JOINED,
                Kind.PROFILE_UPDATED,
                Kind.REVIEW_APPROVED,
                Kind.REFERRAL_COMPLETED,
                Kind.INTERESTS_CHANGED,
            ],
            handler=consumers.event_points_from_activity,
        )
        # "Vad gillar du?" says what telling earns (rules: interests_told).
        from consent.interests_step import interests_step_hint_register
        from rewards.rules.events import interests_points_hint

        interests_step_hint_register(name="rewards.points", hint=interests_points_hint)
        privacy.register()
        merging.register()
        desk.desk_sections_register()
        import_jobs.register()
        # The duplicate review page's points panel (members.duplicate_panels).
        duplicates.register()
        self._ready_loyalty()
        # Each package's back-office registers its model admins when imported; the admin's
        # autodiscovery looks for rewards.admin only, so the packages' are named here.
        for package in ("ledger", "purchases", "rules", "loyalty"):
            import_module(f"rewards.{package}.admin")

    def _ready_loyalty(self) -> None:
        """Tiers, benefits, challenges, referrals and the member pages (docs/rewards.md)."""
        from rest_framework import serializers

        from members.activity import Kind, consumer_register
        from members.api.summary import summary_extender_register
        from members.pages import panel_register
        from rewards.loyalty import challenges, referrals, tier_ladder, tiers
        from rewards.loyalty import views as loyalty_views
        from rewards.rules.earning import bonus_provider_register, rules_cache_clear_register

        bonus_provider_register(name="rewards.benefits", provider=tiers.benefit_bonus_rules)
        rules_cache_clear_register(clear=tier_ladder.ladder_cache_clear)
        summary_extender_register(
            "rewards.benefits",
            tiers.member_summary_benefits,
            fields={
                "benefits": lambda: serializers.ListField(
                    child=serializers.CharField(),
                    help_text="Codes of the tier benefits the member chose for this period.",
                )
            },
        )
        panel_register(name="rewards.tier", order=12, render=loyalty_views.tier_panel)
        panel_register(name="rewards.challenge", order=25, render=loyalty_views.challenge_panel)
        consumer_register(
            name="rewards.challenges",
            kinds=challenges.CONSUMED_KINDS,
            handler=challenges.challenges_from_activity,
        )
        consumer_register(
            name="rewards.referrals",
            kinds=[Kind.PURCHASED, Kind.PURCHASE_CLAIMED],
            handler=referrals.referrals_from_activity,
        )
