"""Import historical purchases with their lines from the chain's old club or tills
(docs/import.md, "Historical purchases").

The file has one row per purchase line, the purchase's own columns repeated on each of its
lines, as Swedish till exports have it. ``purchases_import`` reads it as the other imports
do (``members.import_files``: encodings, separators, header, dates, report lines), checks
every line, groups the lines by store and ``purchase_id`` (tills number receipts per
store) and writes each valid purchase with its lines. A purchase with one bad line is
rejected whole: its other lines are listed too, naming the line that keeps it out.

Idempotent by the store and purchase id: the purchase is stored at its store with the
purchase id as its receipt id (unique per store, as the tills' receipts are) and a
fingerprint of what the file said. A purchase that is there already with the same contents
is unchanged; with other contents (or a till's own receipt with the same id) it is
rejected.

History is not earned again: imported purchases get no points, no ledger entry and no
timeline event. With ``earn=True`` each purchase with a member earns what the club's rules
give it today on its purchase day (``rewards.rules.earning``), as an ordinary ``earn``
entry whose lot counts from the original date (see ``_earn``).
"""

from __future__ import annotations

import datetime
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from members.import_copy import copy_insert, ids_reserve
from members.import_files import (
    ImportFileError,
    ImportReport,
    Record,
    ReportLine,
    amount_parse,
    csv_read,
    datetime_parse,
)
from members.import_lookup import FoundMembers, members_find
from members.kronor import kronor_display
from members.models import Store, User
from rewards.ledger.idempotency import request_fingerprint
from rewards.ledger.lock_objects import members_lock_resolved
from rewards.ledger.lots import lot_expiry
from rewards.models import MemberTier, Purchase, PurchaseLine
from rewards.purchases.products import products_cache_clear, products_resolve
from rewards.purchases.recording import purchase_earn
from rewards.purchases.types import LineInput
from rewards.rules import earning

COLUMNS = (
    "purchase_id",
    "external_id",
    "membership_number",
    "store",
    "purchased_at",
    "total",
    "sku",
    "product",
    "category",
    "quantity",
    "amount",
)
REQUIRED = ("purchase_id", "store", "purchased_at", "total", "sku", "amount")
# The purchase's own columns: the same on every line of one purchase.
PURCHASE_COLUMNS = ("external_id", "membership_number", "purchased_at", "total")
ID_MAX = 64
SKU_MAX = 64
NAME_MAX = 200
CATEGORY_MAX = 60
QUANTITY_MAX = 10_000
AMOUNT_MAX_ORE = 100_000_000  # one million kronor on a line or a receipt
LINES_MAX = 500  # lines on one purchase (PurchaseLine.line_no is a small integer)
# Swedish cash rounding: a receipt's total may differ from its lines' sum by up to 50 öre.
ROUNDING_ORE = 50
BATCH_SIZE = 1000  # purchases per transaction

Progress = Callable[[int, int], None]


@dataclass
class PurchasesReport(ImportReport):
    """The counts are purchases; ``lines`` counts the lines of the purchases imported."""

    lines_imported: int = 0

    @property
    def summary(self) -> str:
        return (
            f"imported={self.imported} unchanged={self.unchanged} rejected={self.rejected} "
            f"lines={self.lines_imported}"
        )


@dataclass(eq=False)
class Line:
    """One line of the file: its cleaned values and its own problems."""

    record: Record
    sku: str = ""
    name: str = ""
    category: str = ""
    quantity: int = 1
    amount_ore: int | None = None
    problems: list[ReportLine] = field(default_factory=list)
    # Part of a purchase (it has a purchase id and could be read).
    grouped: bool = False

    def reject(self, column: str, reason: str) -> None:
        self.problems.append(
            ReportLine(
                line=self.record.line,
                column=column,
                value=self.record.values.get(column, ""),
                reason=reason,
            )
        )

    # The line's amount over its quantity, rounded up; the rest is its discount (set with
    # the amount, by _line_clean).
    unit_price_ore: int = 0
    discount_ore: int = 0

    def line_input(self) -> LineInput:
        return LineInput(
            sku=self.sku,
            quantity=self.quantity,
            unit_price_ore=self.unit_price_ore,
            discount_ore=self.discount_ore,
            name=self.name,
            category=self.category,
        )


