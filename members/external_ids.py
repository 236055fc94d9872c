"""External ids: the key an imported member had in the club's old system (members.imports)."""

from __future__ import annotations

from django.utils.crypto import salted_hmac

ERASED_PREFIX = "erased:"


def external_id_erased_form(external_id: str) -> str:
    """What an erased member keeps of the external id: a keyed hash (the site's secret), so
    an old import file cannot bring the person back and the id itself is gone. A form that
    is already erased stays as it is (erasing twice changes nothing)."""
    if external_id.startswith(ERASED_PREFIX):
        return external_id
    digest = salted_hmac("members.external_id.erased", external_id, algorithm="sha256")
    return ERASED_PREFIX + digest.hexdigest()[:56]
