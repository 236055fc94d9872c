"""Member pages for points: the panel on "My pages" and the full points page."""

from __future__ import annotations

import datetime
import html
from collections.abc import Callable
from typing import Any

from django.contrib import messages
from django.core.paginator import Page, Paginator
from django.db.models import Count, QuerySet, Window
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.template.loader import render_to_string
from django.urls import get_script_prefix, reverse
from django.utils import timezone
from django.utils.dates import MONTHS
from django.utils.html import escape
from django.utils.safestring import SafeString, mark_safe
from django.utils.translation import get_language, ngettext
from django.utils.translation import gettext as _

from members.errors import DomainError
from members.formats import kronor_short, months_short
from members.models import Member
from members.offline import offline_copy
from members.rows import CompiledValues
from members.views import member_required
from rewards import selectors
from rewards.forms import ClaimPurchaseForm
from rewards.models import LedgerEntry
from rewards.purchases.claims import purchase_claim
from rewards.templatetags.loyalty import points_grouped


def _html(template: str, *args: Any) -> str:
    """``format_html(template, *args)`` without its per-argument lazy-object checks, for the
    points page's rows: each argument escaped as ``conditional_escape`` escapes it (its own
    ``__html__`` if it is safe, else ``html.escape``, which is what Django's ``escape``
    calls). The caller marks the joined result safe."""
    return template.format(
        *(
            html.escape(a)
            if type(a) is str
            else a.__html__()
            if hasattr(a, "__html__")
            else html.escape(str(a))
            for a in args
        )
    )


def _short_date(value: datetime.datetime, months: list[str]) -> str:
    """``value|day`` ("4 dec. 2026") in the current time zone (``months``: ``_months_short()``)."""
    local = timezone.localtime(value)
    return f"{local.day} {months[local.month]} {local.year}"


_MONTHS_LONG: dict[str | None, list[str]] = {}
_KINDS: dict[str | None, dict[str, str]] = {}


def _months_short() -> list[str]:
    """Short months as members read them ("dec." in Swedish, "Dec" in English: members.formats),
    index 1-12."""
    return months_short(get_language())


def _months_long() -> list[str]:
    """The ``F`` of Django's date format ("januari") in the current language, index 1-12."""
    language = get_language()
    months = _MONTHS_LONG.get(language)
    if months is None:
        months = _MONTHS_LONG[language] = ["", *(str(MONTHS[n]) for n in range(1, 13))]
    return months


def _long_date(value: datetime.date, months: list[str]) -> str:
    """``value|date:"j F Y"`` of a date (``months``: ``_months_long()``)."""
    return f"{value.day} {months[value.month]} {value.year:04d}"


def _kind_labels() -> dict[str, str]:
    """Ledger kinds' labels in the current language (once per process and language)."""
    language = get_language()
    kinds = _KINDS.get(language)
    if kinds is None:
        kinds = _KINDS[language] = {value: str(label) for value, label in LedgerEntry.Kind.choices}
    return kinds


def _dated_texts(rows: list[Any], name: str, message: Callable[[int], str]) -> list[SafeString]:
    """``{% blocktranslate with <name>=row.points date=row.date|date:"j F Y" %}`` for each
    row, made here instead of by the template: ``message(points)`` is the tag's translated
    message (``%(<name>)s`` and ``%(date)s``), the values escaped as the tag escapes them."""
    months = _months_long()
    return [
        mark_safe(  # the values are escaped here
            message(row.points)
            % {
                name: escape(points_grouped(row.points, get_language())),
                "date": escape(_long_date(row.date, months)),
            }
        )
        for row in rows
    ]


_RECEIPT_URLS: dict[str, str] = {}


def _receipt_url(purchase_id: int) -> str:
    """``reverse("rewards:receipt", args=[purchase_id])``, the URL reversed once per process
    and script prefix (the points page links up to 30 rows)."""
    key = get_script_prefix()
    pattern = _RECEIPT_URLS.get(key)
    if pattern is None:
        pattern = _RECEIPT_URLS[key] = reverse("rewards:receipt", args=[0]).replace("/0/", "/{}/")
    return pattern.format(int(purchase_id))


