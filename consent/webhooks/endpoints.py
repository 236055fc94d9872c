"""Endpoints: register, change, rotate the secret, enable again (docs/webhooks.md).

An endpoint belongs to an integration (an API key) or a store. It may subscribe only to the
event types the integration's scopes allow (``members.outbox.EVENT_TYPES``, each type's
scope); a store's own endpoint has the scopes of the store's keys that are not revoked.
"""

from __future__ import annotations

import datetime
from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from consent.models import Purpose, WebhookEndpoint
from consent.webhooks.payloads import PERSONAL_KIND_LABELS, personal_kinds_allowed
from consent.webhooks.security import WebhookUrlRefusedError, url_check
from consent.webhooks.signing import secret_new
from members.models import ApiKey, Store, User
from members.outbox import EVENT_TYPES, event_types_visible

EDITABLE = (
    "url",
    "description",
    "event_types",
    "api_key",
    "store",
    "purpose",
    "recipient",
    "reason_sv",
    "reason_en",
    "personal_data",
)


def endpoint_scopes(*, api_key: ApiKey | None, store: Store | None) -> tuple[set[str], int | None]:
    """The scopes an endpoint acts with and the store it is bound to."""
    if api_key is not None:
        scopes = set() if api_key.revoked_at is not None else set(api_key.scopes)
        return scopes, api_key.store_id
    if store is not None:
        scopes = set()
        for key_scopes in ApiKey.objects.filter(store=store, revoked_at=None).values_list(
            "scopes", flat=True
        ):
            scopes.update(key_scopes)
        return scopes, store.pk
    return set(), None


def webhook_endpoint_validate(fields: dict[str, Any]) -> None:
    """Raise a ``ValidationError`` per field for what may not be saved."""
    errors: dict[str, list[str]] = {}
    api_key, store = fields.get("api_key"), fields.get("store")
    if api_key is None and store is None:
        errors.setdefault("api_key", []).append(
            _("Choose the integration or the store the endpoint belongs to.")
        )
    try:
        url_check(fields.get("url") or "")
    except WebhookUrlRefusedError as exc:
        errors.setdefault("url", []).append(exc.message)
    types = list(fields.get("event_types") or [])
    unknown = [t for t in types if t not in EVENT_TYPES]
    if not types:
        errors.setdefault("event_types", []).append(_("Choose at least one event type."))
    elif unknown:
        errors.setdefault("event_types", []).append(
            _("Unknown event types: %(types)s.") % {"types": ", ".join(unknown)}
        )
    elif api_key is not None or store is not None:
        scopes, _store = endpoint_scopes(api_key=api_key, store=store)
        visible = set(event_types_visible(scopes))
        refused = [t for t in types if t not in visible]
        if refused:
            errors.setdefault("event_types", []).append(
                _(
                    "The integration's scopes do not allow %(types)s. Give the key the scope "
                    "(%(scopes)s) first, or choose other events."
                )
                % {
                    "types": ", ".join(refused),
                    "scopes": ", ".join(sorted({EVENT_TYPES[t].scope for t in refused})),
                }
            )
    purpose: Purpose | None = fields.get("purpose")
    personal = list(fields.get("personal_data") or [])
    if purpose is not None and personal:
        allowed = set(personal_kinds_allowed(purpose))
        refused = [k for k in personal if k not in allowed]
        if refused:
            errors.setdefault("personal_data", []).append(
                _("The purpose “%(purpose)s” does not allow sending: %(kinds)s.")
                % {
                    "purpose": purpose.name,
                    "kinds": ", ".join(str(PERSONAL_KIND_LABELS.get(k, k)) for k in refused),
                }
            )
    if errors:
        raise ValidationError(errors)


def webhook_endpoint_create(
    *, created_by: User | None = None, **fields: Any
) -> tuple[WebhookEndpoint, str]:
    """A new endpoint and its secret, which is shown once."""
    webhook_endpoint_validate(fields)
    endpoint = WebhookEndpoint(
        **{k: fields.get(k) for k in EDITABLE if k in fields},
        secret=secret_new(),
        created_by=created_by,
    )
    endpoint.description = endpoint.description or ""
    endpoint.personal_data = list(fields.get("personal_data") or [])
    endpoint.save()
    return endpoint, endpoint.secret


def webhook_endpoint_update(*, endpoint: WebhookEndpoint, **fields: Any) -> WebhookEndpoint:
    merged = {k: getattr(endpoint, k) for k in EDITABLE}
    merged.update(fields)
    webhook_endpoint_validate(merged)
    for key in EDITABLE:
        if key in fields:
            setattr(endpoint, key, fields[key])
    endpoint.save()
    return endpoint


def webhook_endpoint_secret_rotate(
    *, endpoint: WebhookEndpoint, overlap: datetime.timedelta, now: datetime.datetime | None = None
) -> str:
    """A new secret; the old one keeps signing (as a second signature) for ``overlap``."""
    now = now or timezone.now()
    with transaction.atomic():
        locked = WebhookEndpoint.objects.select_for_update().get(pk=endpoint.pk)
        locked.previous_secret = locked.secret
        locked.previous_secret_until = now + overlap
        locked.secret = secret_new()
        locked.save(update_fields=["secret", "previous_secret", "previous_secret_until"])
    endpoint.refresh_from_db()
    return endpoint.secret


def webhook_endpoint_enable(*, endpoint: WebhookEndpoint) -> None:
    """Turn a disabled endpoint on again; what waited is sent (and nothing in between is
    lost: deliveries were made while it was off only when replayed)."""
    WebhookEndpoint.objects.filter(pk=endpoint.pk).update(
        active=True, disabled_at=None, disabled_reason="", failures_in_row=0
    )


def endpoint_secrets(endpoint: WebhookEndpoint, now: datetime.datetime) -> list[str]:
    """The secrets that sign now: the current one, and the previous one during its overlap."""
    found = [endpoint.secret]
    if (
        endpoint.previous_secret
        and endpoint.previous_secret_until is not None
        and endpoint.previous_secret_until > now
    ):
        found.append(endpoint.previous_secret)
    return found
