from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class ConsentConfig(AppConfig):
    name = "consent"
    verbose_name = _("Consent and privacy")

    def ready(self) -> None:
        from consent import desk, duplicates, privacy

        # Each app registers its export sections, erasure steps, "my data" sections and
        # retention jobs from its own ready() (consent.privacy_parts; docs/privacy.md);
        # members sits below consent, so consent registers members' parts with its own.
        privacy.register()
        desk.desk_register()
        # The duplicate review page's consent panel (members.duplicate_panels).
        duplicates.register()
