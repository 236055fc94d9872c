"""Third-party apps as staff see them in the back-office."""

from __future__ import annotations

from django.utils.translation import gettext_lazy as _
from django.utils.translation import gettext_noop
from django_celery_beat.apps import BeatConfig

# django-celery-beat's model names (its own msgids, translated in locale/sv; django-celery-beat
# ships no Swedish). Listed here so that makemessages keeps them in the project's catalogue.
BEAT_MODEL_NAMES = [
    gettext_noop("periodic task"),
    gettext_noop("periodic tasks"),
    gettext_noop("crontab"),
    gettext_noop("crontabs"),
    gettext_noop("interval"),
    gettext_noop("intervals"),
    gettext_noop("solar event"),
    gettext_noop("solar events"),
    gettext_noop("clocked"),
]

# django-allauth's msgids whose Swedish in allauth's catalogue reads wrong ("Epost-adress",
# "Epost"); the project's catalogue (LOCALE_PATHS) comes first, so these words win
# everywhere (a channel on Mina data read allauth's "Epost").
ALLAUTH_OVERRIDES = [
    gettext_noop("Email address"),
    gettext_noop("Email"),
]


class SchedulingConfig(BeatConfig):
    """django-celery-beat under a heading staff understand: "Schemaläggning" ("Scheduling"),
    not "Periodic Tasks" in English among the Swedish."""

    verbose_name = _("Scheduling")
