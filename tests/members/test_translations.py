"""Every string of the members app and the shared templates has a Swedish translation."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from django.conf import settings
from django.utils import translation

BASE_DIR = Path(settings.BASE_DIR)
CATALOGS = [
    BASE_DIR / "members" / "locale" / "sv" / "LC_MESSAGES" / "django.po",
    BASE_DIR / "locale" / "sv" / "LC_MESSAGES" / "django.po",
]


def _entries(path: Path) -> list[tuple[str, str, bool]]:
    entries = []
    for block in path.read_text(encoding="utf-8").split("\n\n"):
        if block.lstrip().startswith("#~"):
            continue  # obsolete
        msgid = "".join(re.findall(r'^(?:msgid |")(?:")(.*)"$', block, re.M))
        ids = re.search(r'^msgid "(.*)"$', block, re.M)
        strs = re.findall(r'^msgstr(?:\[\d\])? "(.*)"((?:\n".*")*)', block, re.M)
        if not ids or not (ids.group(1) or msgid):
            continue
        translated = all(first or rest.strip() for first, rest in strs)
        fuzzy = bool(re.search(r"^#,.*fuzzy", block, re.M))
        entries.append((ids.group(1), "translated" if translated else "", fuzzy))
    return entries


@pytest.mark.parametrize("path", CATALOGS, ids=lambda p: str(p.relative_to(BASE_DIR)))
def test_swedish_catalog_is_complete(path):
    entries = _entries(path)
    assert entries, f"{path} is empty"
    missing = [msgid for msgid, translated, fuzzy in entries if not translated or fuzzy]
    assert missing == []


@pytest.mark.parametrize(
    ("english", "swedish"),
    [
        ("My pages", "Mina sidor"),
        ("Join", "Bli medlem"),
        ("Log in", "Logga in"),
        ("Log out", "Logga ut"),
        ("My card", "Mitt kort"),
        ("Membership number", "Medlemsnummer"),
        ("Mobile number (optional)", "Mobilnummer (valfritt)"),
    ],
)
def test_key_member_words_read_naturally_in_swedish(english, swedish):
    with translation.override("sv"):
        assert translation.gettext(english) == swedish
    with translation.override("en"):
        assert translation.gettext(english) == english
