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

        # consent's part of a merge (members.merging), after members' own (order 10).
        from consent.merging import consent_merge_step
        from members.merging import merge_step_register

        merge_step_register(name="consent", run=consent_merge_step, order=20)

        # "Vad gillar du?", offered once right after sign-up (consent.interests_step).
        from consent.interests_step import interests_step_url
        from members.signup_steps import signup_step_register

        signup_step_register(name="consent.interests", order=10, url=interests_step_url)

        # Webhooks (consent.webhooks): the outbox's hook, tasks, back-office, shares.
        from consent.webhooks import wiring

        wiring.register()

        # consent's columns in the member import (members.imports): the consents.
        from consent.imports import import_check, import_columns, import_write
        from members.imports import import_step_register

        import_step_register(
            name="consent", columns=import_columns, check=import_check, write=import_write
        )
