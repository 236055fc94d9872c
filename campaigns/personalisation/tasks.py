"""Celery tasks for personalisation: the nightly affinity and next-best-offer job.

Listed in ``CELERY_IMPORTS`` (config/settings/base.py), since only ``<app>.tasks`` modules are
autodiscovered. Beat runs :func:`personalisation_nightly` once a night.
"""

from __future__ import annotations

from celery import shared_task

from campaigns.personalisation.recommendations import personalisation_run


@shared_task(
    name="campaigns.personalisation_tasks.personalisation_nightly",
    acks_late=True,
    time_limit=3600,
    soft_time_limit=3300,
)
def personalisation_nightly() -> int:
    """Recompute affinities and every consenting member's recommendations. Safe to run twice
    (each step replaces what it computes), so a redelivered task just repeats the work."""
    return personalisation_run().pk
