"""Compile the Swedish catalogs (.po -> .mo) without GNU gettext, for a machine that has no
``msgfmt`` (Django's ``compilemessages`` needs it). ``make`` uses this only then."""

from __future__ import annotations

import sys
from pathlib import Path

import polib

ROOT = Path(__file__).resolve().parent.parent
SKIP = {".venv", "var", "node_modules", ".git"}


def main() -> int:
    compiled = 0
    for po_path in ROOT.rglob("locale/*/LC_MESSAGES/*.po"):
        if SKIP & set(po_path.relative_to(ROOT).parts):
            continue
        mo_path = po_path.with_suffix(".mo")
        if mo_path.exists() and mo_path.stat().st_mtime >= po_path.stat().st_mtime:
            continue
        polib.pofile(str(po_path)).save_as_mofile(str(mo_path))
        compiled += 1
    print(f"  compiled {compiled} catalog(s) with polib (no msgfmt on this machine)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
