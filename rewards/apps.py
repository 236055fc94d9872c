from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class RewardsConfig(AppConfig):
    name = "rewards"
    verbose_name = _("Rewards")

    def ready(self) -> None:
        from members.activity import Kind, consumer_register
        from members.api.summary import summary_extender_register
        from members.pages import panel_register
        from rewards import consumers, views

        summary_extender_register("rewards", consumers.member_summary_points)
        panel_register(name="rewards.points", order=10, render=views.points_panel)
        consumer_register(
            name="rewards.event_points",
            kinds=[
                Kind.JOINED,
                Kind.PROFILE_UPDATED,
                Kind.REVIEW_APPROVED,
                Kind.REFERRAL_COMPLETED,
            ],
            handler=consumers.event_points_from_activity,
        )
