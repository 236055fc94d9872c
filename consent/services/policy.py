"""Policy versions: the texts members consent to."""

from __future__ import annotations

import datetime
import hashlib

from django.core.exceptions import ValidationError
from django.utils.translation import gettext as _

from consent.models import ConsentEvent, PolicyVersion

Source = ConsentEvent.Source


def policy_text_hash(*, text_sv: str, text_en: str) -> str:
    return hashlib.sha256(f"sv\n{text_sv}\nen\n{text_en}".encode()).hexdigest()


def policy_version_create(
    *, version: str, text_sv: str, text_en: str, effective_at: datetime.datetime
) -> PolicyVersion:
    """Publish a policy version. Its texts are hashed so a consent proves exactly what was shown."""
    if not version.strip() or not text_sv.strip() or not text_en.strip():
        raise ValidationError(_("A version needs a name and both texts."))
    return PolicyVersion.objects.create(
        version=version.strip(),
        text_sv=text_sv,
        text_en=text_en,
        content_hash=policy_text_hash(text_sv=text_sv, text_en=text_en),
        effective_at=effective_at,
    )