def _history_rows(entries: list[dict[str, Any]], language: str) -> list[dict[str, Any]]:
    """The ledger page as plain rows, every text ready: the template only prints them."""
    months = _months_short()
    kinds = _kind_labels()
    rows = []
    for entry, lines in zip(entries, selectors.entries_text_rows(entries, language), strict=True):
        kind = entry["kind"]
        signed = entry["delta_pending"] + entry["delta_posted"]
        # Held points, in brackets: reserved, released, or moved held by a merge.
        if kind in (LedgerEntry.Kind.RESERVE, LedgerEntry.Kind.RELEASE) or (
            kind == LedgerEntry.Kind.TRANSFER and signed == 0
        ):
            points = f"({points_grouped(entry['points'], language)})"
        else:
            # grouped, with a real minus sign: "+1 298", "−1 000"
            grouped = points_grouped(abs(signed), language)
            points = f"+{grouped}" if signed > 0 else f"\u2212{grouped}" if signed else "0"
        rows.append(
            {
                "date": _short_date(entry["created_at"], months),
                "what": kinds.get(kind, kind),
                "store": entry["store__name"] or "",
                "lines": lines,
                "reason": entry["reason"] if kind == LedgerEntry.Kind.ADJUST else "",
                "points": points,
                # the purchase's receipt (docs/member-pages.md "Receipts")
                "receipt": _receipt_url(entry["purchase_id"]) if entry.get("purchase_id") else "",
            }
        )
    return rows


