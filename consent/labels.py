"""Plain-language labels for consent's codes that have no model choices (see
``members.labels``)."""

from __future__ import annotations

from django.utils.functional import Promise
from django.utils.translation import gettext_lazy as _

# ``AccessLog.view``: which staff view showed the member's data.
ACCESS_VIEW_LABELS: dict[str, Promise] = {
    "view": _("Opened the member record"),
    "change": _("Changed the member record"),
    "history": _("Opened the record's history"),
    "consent": _("Recorded consent given in store"),
    "desk": _("Opened the member at the staff desk"),
}
