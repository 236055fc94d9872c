"""Without GNU gettext, `make` compiles the catalogs with polib: same translations."""

from __future__ import annotations

import gettext
import shutil
import subprocess
from pathlib import Path

import polib
import pytest
from django.conf import settings

ROOT = Path(settings.BASE_DIR)
CATALOGS = [
    *sorted(ROOT.glob("*/locale/sv/LC_MESSAGES/django.po")),
    ROOT / "locale" / "sv" / "LC_MESSAGES" / "django.po",
]


@pytest.mark.skipif(shutil.which("msgfmt") is None, reason="needs GNU gettext to compare with")
@pytest.mark.parametrize(
    "po", CATALOGS, ids=lambda p: str(p.relative_to(settings.BASE_DIR).parts[0])
)
def test_polib_compiles_what_msgfmt_compiles(po: Path, tmp_path: Path) -> None:
    polib.pofile(str(po)).save_as_mofile(str(tmp_path / "polib.mo"))
    subprocess.run(["msgfmt", "-o", str(tmp_path / "msgfmt.mo"), str(po)], check=True)
    ours = gettext.GNUTranslations((tmp_path / "polib.mo").open("rb"))._catalog  # type: ignore[attr-defined]
    theirs = gettext.GNUTranslations((tmp_path / "msgfmt.mo").open("rb"))._catalog  # type: ignore[attr-defined]
    ours.pop("", None)  # the header: same fields, another order
    theirs.pop("", None)
    assert len(ours) > 20
    assert ours == theirs
