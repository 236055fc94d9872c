"""Scopes an integration key can be given. One key, one store, only what it needs."""

from django.utils.translation import gettext_lazy as _

SCOPES = {
    "members:read": _("Identify members and read their summary and balance"),
    "purchases:write": _("Record purchases and returns"),
    "points:read": _("Read balances and ledger entries"),
    "points:write": _("Reserve, capture, release and redeem points"),
    "checkins:write": _("Record check-ins at the door"),
    "vouchers:read": _("Validate vouchers and list a member's vouchers"),
    "vouchers:write": _("Redeem vouchers"),
}
