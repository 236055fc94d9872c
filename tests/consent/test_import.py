"""Importing consents collected elsewhere: one event per change, bad rows reported."""

from __future__ import annotations

import io

import pytest
from django.core.management import call_command

from consent.models import ConsentEvent

pytestmark = pytest.mark.django_db


def test_consent_import_records_each_row_with_source_import(tmp_path, member):
    path = tmp_path / "consents.csv"
    path.write_text(
        "membership_number,purpose,granted,policy_version\n"
        f"{member.formatted_membership_number},marketing_email,ja,2026-1\n"
        f"{member.membership_number},marketing_email,yes,\n"
        f"{member.membership_number},membership,no,\n"
        "0000000000,profiling,yes,\n"
        f"{member.membership_number},profiling,maybe,\n",
        encoding="utf-8",
    )
    out, err = io.StringIO(), io.StringIO()

    call_command("consent_import", str(path), stdout=out, stderr=err)

    [event] = ConsentEvent.objects.filter(member=member)
    assert (event.purpose.code, event.source, event.policy_version.version) == (
        "marketing_email",
        "import",
        "2026-1",
    )
    assert "imported 1, unchanged 1, failed 3" in out.getvalue()
    assert "line 4:" in err.getvalue()
    assert "line 5:" in err.getvalue()
    assert "line 6:" in err.getvalue()
