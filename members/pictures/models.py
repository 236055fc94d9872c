"""The picture fields a model carries (docs/pictures.md). Abstract: each app's migrations
add the columns to its own tables."""

from __future__ import annotations

from django.db import models
from django.utils.translation import gettext_lazy as _


class PictureFields(models.Model):
    """An image uploaded in the back-office. ``image`` names the largest size, and
    ``image_sizes`` every size as ``[width, height, name]``, smallest first. Both are written
    only by ``members.pictures.services`` (never the raw upload): the files hold no EXIF and
    their names are random and never reused, so they can be cached for ever."""

    image = models.FileField(_("image"), max_length=200, blank=True, editable=False)
    image_sizes = models.JSONField(_("image sizes"), default=list, blank=True, editable=False)
    image_alt_sv = models.CharField(
        _("image text (Swedish)"),
        max_length=200,
        blank=True,
        help_text=_("What the image shows, for screen readers. Empty: the name is read."),
    )
    image_alt_en = models.CharField(
        _("image text (English)"),
        max_length=200,
        blank=True,
        help_text=_("What the image shows, for screen readers. Empty: the name is read."),
    )

    class Meta:
        abstract = True

    def picture_title(self, language: str) -> str:
        """The item's name, read when the image has no text of its own."""
        return self.name_for(language)  # type: ignore[attr-defined]

    def image_alt_for(self, language: str) -> str:
        alt = self.image_alt_sv if language == "sv" else self.image_alt_en
        return alt or self.picture_title(language)