@dataclass(eq=False)
class Bought:
    """One purchase of the file: its lines (in file order) and its own values."""

    purchase_id: str
    lines: list[Line]
    store: Store | None = None
    member_id: int | None = None
    purchased_at: datetime.datetime | None = None
    total_ore: int | None = None
    unchanged: bool = False

    @property
    def first(self) -> Line:
        return self.lines[0]

    def reject(self, column: str, reason: str) -> None:
        """A problem of the purchase itself (its store, member, total): on its first line."""
        self.first.reject(column, reason)

    @property
    def rejected(self) -> bool:
        return any(line.problems for line in self.lines)

    @property
    def member_reference(self) -> str:
        values = self.first.record.values
        if values.get("external_id"):
            return "e:" + values["external_id"]
        return "n:" + values.get("membership_number", "").replace(" ", "")

    def fingerprint(self) -> str:
        """What the file said about the purchase; a second run compares it."""
        assert self.purchased_at is not None
        return request_fingerprint(
            {
                "import": self.purchase_id,
                "member": self.member_reference,
                "total": self.total_ore,
                "at": self.purchased_at.astimezone(datetime.UTC).isoformat(),
                "lines": [
                    [line.sku, line.quantity, line.unit_price_ore, line.discount_ore]
                    for line in self.lines
                ],
            }
        )


def purchases_import(
    *,
    data: bytes,
    dry_run: bool,
    earn: bool = False,
    actor: User | None = None,
    batch_size: int = BATCH_SIZE,
    progress: Progress | None = None,
) -> PurchasesReport:
    """Import the purchases in ``data`` (the file's bytes); see the module's docstring.

    ``dry_run``: check everything and count what would happen, writing nothing. ``earn``:
    earn points for the purchases with a member (``_earn``). ``progress(done, total)``: called
    after each batch with the valid purchases written so far and their number; a Celery task
    can pass one that saves it. Reasons are in the active language."""
    del actor  # purchases name no staff member; kept for the upload's uniform call
    report = PurchasesReport(dry_run=dry_run)
    try:
        parsed = csv_read(data, known=COLUMNS, required=REQUIRED)
        if not {"external_id", "membership_number"} & {name.lower() for name in parsed.header}:
            raise ImportFileError(
                ReportLine(
                    line=1,
                    column="external_id",
                    value="",
                    reason=_(
                        "The header needs external_id or membership_number: the member each "
                        "purchase belongs to."
                    ),
                )
            )
    except ImportFileError as exc:
        report.problems.append(exc.problem)
        return report
    report.encoding, report.delimiter = parsed.encoding, parsed.delimiter
    report.notices.extend(parsed.notices)
    now = timezone.now()
    lines = [Line(record=record) for record in parsed.records]
    # A purchase is its store's and its id: tills number their receipts per store, so the
    # same id at two stores is two purchases.
    groups: dict[tuple[str, str], list[Line]] = defaultdict(list)
    for line in lines:
        if line.record.problem is not None:
            line.problems.append(line.record.problem)
            continue
        purchase_id = line.record.values.get("purchase_id", "")
        if not purchase_id:
            line.reject("purchase_id", _("The purchase id is missing."))
        elif len(purchase_id) > ID_MAX:
            line.reject(
                "purchase_id",
                _("The purchase id is too long: at most %(max)d characters.") % {"max": ID_MAX},
            )
        else:
            line.grouped = True
            groups[(line.record.values.get("store", "").lower(), purchase_id)].append(line)
        _line_clean(line)
    purchases = [Bought(purchase_id=pid, lines=same) for (_store, pid), same in groups.items()]
    stores = {store.code.lower(): store for store in Store.objects.all()}
    for bought in purchases:
        _purchase_clean(bought, stores=stores, now=now)
    _members_check(purchases)
    _existing_check([b for b in purchases if not b.rejected])
    for bought in purchases:
        if bought.rejected:
            _rest_reject(bought)
    valid = [b for b in purchases if not b.rejected and not b.unchanged]
    if not dry_run:
        for start in range(0, len(valid), batch_size):
            _batch_write(valid[start : start + batch_size], earn=earn, now=now)
            if progress is not None:
                progress(min(start + batch_size, len(valid)), len(valid))
    for line in lines:
        report.problems.extend(line.problems)
    for bought in purchases:
        if bought.rejected:
            report.rejected += 1
        elif bought.unchanged:
            report.unchanged += 1
        else:
            report.imported += 1
            report.lines_imported += len(bought.lines)
    # A line that cannot be read or has no purchase id belongs to no purchase: one each.
    report.rejected += sum(1 for line in lines if line.problems and not line.grouped)
    report.problems.sort(key=lambda problem: problem.line)
    return report


