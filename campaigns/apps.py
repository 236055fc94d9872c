from importlib import import_module

from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class CampaignsConfig(AppConfig):
    name = "campaigns"
    verbose_name = _("Campaigns")

    def ready(self) -> None:
        from campaigns import desk, merging, privacy, selectors
        from campaigns.offers import offer_redemptions_record, offer_voucher_used_record
        from campaigns.personalisation import registration as personalisation
        from campaigns.triggers import EVENT_TRIGGERS, trigger_event_handle
        from members.activity import Kind, consumer_register
        from rewards.rules.earning import bonus_provider_register

        # Activated bonus offers apply when the ledger earns (rewards never imports us).
        bonus_provider_register(name="campaigns.offers", provider=selectors.bonus_rules)
        consumer_register(
            name="campaigns.triggers",
            kinds=list(EVENT_TRIGGERS),
            handler=trigger_event_handle,
        )
        consumer_register(
            name="campaigns.redemptions",
            kinds=[Kind.PURCHASED],
            handler=offer_redemptions_record,
        )
        consumer_register(
            name="campaigns.reward_redemptions",
            kinds=[Kind.VOUCHER_USED],
            handler=offer_voucher_used_record,
        )
        privacy.register()
        merging.register()
        personalisation.register()
        desk.desk_register()
        # Personalisation's back-office pages register their model admins when imported; the
        # admin's autodiscovery finds campaigns.admin only, so they are named here.
        import_module("campaigns.personalisation.admin")
        import_module("campaigns.data_quality.admin")
        try:
            from campaigns import views
            from members.pages import panel_register

            panel_register(name="campaigns.offers", order=20, render=views.offers_panel)
        except ImportError:  # pragma: no cover - the member pages come with views.py
            pass
