"""`make run`, exactly as the README says, then the club's main journeys over HTTP only.

From an empty ``var/`` (``VAR_DIR``) and a free ``PORT``, with none of the test settings'
variables: the embedded PostgreSQL, migrations, the living demo, runserver, a real Celery
worker and beat on the filesystem broker. Then, through HTTP alone:

- staff create an API key in the back-office, as docs/integration-guide.md says;
- a till identifies the demo member and records a purchase; the points show as pending on
  the member's points page;
- the member claims a reward and gets a voucher;
- a marketer launches a small campaign in the back-office; the worker takes it to ``done``
  with deliveries ``sent``;
- the member requests an export and downloads it; the mail that says it is ready links to
  the port in use.

Ctrl-C (SIGINT to the process group) then stops everything, the database included.
"""

from __future__ import annotations

import datetime
import io
import json
import os
import re
import signal
import subprocess
import sys
import time
import uuid
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import requests

from tests.processes import free_port
from tests.smoke.forms import form_with, forms_in

pytestmark = pytest.mark.smoke

ROOT = Path(__file__).resolve().parents[2]
PASSWORD = "kundklubb-demo"
MEMBER = "medlem@demo.kundklubb.se"
ADMIN = "admin@demo.kundklubb.se"
MARKETER = "marknad@demo.kundklubb.se"
BOOT_TIMEOUT = 240  # the first run migrates and loads the demo (docs/benchmarks.md)
# What make test sets for the suite; `make run` on a laptop has none of it.
TEST_ONLY_VARIABLES = (
    "DATABASE_URL",
    "REDIS_URL",
    "CELERY_BROKER_URL",
    "CELERY_TASK_ALWAYS_EAGER",
    "DJANGO_SETTINGS_MODULE",
    "PRIVATE_ROOT",
    "MEDIA_ROOT",
    "CACHE_KEY_PREFIX",
    "SITE_URL",
    "VAR_DIR",
    "PORT",
)


@dataclass
class Club:
    base: str
    log: Path
    var_dir: Path

    def url(self, path: str) -> str:
        return self.base + path

    def output(self) -> str:
        return self.log.read_text(errors="replace")


def stop(process: subprocess.Popen[bytes]) -> int:
    """Ctrl-C as a terminal sends it: SIGINT to the whole process group."""
    try:
        os.killpg(process.pid, signal.SIGINT)
    except ProcessLookupError:
        return process.wait()
    try:
        # Worker warm shutdown, then the embedded PostgreSQL's own stop: well under a minute
        # alone, longer when the other xdist worker keeps both cores busy.
        return process.wait(timeout=120)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()
        raise


