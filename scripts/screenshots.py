"""Screenshots of the member pages on a phone, for docs/screenshots/.

Run against a club started by `make run` (its living demo), in another terminal:

    make screenshots                       # http://127.0.0.1:8000, Swedish
    make screenshots BASE_URL=http://127.0.0.1:8001 LANG_CODE=en

Logs in as the demo member through the login form, then takes Mina sidor, the card, the
points page, a reward and a receipt at 390x844 (an iPhone 12-15 in CSS pixels), with
Debian's Chromium (`/usr/bin/chromium`) or Playwright's own when that is missing. Nothing
is changed in the club except the demo member's last-login time.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from PIL import Image
from playwright.sync_api import Page, ViewportSize, sync_playwright

ROOT = Path(__file__).resolve().parent.parent
DEMO_LOGIN = "medlem@demo.kundklubb.se"
DEMO_PASSWORD = "kundklubb-demo"  # noqa: S105  # the demo's published password (docs/demo.md)
PHONE: ViewportSize = {"width": 390, "height": 844}


def first_link(page: Page, prefix: str, *, exclude: str = "") -> str:
    """The first link on the page whose path starts with ``prefix`` (and is not ``exclude``)."""
    for href in page.eval_on_selector_all("a[href]", "els => els.map(e => e.getAttribute('href'))"):
        if href and href.startswith(prefix) and href.rstrip("/") != exclude.rstrip("/"):
            return str(href)
    raise SystemExit(f"No link to {prefix}… on {page.url}: is the demo loaded (make run)?")


def shoot(page: Page, out: Path, name: str) -> None:
    page.wait_for_load_state("networkidle")
    # The one-off "add to home screen" hint belongs to a first visit, not to the pictures.
    for button in page.locator("[data-install-hint] button").all():
        if button.is_visible():
            button.click()
    path = out / f"{name}.png"
    # The whole page as one tall screen rather than Playwright's full_page: that draws the
    # fixed tab bar where the first screen ends (over the page's middle) and leaves the lazy
    # pictures below the first screen blank. The viewport is put back afterwards.
    height = page.evaluate("document.documentElement.scrollHeight")
    page.set_viewport_size({"width": PHONE["width"], "height": max(PHONE["height"], height)})
    page.wait_for_load_state("networkidle")
    page.evaluate("Promise.all([...document.images].map(i => i.decode().catch(() => null)))")
    page.screenshot(path=str(path))
    page.set_viewport_size(PHONE)
    # A page of flat colours needs no more than a palette: a third of the size, for the repo.
    with Image.open(path) as shot:
        flat = shot.convert("RGB").quantize(256, Image.Quantize.MEDIANCUT, dither=Image.Dither.NONE)
    flat.save(path, optimize=True)
    print(f"{path.relative_to(ROOT) if path.is_relative_to(ROOT) else path}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--base-url", default=os.environ.get("BASE_URL", "http://127.0.0.1:8000"))
    parser.add_argument("--language", default=os.environ.get("LANG_CODE", "sv"))
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "screenshots")
    args = parser.parse_args()
    base = args.base_url.rstrip("/")
    out: Path = args.out
    out.mkdir(parents=True, exist_ok=True)
    suffix = "" if args.language == "sv" else f"-{args.language}"

    with sync_playwright() as playwright:
        chromium = Path("/usr/bin/chromium")
        browser = playwright.chromium.launch(
            executable_path=str(chromium) if chromium.exists() else None,
            args=["--no-sandbox"],
        )
        context = browser.new_context(
            viewport=PHONE,
            device_scale_factor=2,
            is_mobile=True,
            has_touch=True,
            locale="sv-SE" if args.language == "sv" else "en-GB",
        )
        page = context.new_page()
        page.goto(f"{base}/konto/login/?next=/mina-sidor/")
        page.fill("input[name=login]", DEMO_LOGIN)
        page.fill("input[name=password]", DEMO_PASSWORD)
        page.locator("form [type=submit]").last.click()
        page.wait_for_url(f"{base}/mina-sidor/**")
        # The language is the member's own (kept on the membership by the switch): switch
        # whenever the page offers the one asked for, so a Swedish run after an English one
        # is Swedish again.
        switch = page.locator(f"form.language-switch button[value='{args.language}']")
        if switch.count():
            switch.first.click()
            page.wait_for_load_state("networkidle")

        page.goto(f"{base}/mina-sidor/")
        shoot(page, out, f"mina-sidor{suffix}")
        page.goto(f"{base}/mina-sidor/kort/")
        shoot(page, out, f"card{suffix}")
        page.goto(f"{base}/mina-sidor/poang/")
        shoot(page, out, f"points{suffix}")
        receipt = first_link(page, "/mina-sidor/kvitton/")
        page.goto(f"{base}/mina-sidor/beloningar/")
        reward = first_link(page, "/mina-sidor/beloningar/", exclude="/mina-sidor/beloningar/")
        page.goto(f"{base}{reward}")
        shoot(page, out, f"reward{suffix}")
        page.goto(f"{base}{receipt}")
        shoot(page, out, f"receipt{suffix}")
        browser.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
