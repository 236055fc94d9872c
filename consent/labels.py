"""Plain-language labels for consent's codes that have no model choices (see
``members.labels``)."""

from __future__ import annotations

from django.apps import apps
from django.utils.functional import Promise
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from members.labels import label_for

# ``AccessLog.view``: which staff view showed the member's data.
ACCESS_VIEW_LABELS: dict[str, Promise] = {
    "view": _("Opened the member record"),
    "change": _("Changed the member record"),
    "history": _("Opened the record's history"),
    "consent": _("Recorded consent given in store"),
    "desk": _("Opened the member at the staff desk"),
    "points_page": _("Opened the member's points page"),
    "campaign_preview": _("Previewed a campaign as the member"),
    "duplicate_review": _("Compared the member with a possible duplicate"),
}
LIST_VIEW_PREFIX = "list:"

# ``PartnerShare.data_categories``: the kinds of data passed to a partner, as the member reads
# them on Mina data.
DATA_CATEGORY_LABELS: dict[str, Promise] = {
    "name": _("name"),
    "email": _("email address"),
    "phone": _("mobile number"),
    "birth_date": _("birth date"),
    "postcode": _("postcode"),
    "membership_number": _("membership number"),
    "purchases": _("purchases"),
}


def data_category_label(code: str) -> str:
    """A kind of data shared with a partner in words; an unlisted code with its underscores
    as spaces."""
    label = DATA_CATEGORY_LABELS.get(code)
    return str(label) if label is not None else code.replace("_", " ")


def access_view_label(code: str) -> str:
    """An access-log view in words: a listed code, or a list of one member's rows
    (``list:<app>.<model>``, ``members.admin_guard``) named by the model."""
    if code.startswith(LIST_VIEW_PREFIX):
        try:
            model = apps.get_model(code.removeprefix(LIST_VIEW_PREFIX))
        except (LookupError, ValueError):
            return code
        return gettext("Listed the member's %(rows)s") % {"rows": model._meta.verbose_name_plural}
    return label_for(ACCESS_VIEW_LABELS, code)