@pytest.fixture(scope="module")
def club(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Club]:
    var_dir = tmp_path_factory.mktemp("var")
    log = var_dir.parent / "make-run.log"
    port = free_port()
    env = {k: v for k, v in os.environ.items() if k not in TEST_ONLY_VARIABLES}
    env.update({"PORT": str(port), "VAR_DIR": str(var_dir)})
    with log.open("wb") as out:
        process = subprocess.Popen(
            ["make", "run"],
            cwd=ROOT,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
    club = Club(base=f"http://127.0.0.1:{port}", log=log, var_dir=var_dir)
    deadline = time.monotonic() + BOOT_TIMEOUT
    try:
        while True:
            if process.poll() is not None:
                pytest.fail(f"make run exited with {process.returncode}:\n{club.output()[-4000:]}")
            try:
                if requests.get(club.url("/"), timeout=2).status_code == 200:
                    break
            except requests.ConnectionError:
                pass
            if time.monotonic() > deadline:
                pytest.fail(
                    f"make run did not answer in {BOOT_TIMEOUT} s:\n{club.output()[-4000:]}"
                )
            time.sleep(0.5)
        yield club
    finally:
        returncode = stop(process)
    # make re-raises the SIGINT it got (-2); the launcher under it must have finished cleanly
    assert returncode in (0, -signal.SIGINT), club.output()[-3000:]
    assert "stopping the embedded PostgreSQL" in club.output()
    assert not (var_dir / "postgres" / "postmaster.pid").exists(), (
        "PostgreSQL still runs:\n" + club.output()[-3000:]
    )


def login(club: Club, email: str, *, admin: bool) -> requests.Session:
    session = requests.Session()
    path = "/admin/login/" if admin else "/konto/login/"
    page = session.get(club.url(path), timeout=10)
    form = form_with(page.text, "password")
    fields = {"username": email} if admin else {"login": email}
    answer = session.post(
        club.url(path),
        data=form.data(password=PASSWORD, **fields),
        headers={"Referer": club.url(path)},
        timeout=10,
    )
    assert answer.status_code == 200, answer.text[-2000:]
    assert "/login/" not in answer.url, f"{email} could not log in"
    return session


def submit(session: requests.Session, club: Club, page_url: str, field: str, **overrides):
    """Load ``page_url``, fill the form that has ``field`` and post it as a browser would."""
    page = session.get(club.url(page_url), timeout=10)
    assert page.status_code == 200, page.text[-2000:]
    form = form_with(page.text, field)
    action = form.action or page_url
    return session.post(
        club.url(action) if action.startswith("/") else page.url,
        data=form.data(**overrides),
        headers={"Referer": page.url},
        timeout=30,
    )


def notices(html: str) -> str:
    """The page's messages and form errors, for a failure that says why."""
    found = re.findall(
        r'<(?:ul|p) class="(?:messagelist|errornote|errorlist)[^"]*">(.*?)</(?:ul|p)>', html, re.S
    )
    return " | ".join(re.sub(r"<[^>]+>|\s+", " ", f).strip() for f in found) or html[-1500:]


def wait_for(what: str, check, timeout: float = 60.0):
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            pytest.fail(f"timed out waiting for {what}")
        time.sleep(0.5)


def pending_points(session: requests.Session, club: Club) -> int:
    page = session.get(club.url("/mina-sidor/poang/"), timeout=10)
    assert page.status_code == 200
    found = re.search(r'data-testid="pending">\s*([\d\s\u00a0]+)\s*p<', page.text)
    assert found, "the points page shows no pending points"
    return int(re.sub(r"\D", "", found.group(1)))


def test_the_club_runs_as_the_readme_says(club: Club) -> None:
    admin = login(club, ADMIN, admin=True)

    # An API key for one store, created in the back-office and shown once.
    page = admin.get(club.url("/admin/members/apikey/add/"), timeout=10)
    form = form_with(page.text, "scopes")
    store_id = next(v for v, label in form.choices["store"] if "Drottninggatan" in label)
    answer = submit(
        admin,
        club,
        "/admin/members/apikey/add/",
        "scopes",
        store=store_id,
        name="Smoke till",
        scopes=["members:read", "purchases:write"],
    )
    key = re.search(r"kk_[A-Za-z0-9]+_[A-Za-z0-9_\-]+", answer.text)
    assert key, f"no key shown after creating it:\n{answer.text[-2000:]}"
    till = requests.Session()
    till.headers["Authorization"] = f"Api-Key {key.group(0)}"

    who = till.post(club.url("/api/v1/members/identify/"), json={"email": MEMBER}, timeout=10)
    assert who.status_code == 200, who.text
    number = who.json()["membership_number"]

    member = login(club, MEMBER, admin=False)
    pending_before = pending_points(member, club)

    receipt = f"SMOKE-{uuid.uuid4().hex[:10]}"
    purchase = till.post(
        club.url("/api/v1/purchases/"),
        json={
            "receipt_id": receipt,
            "member": {"membership_number": number},
            "total_ore": 129800,
            "purchased_at": datetime.datetime.now(datetime.UTC).isoformat(),
            "lines": [
                {
                    "sku": "RUN-123",
                    "name": "Löparsko",
                    "category": "loparskor",
                    "quantity": 1,
                    "unit_price_ore": 119900,
                },
                {"sku": "SOCK-9", "quantity": 2, "unit_price_ore": 4950, "discount_ore": 0},
            ],
        },
        timeout=10,
    )
    assert purchase.status_code == 201, purchase.text
    earned = purchase.json()["points"]["earned"]
    assert earned > 0, "the demo's earning rules give no points"
    assert pending_points(member, club) == pending_before + earned

    # The member chooses a reward they can afford and gets a voucher.
    catalogue = member.get(club.url("/mina-sidor/beloningar/"), timeout=10)
    codes = list(
        dict.fromkeys(re.findall(r'href="/mina-sidor/beloningar/([\w-]+)/"', catalogue.text))
    )
    assert codes, "the demo has no rewards"
    for code in codes:
        page = member.get(club.url(f"/mina-sidor/beloningar/{code}/"), timeout=10)
        if any("idempotency_key" in f.names() for f in forms_in(page.text)):
            claimed = submit(member, club, f"/mina-sidor/beloningar/{code}/", "idempotency_key")
            assert re.search(r"/mina-sidor/vouchers/\d+/$", claimed.url), claimed.text[-2000:]
            break
    else:
        pytest.fail(f"the demo member can claim none of the rewards {codes}")

    # A small campaign on the member page channel, launched by a marketer.
    marketer = login(club, MARKETER, admin=True)
    name = f"Smoke {uuid.uuid4().hex[:6]}"
    saved = submit(
        marketer,
        club,
        "/admin/campaigns/campaign/add/",
        "channels",
        name=name,
        channels=["onsite"],
        holdout_percent="0",
        _continue="1",  # "Save and continue editing": stay on the campaign's page
        **{
            "variants-0-code": "A",
            "variants-0-weight": "100",
            "variants-0-email_subject_sv": "Hej {{ first_name }}",
            "variants-0-email_subject_en": "Hello {{ first_name }}",
            "variants-0-email_text_sv": "Välkommen in i butiken!",
            "variants-0-email_text_en": "Welcome to the store!",
        },
    )
    found = re.search(r"/admin/campaigns/campaign/(\d+)/change/", saved.url)
    assert found, f"campaign not saved: {notices(saved.text)}"
    campaign = found.group(1)
    launch_page = marketer.get(club.url(f"/admin/campaigns/campaign/{campaign}/change/"))
    launch = next(
        f for f in forms_in(launch_page.text) if f.action.endswith(f"/{campaign}/launch/")
    )
    launched = marketer.post(
        club.url(launch.action), data=launch.data(), headers={"Referer": launch_page.url}
    )
    assert launched.url.endswith(f"/{campaign}/progress/"), notices(launched.text)

    def progress() -> dict | None:
        answer = marketer.get(club.url(f"/admin/campaigns/campaign/{campaign}/progress.json"))
        data = json.loads(answer.text)
        return data if data.get("status") == "done" else None

    done = wait_for("the campaign to be done", progress, timeout=90)
    assert done["sent"] > 0, done

    # The member's data: requested, built by the worker, downloaded.
    requested = member.get(club.url("/mina-sidor/mina-data/"), timeout=10)
    export = next(f for f in forms_in(requested.text) if f.action.endswith("/export/"))
    member.post(club.url(export.action), data=export.data(), headers={"Referer": requested.url})

    def ready() -> bool:
        status = member.get(club.url("/mina-sidor/mina-data/export/status/"), timeout=10).json()
        return status["status"] == "done"

    wait_for("the export", ready, timeout=90)
    page = member.get(club.url("/mina-sidor/mina-data/"), timeout=10)
    link = re.search(r'href="(/mina-sidor/mina-data/export/\d+/ladda-ner/)"', page.text)
    assert link, "no download link once the export is done"
    archive = member.get(club.url(link.group(1)), timeout=30)
    assert archive.status_code == 200
    with zipfile.ZipFile(io.BytesIO(archive.content)) as zipped:
        content = b"".join(zipped.read(name) for name in zipped.namelist())
    assert number.encode() in content

    # The mail that says the export is ready links to this address, not localhost:8000.
    # (the worker prints the mail just after it marks the export done)
    wait_for(
        "the export mail",
        lambda: f"{club.base}/mina-sidor/mina-data/" in club.output(),
        timeout=30,
    )


def test_the_screenshot_script_runs_against_make_run(club: Club, tmp_path: Path) -> None:
    """`make screenshots` (scripts/screenshots.py) against the club `make run` started:
    Mina sidor, the card, points, a reward and a receipt, on a phone, from the living demo."""
    done = subprocess.run(
        [sys.executable, "scripts/screenshots.py", "--base-url", club.base, "--out", str(tmp_path)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    for name in ("mina-sidor", "card", "points", "reward", "receipt"):
        png = (tmp_path / f"{name}.png").read_bytes()
        assert png.startswith(b"\x89PNG"), name
        width = int.from_bytes(png[16:20], "big")
        assert width == 390 * 2, f"{name}.png is {width} px wide, not a phone at 2x"
