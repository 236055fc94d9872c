"""Hostile input to every API operation and every member-facing form: never a 5xx, and a
refused request writes nothing.

Hypothesis (derandomized, bounded) generates hostile values: huge strings, NUL and other
control characters, unicode oddities (bidi overrides, zero-width and combining characters,
lone surrogates), deeply nested JSON, wrong types, lists and objects where a scalar belongs,
negative and enormous numbers, empty values and bodies that are not UTF-8 at all. They go to

- every operation in the OpenAPI schema (``/api/schema/``), as its JSON body, its path
  parameters and extra query parameters, with an all-scopes integration key (or, for the
  member's own endpoints, the member's session);
- every ``<form method=post>`` found on the member pages (GET as a logged-in member) and on
  the sign-up, log-in and password-reset pages, every field replaced.

For every answer: no 5xx. For a refusal (4xx, or a form page shown again with its errors):
the row count of every table is unchanged. An acceptance (2xx for the API, a redirect for a
form) of a hostile value is a finding, unless the form is listed in ``ACCEPTS_ANY_TEXT`` with
its reason. The number of requests per target is printed at the end.
"""

from __future__ import annotations

import json
import time
from collections import Counter
from collections.abc import Iterator
from typing import Any
from urllib.parse import quote

import pytest
from django.db import connection
from django.test import Client
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from members.api.scopes import SCOPES
from tests import factories
from tests.factories import rewards as rf
from tests.smoke.forms import Form, forms_in

pytestmark = pytest.mark.django_db

FUZZ = settings(
    max_examples=20,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[
        HealthCheck.function_scoped_fixture,
        HealthCheck.too_slow,
        HealthCheck.data_too_large,
    ],
)

# --- hostile values -------------------------------------------------------------------------

ODD = [
    "\u202eevil\u202c",  # right-to-left override
    "\u200b\u200c\u200d\ufeff",  # zero-width characters, BOM
    "e\u0301\u0301\u0301\u0301\u0301",  # stacked combining accents
    "\U0001f4a9\U0001f1f8\U0001f1ea",  # astral plane, flags
    "\ufffd\uffff\U0010ffff",  # replacement and non-characters
    "Ａｄｍｉｎ",  # fullwidth
    "' OR 1=1 --",
    "<script>alert(1)</script>",
    "{{ 7*7 }}{% debug %}",
    "../../../../etc/passwd",
    "%00%ff%c0%af",
    "\r\nSet-Cookie: x=1",
]
hostile_text = st.one_of(
    st.sampled_from(ODD),
    st.text(st.characters(codec="utf-8", categories=["Cc", "Cf", "Zs", "Zl", "Zp", "Mn"])),
    st.text(max_size=40),
    st.sampled_from(["", " ", "\x00", "a\x00b", "\t\n\r\x0b\x0c\x1c\x85"]),
    st.integers(min_value=1_000, max_value=300_000).map(lambda n: "A" * n),  # huge
)
hostile_number = st.one_of(
    st.sampled_from([-1, 0, -(2**31), 2**31, 2**63, -(2**63) - 1, 10**30, -(10**100)]),
    st.integers(),
    st.floats(allow_nan=False, allow_infinity=False),
)
hostile_scalar = st.one_of(hostile_text, hostile_number, st.none(), st.booleans())


def _nested(levels: int) -> Any:
    value: Any = "deep"
    for n in range(levels):
        value = [value] if n % 2 else {"a": value}
    return value


hostile_json = st.one_of(
    hostile_scalar,
    st.integers(min_value=17, max_value=400).map(_nested),  # deeper than the API allows
    st.recursive(
        hostile_scalar,
        lambda inner: (
            st.lists(inner, max_size=4) | st.dictionaries(hostile_text, inner, max_size=4)
        ),
        max_leaves=8,
    ),
)
# raw bodies that are no JSON, or no UTF-8, at all
hostile_bytes = st.one_of(
    st.sampled_from([b"\xff\xfe\xfd", b'{"a": "\xc0\xaf"}', b"{" * 100_000, b"", b"\x00" * 10]),
    st.binary(max_size=64),
)

# --- what a request changed -----------------------------------------------------------------


def _row_counts() -> dict[str, int]:
    """Every table's row count, in one query (table names from introspection, quoted)."""
    tables = sorted(connection.introspection.table_names())
    counts = [f"(SELECT count(*) FROM {connection.ops.quote_name(t)})" for t in tables]  # noqa: S608
    sql = "SELECT " + ", ".join(counts)
    with connection.cursor() as cursor:
        cursor.execute(sql)
        row = cursor.fetchone()
    return dict(zip(tables, row, strict=True))


def _changed(before: dict[str, int], after: dict[str, int]) -> dict[str, tuple[int, int]]:
    return {t: (before[t], after[t]) for t in before if before[t] != after[t]}


_sent: Counter[str] = Counter()
_accepted: Counter[str] = Counter()
_started = time.monotonic()


