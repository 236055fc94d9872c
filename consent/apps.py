from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class ConsentConfig(AppConfig):
    name = "consent"
    verbose_name = _("Consent and privacy")

    def ready(self) -> None:
        from django.utils.module_loading import autodiscover_modules

        # Each app's optional privacy.py registers its export sections, erasure steps,
        # "my data" sections and retention jobs (consent.privacy_parts; docs/privacy.md).
        autodiscover_modules("privacy")