# --- checks ------------------------------------------------------------------------------


def _line_clean(line: Line) -> None:
    """The line's own values: its product, quantity and amount."""
    values = line.record.values
    line.sku = values.get("sku", "")
    if not line.sku:
        line.reject("sku", _("The SKU is missing."))
    elif len(line.sku) > SKU_MAX:
        line.reject("sku", _("The SKU is too long: at most %(max)d characters.") % {"max": SKU_MAX})
    line.name = values.get("product", "")
    if len(line.name) > NAME_MAX:
        line.reject(
            "product",
            _("The product name is too long: at most %(max)d characters.") % {"max": NAME_MAX},
        )
    line.category = values.get("category", "").lower()
    if len(line.category) > CATEGORY_MAX:
        line.reject(
            "category",
            _("The category is too long: at most %(max)d characters.") % {"max": CATEGORY_MAX},
        )
    quantity = values.get("quantity", "")
    if quantity:
        amount = amount_parse(quantity)
        if amount is None or amount % 100 or not 0 < amount // 100 <= QUANTITY_MAX:
            line.reject(
                "quantity",
                _("The quantity must be a whole number from 1 to %(max)d.") % {"max": QUANTITY_MAX},
            )
        else:
            line.quantity = amount // 100
    amount = _amount(line, "amount")
    if amount is not None and amount < 0:
        line.reject(
            "amount",
            _(
                "A line's amount cannot be negative; put a discount on the line it belongs to "
                "(its amount after the discount)."
            ),
        )
    elif amount is not None:
        line.amount_ore = amount
        line.unit_price_ore = -(-amount // line.quantity)
        line.discount_ore = line.unit_price_ore * line.quantity - amount


def _amount(line: Line, column: str) -> int | None:
    value = line.record.values.get(column, "")
    if not value:
        if column == "total":
            line.reject(column, _("The total is missing."))
        else:
            line.reject(column, _("The line's amount is missing."))
        return None
    ore = amount_parse(value)
    if ore is None:
        line.reject(column, _("Not an amount; write it as 1234,50 or 1 234,50."))
    elif abs(ore) > AMOUNT_MAX_ORE:
        line.reject(column, _("The amount is too large."))
        return None
    return ore


def _purchase_clean(bought: Bought, *, stores: dict[str, Store], now: datetime.datetime) -> None:
    """The purchase's own values, read from its first line; every other line must repeat
    them."""
    first = bought.first
    if first.record.problem is None:
        for line in bought.lines[1:]:
            for column in PURCHASE_COLUMNS:
                ours, theirs = (
                    first.record.values.get(column, ""),
                    line.record.values.get(column, ""),
                )
                if ours != theirs:
                    line.reject(
                        column,
                        _(
                            "The purchase %(id)s has another value in this column on line "
                            "%(line)d; a purchase's lines repeat the same values."
                        )
                        % {"id": bought.purchase_id, "line": first.record.line},
                    )
    if len(bought.lines) > LINES_MAX:
        bought.reject(
            "purchase_id",
            _("The purchase has more than %(max)d lines.") % {"max": LINES_MAX},
        )
    values = first.record.values
    code = values.get("store", "")
    if not code:
        bought.reject("store", _("The store code is missing."))
    else:
        bought.store = stores.get(code.lower())
        if bought.store is None:
            bought.reject("store", _("No store has this code."))
    when = values.get("purchased_at", "")
    if not when:
        bought.reject("purchased_at", _("The purchase time is missing."))
    else:
        bought.purchased_at = datetime_parse(when)
        if bought.purchased_at is None:
            bought.reject(
                "purchased_at",
                _("Not a date and time; write it as 2024-03-01 or 2024-03-01 14:05."),
            )
        elif bought.purchased_at > now:
            bought.reject("purchased_at", _("The purchase time is in the future."))
    total = _amount(first, "total")
    if total is not None and total < 0:
        bought.reject(
            "total", _("A purchase's total cannot be negative; returns are not imported.")
        )
    elif total is not None:
        bought.total_ore = total
        amounts = [line.amount_ore for line in bought.lines]
        if all(amount is not None for amount in amounts):
            lines_sum = sum(a for a in amounts if a is not None)
            if abs(lines_sum - total) > ROUNDING_ORE:
                bought.reject(
                    "total",
                    _("The total is not the sum of the purchase's lines, %(sum)s.")
                    % {"sum": kronor_display(lines_sum)},
                )


def _members_check(purchases: list[Bought]) -> None:
    """Each purchase's member by external id (or membership number), a merged member's
    survivor; an unknown or erased member rejects the purchase."""
    references = [(b, b.first.record.values) for b in purchases]
    found: FoundMembers = members_find(
        external_ids=[v.get("external_id", "") for _b, v in references],
        numbers=[
            v.get("membership_number", "").replace(" ", "")
            for _b, v in references
            if not v.get("external_id")
        ],
    )
    for bought, values in references:
        external_id = values.get("external_id", "")
        number = values.get("membership_number", "").replace(" ", "")
        if external_id:
            column, key = "external_id", ("external_id", external_id)
        elif number:
            column, key = "membership_number", ("membership_number", number)
        else:
            bought.reject(
                "external_id",
                _("The purchase names no member: give external_id or membership_number."),
            )
            continue
        member = found[key]
        if member.erased:
            bought.reject(
                column,
                _("This member was erased at their own request; their purchases are not imported."),
            )
        elif member.member_id is None:
            if column == "external_id":
                reason = _("No member has this external id; import the members first.")
            else:
                reason = _("No member has this membership number.")
            bought.reject(column, reason)
        else:
            bought.member_id = member.member_id


def _existing_check(purchases: list[Bought]) -> None:
    """A purchase at its store with the same id is unchanged when the file says the same as
    the first time, and rejected otherwise (one query for the whole file)."""
    if not purchases:
        return
    existing = _existing(purchases)
    for bought in purchases:
        assert bought.store is not None
        there = existing.get((bought.store.pk, bought.purchase_id))
        if there is not None:
            _existing_mark(bought, there)


def _existing(purchases: list[Bought]) -> dict[tuple[int, str], str]:
    rows = Purchase.objects.filter(
        receipt_id__in=[b.purchase_id for b in purchases],
        store_id__in=list({b.store.pk for b in purchases if b.store is not None}),
    ).values_list("store_id", "receipt_id", "request_hash")
    return {(store_id, receipt_id): fingerprint for store_id, receipt_id, fingerprint in rows}


def _existing_mark(bought: Bought, fingerprint: str) -> None:
    if fingerprint == bought.fingerprint():
        bought.unchanged = True
    else:
        bought.reject(
            "purchase_id",
            _(
                "The store has a purchase with this id already, with other contents; "
                "it is not changed."
            ),
        )


def _rest_reject(bought: Bought) -> None:
    """Every line of a rejected purchase is listed: those without a problem of their own name
    the line that keeps the purchase out."""
    bad = next(line for line in bought.lines if line.problems)
    for line in bought.lines:
        if not line.problems and line.record.problem is None:
            line.reject(
                "purchase_id",
                _("Line %(line)d of this purchase has a problem; the purchase is not imported.")
                % {"line": bad.record.line},
            )


# --- writes -------------------------------------------------------------------------------


def _batch_write(purchases: list[Bought], *, earn: bool, now: datetime.datetime) -> None:
    """A batch in one transaction; after a collision with a concurrent write (another run of
    the same file, a till's receipt with the same id), purchase by purchase."""
    try:
        with transaction.atomic():
            _purchases_write(purchases, earn=earn, now=now)
        return
    except IntegrityError:
        # Products the batch created are gone with it: forget them (products_resolve caches).
        products_cache_clear()
    for bought in purchases:
        assert bought.store is not None
        try:
            with transaction.atomic():
                _purchases_write([bought], earn=earn, now=now)
        except IntegrityError:
            there = _existing([bought]).get((bought.store.pk, bought.purchase_id))
            if there is None:
                raise
            _existing_mark(bought, there)


def _purchases_write(purchases: list[Bought], *, earn: bool, now: datetime.datetime) -> None:
    """The purchases, then their lines (their products found or created): two INSERTs per
    batch, then the earning when asked for. Call inside a transaction. The members' rows are
    locked first, as by every points write: a purchase of a member merged since the file was
    read is the survivor's, as a new run of the file would find it."""
    members = {bought.member_id for bought in purchases if bought.member_id is not None}
    if members:
        survivors = members_lock_resolved(member_ids=members)
        for bought in purchases:
            if bought.member_id is not None:
                bought.member_id = survivors[bought.member_id]
    # One line per SKU to create unknown products from: the first that names the product.
    by_sku: dict[str, LineInput] = {}
    for bought in purchases:
        for line in bought.lines:
            known = by_sku.get(line.sku)
            if known is None or (not known.name and line.name):
                by_sku[line.sku] = line.line_input()
    products = products_resolve(list(by_sku.values()))
    purchase_ids = ids_reserve(Purchase, len(purchases))
    copy_insert(
        Purchase,
        [
            "id",
            "store_id",
            "receipt_id",
            "member_id",
            "total_ore",
            "purchased_at",
            "recorded_at",
            "request_hash",
        ],
        (
            (
                pk,
                bought.store.pk if bought.store is not None else None,
                bought.purchase_id,
                bought.member_id,
                bought.total_ore,
                bought.purchased_at,
                now,
                bought.fingerprint(),
            )
            for pk, bought in zip(purchase_ids, purchases, strict=True)
        ),
    )
    count = sum(len(bought.lines) for bought in purchases)
    copy_insert(
        PurchaseLine,
        [
            "id",
            "purchase_id",
            "line_no",
            "sku",
            "product_id",
            "category_id",
            "vat_rate_bp",
            "quantity",
            "unit_price_ore",
            "discount_ore",
        ],
        (
            (
                line_id,
                purchase_id,
                number,
                line.sku,
                *products[line.sku],  # product, category, VAT rate
                line.quantity,
                line.unit_price_ore,
                line.discount_ore,
            )
            for line_id, (purchase_id, number, line) in zip(
                ids_reserve(PurchaseLine, count),
                (
                    (purchase_id, number, line)
                    for purchase_id, bought in zip(purchase_ids, purchases, strict=True)
                    for number, line in enumerate(bought.lines, start=1)
                ),
                strict=True,
            )
        ),
    )
    if earn:
        rows = Purchase.objects.in_bulk(purchase_ids)
        for bought, pk in zip(purchases, purchase_ids, strict=True):
            if bought.member_id is not None:
                _earn(bought, rows[pk], products=products, now=now)


def _earn(
    bought: Bought,
    purchase: Purchase,
    *,
    products: dict[str, tuple[int, int | None, int]],
    now: datetime.datetime,
) -> None:
    """``--earn``: the points the club's rules give the purchase today, for its purchase
    day (a rule limited to dates counts when the purchase's day is within them) and the
    member's tier now, without campaign offers (they were not the member's then).

    The entry is an ordinary ``earn`` of the purchase (``purchase:<id>:earn``), its lot
    available from the purchase time plus the return window (``REWARDS_PENDING_DAYS``), and
    so expiring by the club's rules counted from then; points whose lot would have expired
    by today are not earned. Points still inside the return window are pending, as a
    till's purchase is. No timeline event and no tier upgrade: the next tier evaluation
    counts the points."""
    assert bought.purchased_at is not None
    assert bought.member_id is not None
    assert bought.total_ore is not None
    available_at = bought.purchased_at + datetime.timedelta(
        days=max(settings.REWARDS_PENDING_DAYS, 0)
    )
    if lot_expiry(available_at) <= now:
        return
    lines = [
        earning.LineForEarning(
            product_id=products[line.sku][0],
            category_id=products[line.sku][1],
            quantity=line.quantity,
            unit_price_ore=line.unit_price_ore,
            discount_ore=line.discount_ore,
        )
        for line in bought.lines
    ]
    calc = earning.earning_calculate(
        lines=lines,
        store_id=purchase.store_id,
        tier_id=_tier_id(bought.member_id),
        day=timezone.localtime(bought.purchased_at).date(),
        total_ore=bought.total_ore,
        rules=earning.rules_active(),
    )
    if calc.total <= 0:
        return
    matured = available_at <= now
    Purchase.objects.filter(pk=purchase.pk).update(
        points_earned=calc.total, points_available_at=available_at, explanation=calc.explanation
    )
    for number, points in enumerate(calc.line_points, start=1):
        if points:
            PurchaseLine.objects.filter(purchase=purchase, line_no=number).update(points=points)
    purchase.explanation = calc.explanation
    purchase_earn(
        purchase=purchase,
        member_id=bought.member_id,
        points=calc.total,
        available_at=available_at,
        matured=matured,
    )


def _tier_id(member_id: int) -> int | None:
    return MemberTier.objects.filter(member_id=member_id).values_list("tier_id", flat=True).first()