@pytest.fixture(scope="module", autouse=True)
def _report(request: pytest.FixtureRequest) -> Iterator[None]:
    yield
    if not _sent:
        return
    lines = [
        f"bad-input fuzz: {sum(_sent.values())} hostile requests to {len(_sent)} targets in "
        f"{time.monotonic() - _started:.1f} s; accepted (allowed): {dict(_accepted) or 'none'}"
    ]
    capture = request.config.pluginmanager.getplugin("capturemanager")
    with capture.global_and_fixture_disabled():
        print("\n" + "\n".join(lines))


@pytest.fixture
def world(db: Any, client: Client) -> dict[str, Any]:
    """A till with every scope, a member with points, a purchase and a login, a base rule."""
    store = factories.store(code="fuzz-store")
    _key, secret = factories.api_key_with_secret(store_obj=store, scopes=list(SCOPES))
    member = factories.member_with_user(email="fuzz@example.se")
    rf.earned(member, 10_000)
    rf.base_rule()
    till = Client(HTTP_AUTHORIZATION=f"Api-Key {secret}")
    till.get("/api/v1/nothing/")  # the key's once-a-minute "last used" write, done now
    client.force_login(member.user)
    return {"till": till, "member_client": client, "member": member}


# --- the API --------------------------------------------------------------------------------


def _operations() -> list[tuple[str, str, list[str], list[str]]]:
    """(method, path template, path parameters, body properties) of every operation."""
    from drf_spectacular.generators import SchemaGenerator

    spec = SchemaGenerator().get_schema(request=None, public=True)
    components = spec["components"]["schemas"]
    found = []
    for path, item in spec["paths"].items():
        for method, op in item.items():
            params = [p["name"] for p in op.get("parameters", []) if p["in"] == "path"]
            body = op.get("requestBody", {}).get("content", {}).get("application/json", {})
            ref = body.get("schema", {}).get("$ref", "")
            props = list(components.get(ref.rsplit("/", 1)[-1], {}).get("properties", {}))
            found.append((method.upper(), path, params, props))
    return found


OPERATIONS = _operations()


def api_body(props: list[str]) -> st.SearchStrategy[Any]:
    """A JSON body: the operation's own keys with hostile values, or any hostile JSON."""
    own = st.fixed_dictionaries({}, optional=dict.fromkeys(props, hostile_json)) if props else None
    return st.one_of(*([own] if own is not None else []), hostile_json)


@pytest.mark.parametrize(
    ("method", "path", "params", "props"), OPERATIONS, ids=[f"{m} {p}" for m, p, *_ in OPERATIONS]
)
def test_api_operation_survives_hostile_input(world, method, path, params, props) -> None:
    member_only = path.startswith("/api/v1/me/")
    http = world["member_client"] if member_only else world["till"]

    @FUZZ
    @given(
        body=api_body(props) | hostile_bytes,
        values=st.fixed_dictionaries(dict.fromkeys(params, hostile_text | hostile_number)),
        query=st.dictionaries(st.sampled_from(["q", "limit", "member", "x"]), hostile_text),
    )
    def run(body: Any, values: dict[str, Any], query: dict[str, str]) -> None:
        url = path
        for name, value in values.items():
            url = url.replace("{" + name + "}", quote(str(value)[:2000], safe=""))
        if query:
            url += "?" + "&".join(f"{quote(k)}={quote(v[:2000])}" for k, v in query.items())
        raw = body if isinstance(body, bytes) else json.dumps(body).encode()
        before = _row_counts()
        answer = http.generic(method, url, raw, content_type="application/json")
        _sent[f"{method} {path}"] += 1
        assert answer.status_code < 500, (url, raw[:300], answer.content[:500])
        if answer.status_code >= 400:
            assert not _changed(before, _row_counts()), (url, raw[:300], answer.status_code)
            return
        # Only reading operations may answer 2xx; they take no body.
        assert method == "GET", (url, raw[:300], answer.status_code, answer.content[:300])
        _accepted[f"{method} {path} (reads; ignores the body)"] += 1

    run()


# --- the forms ------------------------------------------------------------------------------

MEMBER_PAGES = [
    "/mina-sidor/",
    "/mina-sidor/kort/",
    "/mina-sidor/profil/",
    "/mina-sidor/installningar/",
    "/mina-sidor/mina-data/",
    "/mina-sidor/poang/",
    "/mina-sidor/poang/registrera-kop/",
    "/mina-sidor/nivaer/",
    "/mina-sidor/beloningar/",
    "/mina-sidor/vouchers/",
    "/mina-sidor/utmaningar/",
    "/mina-sidor/tipsa/",
    "/mina-sidor/recensioner/",
    "/mina-sidor/erbjudanden/",
    "/konto/password/change/",
    "/konto/email/",
]
ANONYMOUS_PAGES = [
    "/konto/signup/",
    "/konto/login/",
    "/konto/password/reset/",
    "/konto/aktivera/",
]
# Forms with nothing to type (a button) or that end the session: not fuzzed.
NOT_FUZZED = {"/konto/logout/"}
# Forms that legitimately answer a hostile value with a plain redirect (their reason); they
# must still write nothing.
ACCEPTS_ANY_TEXT: dict[str, str] = {
    "/sprak/": "Django's set_language ignores a language it does not know and redirects back",
    "/konto/email/": "allauth's address page redirects back when no action button is named "
    "(the fuzzed form is the address list; its buttons are not form fields)",
    "/konto/aktivera/": "activation answers any text with the same 'check your email' page, "
    "so that it never tells whether a membership matched (members.activation)",
}


