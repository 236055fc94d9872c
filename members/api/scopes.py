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
    # The pull feed of events (GET /api/v1/events/, docs/webhooks.md): each event type also
    # needs its own scope (members.outbox.EVENT_TYPES), store-bound ones come from the key's
    # own store unless the key has events:all_stores.
    "events:read": _("Read the event feed (each event type also needs its own scope)"),
    "events:all_stores": _("See purchases, returns, check-ins and used vouchers of every store"),
    "purchases:read": _("Receive purchase and return events"),
}
