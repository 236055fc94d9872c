"""The back-office import in a browser, in Swedish, with a real Celery worker (issue 15,
docs/import.md "In the back-office"): an administrator uploads a file of 2,500 members as a
dry run, the page waits for the worker and then shows the report; "Importera på riktigt"
runs it, the page follows the worker's progress and shows what the import did, without a
reload by hand."""

from __future__ import annotations

import pytest
from django.conf import settings
from django.test import Client
from playwright.sync_api import expect

from config.celery import app
from members.models import ImportJob, Member
from members.roles import ADMINISTRATOR
from tests import factories

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]
DESKTOP = {"width": 1280, "height": 900}
HEADER = (
    "external_id;first_name;last_name;email;phone;birth_date;postcode;home_store;joined_at;language"
)


def _members_file(count: int) -> bytes:
    rows = [
        f"K-{n};Åsa;Öberg{n};asa{n}@example.se;070-{n:07d};1984-03-01;114 55;;2019-06-14 14:05;sv"
        for n in range(1, count + 1)
    ]
    rows.append("K-BAD;Bo;Ek;inte-en-adress;;2090-01-01;;;2020-01-01;sv")
    return ("\r\n".join([HEADER, *rows]) + "\r\n").encode("cp1252")


def _pause(queue: str) -> None:
    app.control.cancel_consumer(queue, reply=True)


def _resume(queue: str) -> None:
    app.control.add_consumer(queue, reply=True)


def test_an_administrator_checks_then_imports_a_file_and_follows_the_progress(
    live_server, new_page, celery_worker_process, tmp_path
) -> None:
    queue = settings.CELERY_TASK_DEFAULT_QUEUE
    admin = factories.staff_user(role=ADMINISTRATOR)
    client = Client()
    client.force_login(admin)
    page = new_page(locale="sv-SE", viewport=DESKTOP)
    page.context.add_cookies(
        [
            {
                "name": "sessionid",
                "value": client.cookies["sessionid"].value,
                "url": live_server.url,
            },
            {"name": "django_language", "value": "sv", "url": live_server.url},
        ]
    )
    upload = tmp_path / "medlemmar.csv"
    upload.write_bytes(_members_file(2500))

    # when the administrator uploads the file as a dry run while the worker is busy elsewhere
    _pause(queue)
    page.goto(live_server.url + "/admin/members/importjob/add/")
    page.get_by_label("Filen innehåller").select_option("members")
    page.get_by_label("Fil:", exact=True).set_input_files(str(upload))
    expect(
        page.get_by_label("Provkörning: kontrollera filen och räkna, skriv ingenting")
    ).to_be_checked()
    page.get_by_role("button", name="Ladda upp och kontrollera").click()

    # then the page says it waits for the worker, and shows the report once the worker is done
    expect(page.get_by_role("status")).to_have_text("Väntar på workern")
    _resume(queue)
    expect(page.get_by_text("Vad en riktig import skulle göra")).to_be_visible(timeout=30_000)
    expect(
        page.locator("code").filter(has_text="imported=2500 unchanged=0 rejected=1")
    ).to_be_visible()
    expect(page.get_by_text('rad 2502; email; "inte-en-adress"')).to_be_visible()
    expect(page.get_by_text('rad 2502; birth_date; "2090-01-01"')).to_be_visible()
    assert Member.objects.count() == 0

    # when they import for real, the worker again busy for a moment
    _pause(queue)
    page.get_by_role("button", name="Importera på riktigt").click()
    progress = page.get_by_label("Förlopp")
    expect(progress).to_be_visible()
    expect(page.get_by_role("status")).to_have_text("Väntar på workern")
    _resume(queue)

    # then the page follows the worker to the end by itself and shows what the import did
    expect(page.get_by_text("Vad importen gjorde")).to_be_visible(timeout=60_000)
    expect(
        page.locator("code").filter(has_text="imported=2500 unchanged=0 rejected=1")
    ).to_be_visible()
    assert Member.objects.count() == 2500
    real = ImportJob.objects.filter(dry_run=False).get()
    assert (real.done, real.total, real.status) == (2500, 2500, "done")
    assert real.file_path == ""
