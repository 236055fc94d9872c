"""The data-quality page's nightly counts, kept 90 days for its trend (docs/data-quality.md).

One row per day (Europe/Stockholm): how many members, products and purchases had each
problem that night. Counts only, no member in them.
"""

from __future__ import annotations

from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

__all__ = ["DataQualitySnapshot"]


class DataQualitySnapshot(models.Model):
    # The day the counts describe (Stockholm); a second snapshot the same day replaces them.
    taken_on = models.DateField(_("day"), unique=True)
    taken_at = models.DateTimeField(_("taken"), default=timezone.now)
    # {count code: number} (campaigns.data_quality.counts.COUNTS).
    counts = models.JSONField(_("counts"), default=dict)

    class Meta:
        ordering = ["-taken_on"]
        # Read-only: rows are written by the nightly task only. The view permission opens
        # the data-quality page (the data protection officer, marketers, administrators).
        default_permissions = ("view",)
        verbose_name = _("data-quality snapshot")
        verbose_name_plural = _("data quality")

    def __str__(self) -> str:
        return str(self.taken_on)