def _discover(member_client: Client) -> list[tuple[str, bool, Form]]:
    found: dict[tuple[str, tuple[str, ...]], tuple[str, bool, Form]] = {}
    anonymous = Client()
    for pages, http, logged_in in (
        (MEMBER_PAGES, member_client, True),
        (ANONYMOUS_PAGES, anonymous, False),
    ):
        for page in pages:
            answer = http.get(page)
            assert answer.status_code == 200, page
            for form in forms_in(answer.content.decode()):
                action = form.action or page
                names = tuple(sorted(form.names() - {"csrfmiddlewaretoken"}))
                if form.method != "post" or action in NOT_FUZZED or not names:
                    continue
                found.setdefault((action, names), (action, logged_in, form))
    return list(found.values())


def test_every_form_survives_hostile_input(world) -> None:
    forms = _discover(world["member_client"])
    assert len(forms) >= 8, [f[0] for f in forms]  # the pages above have at least these
    for action, logged_in, form in forms:
        http = world["member_client"] if logged_in else Client()
        _fuzz_form(http, action, form)


def _fuzz_form(http: Client, action: str, form: Form) -> None:
    names = sorted(form.names() - {"csrfmiddlewaretoken"})
    field_value = hostile_text.map(lambda v: [v]) | st.lists(hostile_text, min_size=2, max_size=3)

    @settings(FUZZ, max_examples=10)
    @given(
        values=st.fixed_dictionaries(dict.fromkeys(names, field_value)),
        raw=st.none() | hostile_bytes,
    )
    def run(values: dict[str, list[str]], raw: bytes | None) -> None:
        before = _row_counts()
        if raw is not None:  # a body that is not valid form encoding or not UTF-8
            body = b"&".join(n.encode() + b"=" + quote(raw).encode() + b"%FF" for n in names)
            answer = http.generic(
                "POST", action, body, content_type="application/x-www-form-urlencoded"
            )
        else:
            answer = http.post(action, values)
        _sent[f"form {action}"] += 1
        assert answer.status_code < 500, (action, values, answer.content[:500])
        if answer.status_code >= 400 or answer.status_code == 200 or _said_no(http, answer):
            assert not _changed(before, _row_counts()), (action, values, answer.status_code)
            return
        if raw is None and all(not v.strip() for vs in values.values() for v in vs):
            _accepted[f"form {action} (every field left empty)"] += 1
            return
        assert action in ACCEPTS_ANY_TEXT, (
            action,
            values,
            answer.status_code,
            answer.get("Location"),
        )
        assert not _changed(before, _row_counts()), (action, values, answer.status_code)
        _accepted[f"form {action}"] += 1

    run()


def _said_no(http: Client, answer: Any) -> bool:
    """A redirect to a page that shows an error message (post/redirect/get) is a refusal."""
    if answer.status_code not in (301, 302, 303) or not answer.get("Location", "").startswith("/"):
        return False
    return b"message-error" in http.get(answer["Location"]).content


# --- what the fuzzing found, one by one ------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "body", "field"),
    [
        ("/api/v1/purchases/", {"receipt_id": 1, "total_ore": 0, "lines": []}, "receipt_id"),
        ("/api/v1/points/balance/", {"member": {"membership_number": 4711000011}}, "member"),
        ("/api/v1/points/balance/", {"member": {"phone": "0701234567"}, "limit": "5"}, "limit"),
        ("/api/v1/points/balance/", {"member": {"phone": "0701234567"}, "limit": 5.0}, "limit"),
    ],
)
def test_api_takes_json_types_as_the_schema_states_them(world, url, body, field) -> None:
    """DRF took 1 for a string and "5" for an integer; the schema says otherwise (400)."""
    answer = world["till"].post(url, body, content_type="application/json")
    assert answer.status_code == 400, answer.content
    assert field in answer.json()["error"]["fields"]


def test_member_api_refuses_a_string_for_a_boolean(world) -> None:
    answer = world["member_client"].put(
        "/api/v1/me/consents/marketing_email/",
        {"granted": "yes"},
        content_type="application/json",
    )
    assert answer.status_code == 400
    assert answer.json()["error"]["fields"]["granted"] == [
        "Måste vara true eller false (ett JSON-booleskt värde)."
    ]


def test_pause_refuses_an_unknown_action_and_changes_nothing(world) -> None:
    """The pause form paused marketing for any ``action`` but "resume"."""
    from consent.models import ConsentEvent

    before = _row_counts()
    answer = world["member_client"].post("/mina-sidor/installningar/paus/", {"action": "x"})
    assert answer.status_code == 302
    assert b"message-error" in world["member_client"].get(answer["Location"]).content
    assert not _changed(before, _row_counts())
    assert not ConsentEvent.objects.filter(member=world["member"]).exists()
