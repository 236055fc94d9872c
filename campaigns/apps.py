from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class CampaignsConfig(AppConfig):
    name = "campaigns"
    verbose_name = _("Campaigns")

    def ready(self) -> None:
        from campaigns import selectors, services
        from members.activity import Kind, consumer_register
        from rewards.rules.earning import bonus_provider_register

        # Activated bonus offers apply when the ledger earns (rewards never imports us).
        bonus_provider_register(name="campaigns.offers", provider=selectors.bonus_rules)
        consumer_register(
            name="campaigns.triggers",
            kinds=list(services.EVENT_TRIGGERS),
            handler=services.trigger_event_handle,
        )
        consumer_register(
            name="campaigns.redemptions",
            kinds=[Kind.PURCHASED],
            handler=services.offer_redemptions_record,
        )
        consumer_register(
            name="campaigns.reward_redemptions",
            kinds=[Kind.VOUCHER_USED],
            handler=services.offer_voucher_used_record,
        )
        try:
            from campaigns import views
            from members.pages import panel_register

            panel_register(name="campaigns.offers", order=20, render=views.offers_panel)
        except ImportError:  # pragma: no cover - the member pages come with views.py
            pass