def _purchase_rows(purchases: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """A page of purchases with their lines, every text ready (one query for the lines)."""
    language = get_language()
    months = _months_short()
    lines_by_purchase = selectors.purchase_lines_rows([p["id"] for p in purchases])
    rows = []
    for purchase in purchases:
        lines = []
        for line in lines_by_purchase.get(purchase["id"], []):
            returned = line["returned_quantity"]
            net_ore = line["quantity"] * line["unit_price_ore"] - line["discount_ore"]
            lines.append(
                {
                    "name": line["product__name"] or line["sku"],
                    "quantity": line["quantity"],
                    "returned": (
                        ngettext("%(n)s returned", "%(n)s returned", returned) % {"n": returned}
                        if returned
                        else ""
                    ),
                    "price": kronor_short(net_ore, language),
                    "points": line["points"],
                }
            )
        earned = purchase["points_earned"]
        rows.append(
            {
                "date": _short_date(purchase["purchased_at"], months),
                "store": purchase["store__name"],
                "total": kronor_short(purchase["total_ore"], language),
                "points": ngettext("%(counter)s point", "%(counter)s points", earned)
                % {"counter": points_grouped(earned, language)},
                "lines": lines,
                "receipt": _receipt_url(purchase["id"]),
            }
        )
    return rows


def page_counted(queryset: QuerySet[Any], per_page: int, number: Any) -> Page:
    """``Paginator(queryset, per_page).get_page(number)`` in one query instead of two: the
    total rides along on every row as ``COUNT(*) OVER ()``. A number past the end falls
    back to the paginator (the last page), as ``get_page`` does."""
    wanted = _page_number(number)
    start = (wanted - 1) * per_page
    rows = list(queryset.annotate(_page_total=Window(Count("pk")))[start : start + per_page])
    return _page(rows, lambda: queryset, per_page, wanted)


def _page_number(number: Any) -> int:
    try:
        return max(1, int(number))
    except (TypeError, ValueError):
        return 1


def _page(
    rows: list[Any], queryset: Callable[[], QuerySet[Any]], per_page: int, wanted: int
) -> Page:
    """The page of ``rows`` (each with ``_page_total``); past the end, the paginator's last
    page of ``queryset()`` (built only then)."""
    if not rows and wanted > 1:
        return Paginator(queryset(), per_page).get_page(wanted)
    paginator = Paginator(rows, per_page)
    if not rows:
        paginator.count = 0
    elif isinstance(rows[0], dict):  # a .values() queryset
        paginator.count = rows[0]["_page_total"]
    else:
        paginator.count = rows[0]._page_total
    return Page(rows, wanted, paginator)


# The first pages of the two lists, compiled once per process (members.rows.CompiledValues;
# a slice is part of the SQL, so one per page); later pages are compiled per request.
_COMPILED_PAGES = 5
_pages_compiled: dict[tuple[str, int, int], CompiledValues] = {}
_ROWS = {
    "history": selectors.ledger_history_rows,
    "purchases": selectors.purchases_for_member_rows,
}


def _page_of_member_rows(list_name: str, member: Member, per_page: int, number: Any) -> Page:
    """:func:`page_counted` of ``_ROWS[list_name](member=member)``."""
    rows_of = _ROWS[list_name]
    wanted = _page_number(number)
    if wanted > _COMPILED_PAGES:
        return page_counted(rows_of(member=member), per_page, wanted)
    start = (wanted - 1) * per_page
    key = (list_name, start, per_page)
    query = _pages_compiled.get(key)
    if query is None:
        query = _pages_compiled[key] = CompiledValues(
            lambda member_id: rows_of(member=member_id).annotate(_page_total=Window(Count("pk")))[
                start : start + per_page
            ],
            "member_id",
        )
    return _page(query(member_id=member.pk), lambda: rows_of(member=member), per_page, wanted)


def points_panel(request: HttpRequest, member: Member) -> str:
    """The points panel on "My pages": the balance, large; pending points and the day the
    first of them become available; the next expiry (docs/member-pages.md)."""
    summary = selectors.points_summary(member=member, pending_limit=1, expiry_limit=1)
    language = "en" if (get_language() or "sv").startswith("en") else "sv"
    months = _months_long()

    def dated(rows: list[Any], message: Callable[[int], str]) -> list[SafeString]:
        """``message(points)``, the translated text, with the grouped points and the date."""
        return [
            mark_safe(  # the values are escaped here
                message(row.points)
                % {
                    "counter": escape(points_grouped(row.points, language)),
                    "date": escape(_long_date(row.date, months)),
                }
            )
            for row in rows
        ]

    return render_to_string(
        "rewards/_points_panel.html",
        {
            "balance": summary.balance,
            "live_cursor": summary.live_cursor,
            "language": language,
            "pending": dated(
                summary.pending,
                lambda n: ngettext(
                    "%(counter)s point available from %(date)s",
                    "%(counter)s points available from %(date)s",
                    n,
                ),
            ),
            "expiries": dated(
                summary.expiries,
                lambda n: ngettext(
                    "%(counter)s point expires after %(date)s",
                    "%(counter)s points expire after %(date)s",
                    n,
                ),
            ),
        },
    )


# The two long lists of the points page, written here rather than by template loops: the
# template engine's per-variable work for 20 ledger rows and 10 purchases with their lines was
# most of the page's time (docs/benchmarks.md "Member pages"). Every value is escaped by
# _html (format_html's escaping); the markup is what rewards/points.html had in its loops.
_HISTORY_ROW = (
    "\n      <tr>\n        <td>{}</td>\n        <td>{}{}{}\n          {}\n          {}\n"
    '        </td>\n        <td class="amount">{}</td>\n      </tr>\n    '
)
# A purchase's row links to its receipt; the hidden date tells one "Receipt" from another.
_RECEIPT_LINK = ' · <a href="{}">{}<span class="visually-hidden"> {}</span></a>'

_PURCHASE = (
    '\n    <details class="purchase">\n      <summary>{} · {} · {} · {}</summary>\n'
    '      <table class="table">\n        <thead><tr><th scope="col">{}</th>'
    '<th scope="col">{}</th><th scope="col">{}</th><th scope="col">{}</th></tr></thead>\n'
    "        <tbody>{}</tbody>\n      </table>\n"
    '      <p class="link-row">{}</p>\n    </details>\n  '
)
_PURCHASE_LINE = "<tr><td>{}</td><td>{}{}</td><td>{}</td><td>{}</td></tr>"


# The rows' parts, already escaped by _html: SafeString itself, not mark_safe (its lazy-text
# checks, per part, were about 5 % of the points page).
_Safe = SafeString


def _history_html(rows: list[dict[str, Any]]) -> SafeString:
    receipt = escape(_("Receipt"))
    return mark_safe(  # every part is escaped by _html
        "".join(
            _html(
                _HISTORY_ROW,
                row["date"],
                row["what"],
                _Safe(_html(" · {}", row["store"])) if row["store"] else "",
                _Safe(_html(_RECEIPT_LINK, row["receipt"], receipt, row["date"]))
                if row["receipt"]
                else "",
                _Safe(
                    "".join(
                        _html('<br><span class="muted explanation">{}</span>', x)
                        for x in row["lines"]
                    )
                ),
                _Safe(_html('<br><span class="muted">{}</span>', row["reason"]))
                if row["reason"]
                else "",
                row["points"],
            )
            for row in rows
        )
    )


def _purchases_html(purchases: list[dict[str, Any]]) -> SafeString:
    headings = (_("Item"), _("Qty"), _("Price"), _("Points"))
    show_receipt = escape(_("Show the receipt"))
    return mark_safe(  # every part is escaped by _html
        "".join(
            _html(
                _PURCHASE,
                purchase["date"],
                purchase["store"],
                purchase["total"],
                purchase["points"],
                *headings,
                _Safe(
                    "".join(
                        _html(
                            _PURCHASE_LINE,
                            line["name"],
                            line["quantity"],
                            _Safe(_html(" ({})", line["returned"])) if line["returned"] else "",
                            line["price"],
                            line["points"],
                        )
                        for line in purchase["lines"]
                    )
                ),
                _Safe(_html('<a href="{}">{}</a>', purchase["receipt"], show_receipt)),
            )
            for purchase in purchases
        )
    )


@member_required
@offline_copy
def points(request: HttpRequest) -> HttpResponse:
    member: Member = request.member  # type: ignore[attr-defined]
    language = get_language() or "sv"
    # Rows as dicts of the columns shown, their texts made here: the template prints them
    # (model instances, |date and {% blocktranslate %} per row cost most of the page's time,
    # docs/benchmarks.md "Member pages").
    page = _page_of_member_rows("history", member, 20, request.GET.get("page"))
    purchases = _page_of_member_rows("purchases", member, 10, request.GET.get("kop"))
    summary = selectors.points_summary(member=member)
    rows = _history_rows(list(page.object_list), language)
    purchase_rows = _purchase_rows(list(purchases.object_list))
    return render(
        request,
        "rewards/points.html",
        {
            "member": member,
            "language": language,
            "balance": summary.balance,
            "live_cursor": summary.live_cursor,
            "pending": _dated_texts(
                summary.pending, "points", lambda n: _("%(points)s p on %(date)s")
            ),
            "expiries": _dated_texts(
                summary.expiries, "points", lambda n: _("%(points)s p can be used until %(date)s")
            ),
            "page": page,
            "rows": rows,
            "history_html": _history_html(rows),
            "purchases": purchases,
            "purchase_rows": purchase_rows,
            "purchases_html": _purchases_html(purchase_rows),
        },
    )


@member_required
def claim(request: HttpRequest) -> HttpResponse:
    member: Member = request.member  # type: ignore[attr-defined]
    form = ClaimPurchaseForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            purchase = purchase_claim(
                member=member,
                store=form.cleaned_data["store"],
                receipt_id=form.cleaned_data["receipt_id"],
                total_ore=form.total_ore,
            )
        except DomainError as exc:
            form.add_error(None, exc.message)
        else:
            messages.success(
                request,
                _("The purchase is now yours: %(points)d points.")
                % {"points": purchase.points_earned - purchase.points_reversed},
            )
            return redirect("rewards:points")
    return render(request, "rewards/claim.html", {"form": form})
