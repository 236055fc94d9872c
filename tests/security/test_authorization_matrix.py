"""The authorization matrix (issue 11): every route times every principal, generated.

Routes are found by walking the URL resolver; the methods of each ``/api/v1/`` route come
from the OpenAPI schema. Each route falls into a class (``route_class``), and ``RULES`` says,
per class and kind of principal, what must come back: allowed, 401, 403, a redirect to a
login page, or "public". Nothing is recorded from the server. A foreign object (member B's
voucher for member A, store 2's reservation for store 1's key) must answer exactly like an
id that does not exist: 404, never 403. Back-office expectations come from the role patterns
in ``members/roles.py`` (the source of truth of docs/roles.md), cross-checked against the
hand-kept table of ``tests/members/test_admin_least_privilege.py``.

A new route is covered by its class automatically; a route that fits no class, or whose URL
parameters the world cannot fill, fails ``test_every_route_is_classified`` and says what to
add. docs/roles.md, "The authorization matrix", explains how.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from fnmatch import fnmatch
from typing import TYPE_CHECKING, Any

import pytest
from django.contrib import admin
from django.contrib.auth.models import Permission
from django.db.models import Model
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver, reverse

import tests.members.test_admin_least_privilege as least_privilege
from members.api.permissions import HasScope, IsMember
from members.api.scopes import SCOPES
from members.api.views import api_not_found
from members.roles import (
    ADMINISTRATOR,
    ADMINISTRATOR_ONLY_MODELS,
    DATA_PROTECTION_OFFICER,
    MARKETER,
    MEMBER_LEVEL_MODELS,
    ROLE_PERMISSIONS,
    ROLES_WITHOUT_MEMBER_LEVEL,
    STORE_STAFF,
)

if TYPE_CHECKING:
    from django.test.client import _MonkeyPatchedWSGIResponse as Response

pytestmark = pytest.mark.django_db

SUPERUSER = "superuser"
UNKNOWN_ID = 987654321

# --- principals -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Principal:
    name: str
    kind: str  # anonymous | member | key | revoked_key | staff
    owner: str = "A"  # whose objects are its own: member "A"/"B", a key's store "1"/"2"
    scopes: tuple[str, ...] = ()
    role: str = ""  # staff: a members.roles group, or SUPERUSER


ALL_SCOPES = tuple(SCOPES)
PRINCIPALS = [
    Principal("anonymous", "anonymous"),
    Principal("member A", "member", owner="A"),
    Principal("member B", "member", owner="B"),
    Principal("key of store 1", "key", owner="1", scopes=ALL_SCOPES),
    Principal("key of store 2", "key", owner="2", scopes=ALL_SCOPES),
    Principal("key with members:read only", "key", owner="1", scopes=("members:read",)),
    Principal("revoked key", "revoked_key", owner="1", scopes=ALL_SCOPES),
    *(
        Principal(role, "staff", role=role)
        for role in (STORE_STAFF, MARKETER, DATA_PROTECTION_OFFICER, ADMINISTRATOR, SUPERUSER)
    ),
]
FOREIGN = {"A": "B", "B": "A", "1": "2", "2": "1"}

# --- the rules --------------------------------------------------------------------------------

ALLOWED = "allowed"  # not 401/403/404, no 5xx, not sent to a login page
LOGIN = "member login"  # 302 to the member log-in page (or 405: method refused before anything)
ADMIN_LOGIN = "admin login"  # 302 to the back-office log-in page
ADMIN_HOME = "back-office"  # staff without a membership on a member page: 302 to /admin/ (or 405)
PUBLIC = "public"  # never refused (no 401/403, no login page), no 5xx
SCOPE = "scope"  # allowed if the key carries the view's required_scope, else 403
ROLE = "role"  # allowed if the role's patterns (members/roles.py) grant the permission, else 403

RULES: dict[str, dict[str, str | int]] = {
    # /api/v1/ for tills and the web shop (permission HasScope): keys only
    "integration api": {
        "anonymous": 401,
        "member": 403,
        "key": SCOPE,
        "revoked_key": 401,
        "staff": 403,
    },
    # /api/v1/ for the logged-in member (permission IsMember): sessions of members only
    "member api": {
        "anonymous": 401,
        "member": ALLOWED,
        "key": 403,
        "revoked_key": 401,
        "staff": 403,
    },
    # unmatched /api/v1/ paths: the JSON 404 for everyone
    "api fallback": dict.fromkeys(("anonymous", "member", "key", "revoked_key", "staff"), 404),
    # /mina-sidor/...: the member's own pages (an Api-Key header logs nobody in there)
    "member page": {
        "anonymous": LOGIN,
        "member": ALLOWED,
        "key": LOGIN,
        "revoked_key": LOGIN,
        "staff": ADMIN_HOME,
    },
    # /admin/...: changelists, change pages and the custom back-office views
    "back-office": {
        "anonymous": ADMIN_LOGIN,
        "member": ADMIN_LOGIN,
        "key": ADMIN_LOGIN,
        "revoked_key": ADMIN_LOGIN,
        "staff": ROLE,
    },
    # pages for everyone (landing, privacy notice, signed links)
    "public": dict.fromkeys(("anonymous", "member", "key", "revoked_key", "staff"), PUBLIC),
    # the OpenAPI schema and its docs: for everyone, but the API reads a key sent along and
    # refuses a revoked one, as everywhere in the API
    "api docs": {
        "anonymous": PUBLIC,
        "member": PUBLIC,
        "key": PUBLIC,
        "revoked_key": 401,
        "staff": PUBLIC,
    },
}

# Pages outside /mina-sidor/, /admin/, /konto/ and /api/v1/ that anyone may open. Signed-link
# pages get an invalid token: the matrix checks that nobody is refused, not the link itself.
PUBLIC_PAGES: dict[str, Callable[[World], dict[str, str]]] = {
    "members:landing": lambda w: {},
    "members:language": lambda w: {},
    "members:offline": lambda w: {},
    "members:favicon": lambda w: {},
    "manifest": lambda w: {},
    "service-worker": lambda w: {},
    "consent:privacy-notice": lambda w: {},
    "consent:erasure-confirm": lambda w: {"token": "not-a-valid-token"},
    "consent:unsubscribe": lambda w: {"token": "not-a-valid-token"},
    "campaigns:click": lambda w: {"token": "not-a-valid-token"},
    "campaigns:open": lambda w: {"token": "not-a-valid-token"},
    "rewards:referral-link": lambda w: {"code": "NOSUCHCODE"},
    # pictures of rewards, offers, challenges and badges (staff content, docs/pictures.md)
    "picture": lambda w: {"name": "reward/0123456789abcdef-160.webp"},
}
API_DOCS = ["api-schema", "api-docs"]
# Member pages outside /mina-sidor/ (a short address for a QR code): the member-page rules.
MEMBER_PAGES_ELSEWHERE = {"campaigns:door", "campaigns:door-offer"}


def _door_token(world: World) -> str:
    from members.door import store_door_token

    return store_door_token(world.stores["1"])


# Routes left out on purpose, with the reason (by URL name, or name suffix for the admin).
OUT_OF_MATRIX_ADMIN_SUFFIXES = {
    "_add": "add forms: the add permission, held to tests/members/test_roles.py",
    "_delete": "delete pages: nothing is deleted by a role (docs/roles.md, note 2)",
    "_history": "history pages: the same check as the change page",
}
OUT_OF_MATRIX = {
    "admin:login": "the back-office log-in (tests/members/test_login_protection.py)",
    "admin:logout": "log-out",
    "admin:password_change": "a staff member's own password",
    "admin:password_change_done": "a staff member's own password",
    "admin:jsi18n": "static translations for the admin's JavaScript",
    "admin:autocomplete": "answers only for fields of models the staff member may view",
    "admin:view_on_site": "redirects to the object's public address",
    "admin:app_list": "an app's index lists only the models the role may see",
    "admin:<redirect>": "the old change URL redirects to the change page",
    "admin:<catch-all>": "unknown back-office paths (admin.site.final_catch_all_view)",
    "konto:*": "django-allauth and activation (tests/members/test_signup.py, "
    "test_login_protection.py, test_activation.py)",
}

# Custom back-office views: per method, the permissions a role needs (all of them) and what an
# allowed role gets. ``None``: the request would change something, so only refused roles send
# it (they must get 403 and change nothing). "view_x" is satisfied by "change_x", as in the
# admin's own has_view_permission.
AdminCall = tuple[str, tuple[str, ...], int | None]
ADMIN_VIEWS: dict[str, tuple[Callable[[World], dict[str, Any]], list[AdminCall]]] = {
    "admin:index": (lambda w: {}, [("GET", (), 200)]),
    "admin:auth_user_password_change": (
        lambda w: {"id": w.members["A"].user_id},
        [("GET", ("members.change_user",), 200), ("POST", ("members.change_user",), None)],
    ),
    "admin:members_member_consent": (
        lambda w: {"object_id": w.members["A"].pk},
        [("GET", ("members.change_member",), 200), ("POST", ("members.change_member",), None)],
    ),
    "admin:rewards_member_points": (
        lambda w: {"member_id": w.members["A"].pk},
        [
            ("GET", ("rewards.view_pointbalance",), 200),
            ("POST", ("rewards.view_pointbalance", "rewards.adjust_points"), None),
        ],
    ),
    "admin:rewards_earningrule_simulate": (
        lambda w: {},
        [("GET", ("rewards.view_earningrule",), 200)],
    ),
    "admin:rewards_product_import": (
        lambda w: {},
        [("GET", ("rewards.add_product",), 200), ("POST", ("rewards.add_product",), None)],
    ),
    "admin:rewards_reward_codes": (
        lambda w: {"reward_id": w.partner_reward_id},
        [("GET", ("rewards.change_reward",), 200), ("POST", ("rewards.change_reward",), None)],
    ),
    "admin:members_importjob_progress": (
        lambda w: {"job_id": w.import_job_id},
        [("GET", ("members.view_importjob",), 200)],
    ),
    "admin:members_importjob_again": (
        lambda w: {"job_id": w.import_job_id},
        # POST only (GET: 405 for everyone); the job's kind asks for its own permission too
        [("POST", ("members.add_importjob", "members.add_member"), None)],
    ),
    "admin:campaigns_segment_count": (
        lambda w: {},
        [("POST", ("campaigns.view_segment",), 200)],  # read-only: a count and a sample
    ),
    "admin:campaigns_segment_import": (
        lambda w: {},
        [("GET", ("campaigns.add_segment",), 200), ("POST", ("campaigns.add_segment",), None)],
    ),
    "admin:campaigns_campaign_preview": (
        lambda w: {"pk": w.campaign_id},
        [("GET", ("campaigns.view_campaign",), 200)],
    ),
    "admin:campaigns_campaign_simulate": (
        lambda w: {"pk": w.campaign_id},
        [("GET", ("campaigns.view_campaign",), 200)],
    ),
    "admin:campaigns_campaign_progress": (
        lambda w: {"pk": w.campaign_id},
        [("GET", ("campaigns.view_campaign",), 200)],
    ),
    "admin:campaigns_campaign_progress_json": (
        lambda w: {"pk": w.campaign_id},
        [("GET", ("campaigns.view_campaign",), 200)],
    ),
    **{
        f"admin:campaigns_campaign_{action}": (
            lambda w: {"pk": w.campaign_id},
            # GET shows nothing and redirects to the campaign; POST acts
            [
                ("GET", ("campaigns.change_campaign",), 302),
                ("POST", ("campaigns.change_campaign",), None),
            ],
        )
        for action in ("test_send", "launch", "cancel")
    },
    "admin:campaigns_personalisationrun_run": (
        lambda w: {},
        [("POST", ("campaigns.add_personalisationrun",), None)],  # GET: 405 for everyone
    ),
    # The door poster (members.admin_door): printed by those who see stores, retired (a new
    # door code) only by those who change them.
    "admin:members_store_door_poster": (
        lambda w: {"store_id": w.stores["1"].pk},
        [("GET", ("members.view_store",), 200)],
    ),
    "admin:members_store_door_code": (
        lambda w: {"store_id": w.stores["1"].pk},
        [("POST", ("members.change_store",), None)],
    ),
    # The staff desk (members.desk_views): seeing members, then each action's own permission.
    "desk:home": (lambda w: {}, [("GET", ("members.view_member",), 200)]),
    "desk-arrivals:list": (lambda w: {}, [("GET", ("members.view_member",), 200)]),
    "desk:member": (
        lambda w: {"member_id": w.members["A"].pk},
        [("GET", ("members.view_member",), 200)],
    ),
    "desk:verification-resend": (
        lambda w: {"member_id": w.members["A"].pk},
        [("POST", ("members.view_member", "members.change_member"), None)],
    ),
    "desk:activation-send": (
        lambda w: {"member_id": w.members["A"].pk},
        [("POST", ("members.view_member", "members.change_member"), None)],
    ),
    "desk-rewards:check-in": (
        lambda w: {"member_id": w.members["A"].pk},
        [("POST", ("members.view_member", "rewards.add_checkin"), None)],
    ),
    "desk-rewards:adjust-points": (
        lambda w: {"member_id": w.members["A"].pk},
        [("POST", ("members.view_member", "rewards.adjust_points"), None)],
    ),
    "desk-rewards:voucher-use": (
        lambda w: {"member_id": w.members["A"].pk, "voucher_id": w.owned["voucher"]["A"]},
        [("POST", ("members.view_member", "rewards.change_voucher"), None)],
    ),
    # a member's receipt at the desk: seeing members and their purchases
    "desk-rewards:receipt": (
        lambda w: {"member_id": w.members["A"].pk, "purchase_id": w.owned["purchase"]["A"]},
        [("GET", ("members.view_member", "rewards.view_purchase"), 200)],
    ),
    "desk-rewards:receipt-pdf": (
        lambda w: {"member_id": w.members["A"].pk, "purchase_id": w.owned["purchase"]["A"]},
        [("GET", ("members.view_member", "rewards.view_purchase"), 200)],
    ),
    "desk-campaigns:offer-activate": (
        lambda w: {"member_id": w.members["A"].pk, "member_offer_id": w.owned["member_offer"]["A"]},
        [("POST", ("members.view_member", "campaigns.change_memberoffer"), None)],
    ),
    "desk-consent:given-in-store": (
        lambda w: {"member_id": w.members["A"].pk},
        [("POST", ("members.view_member", "members.change_member"), None)],
    ),
    # The duplicate review queue (members.admin_duplicates): merging needs merge_member,
    # "not the same person" the change permission; the review page is the change page.
    "admin:members_duplicatecandidate_merge": (
        lambda w: {"pk": w.duplicate_id},
        [("POST", ("members.view_duplicatecandidate", "members.merge_member"), None)],
    ),
    "admin:members_duplicatecandidate_dismiss": (
        lambda w: {"pk": w.duplicate_id},
        [("POST", ("members.change_duplicatecandidate",), None)],
    ),
    # The data-quality page's lists (campaigns.data_quality.admin): its view permission.
    "admin:campaigns_dataqualitysnapshot_list": (
        lambda w: {"code": "members_missing_email"},
        [("GET", ("campaigns.view_dataqualitysnapshot",), 200)],
    ),
    "campaign_results:detail": (
        lambda w: {"campaign_id": w.campaign_id},
        [("GET", ("campaigns.view_campaign",), 200)],
    ),
    "campaign_results:promote": (
        lambda w: {"campaign_id": w.campaign_id},
        [("POST", ("campaigns.change_campaign",), None)],
    ),
}

# URL parameters that name something a member or a store owns: which kind of object.
OWNED_PARAMS: dict[str, tuple[str, str]] = {
    "rewards:voucher": ("voucher_id", "voucher"),
    "rewards:voucher-cancel": ("voucher_id", "voucher"),
    "rewards:receipt": ("purchase_id", "purchase"),
    "rewards:receipt-pdf": ("purchase_id", "purchase"),
    "consent:export-download": ("pk", "export"),
    "campaigns:offer-activate": ("pk", "member_offer"),
    "api-purchase-returns": ("receipt_id", "receipt"),
    "api-reservation-capture": ("reservation_id", "reservation"),
    "api-reservation-release": ("reservation_id", "reservation"),
}
UNKNOWN_VALUE = {"receipt": "NO-SUCH-RECEIPT"}
# Parameters that name something shared (a reward in the catalogue, a consent purpose).
SHARED_PARAMS: dict[str, Callable[[World], dict[str, Any]]] = {
    "rewards:reward": lambda w: {"code": w.reward_code},
    "rewards:waitlist": lambda w: {"code": w.reward_code},
    "api-my-consent": lambda w: {"code": "marketing_email"},
    # the door poster's page (a member page outside /mina-sidor/: MEMBER_PAGES_ELSEWHERE)
    "campaigns:door": lambda w: {"token": _door_token(w)},
    "campaigns:door-offer": lambda w: {"token": _door_token(w)},
}
# A body that passes validation, so that a foreign object's request reaches the lookup. An
# allowed principal on its own object sends {} instead (a 400 before anything is written).
VALID_BODY: dict[str, dict[str, Any]] = {
    "api-purchase-returns": {"return_id": "MATRIX-RET"},
    "api-reservation-capture": {"points": 1, "idempotency_key": "matrix-capture"},
    "api-reservation-release": {"idempotency_key": "matrix-release"},
}

# --- routes -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Route:
    name: str  # "namespace:name", or "admin:<redirect>" / "admin:<catch-all>" / "<api-fallback>"
    pattern: str  # the joined route pattern, e.g. "mina-sidor/vouchers/<int:voucher_id>/"
    callback: Any

    @property
    def params(self) -> list[str]:
        found = re.findall(r"\(\?P<(\w+)>|<(?:\w+:)?(\w+)>", self.pattern)
        return [regex or converter for regex, converter in found]

    @property
    def view_class(self) -> Any:
        return getattr(self.callback, "cls", None)

    @property
    def schema_path(self) -> str:
        return "/" + re.sub(r"<(?:\w+:)?(\w+)>", r"{\1}", self.pattern)


def _walk(patterns: list[Any], prefix: str = "", namespace: str = "") -> Iterator[Route]:
    for entry in patterns:
        if isinstance(entry, URLResolver):
            ns = entry.namespace or ""
            joined = f"{namespace}:{ns}" if namespace and ns else (ns or namespace)
            yield from _walk(entry.url_patterns, prefix + str(entry.pattern), joined)
        elif isinstance(entry, URLPattern):
            name = entry.name or ""
            if not name:
                if entry.callback is api_not_found:
                    name = "<api-fallback>"
                elif prefix.startswith("admin/") and str(entry.pattern).endswith(".*)$"):
                    name = "<catch-all>"
                elif prefix.startswith("admin/"):
                    name = "<redirect>"
            full = f"{namespace}:{name}" if namespace else name
            yield Route(full, prefix + str(entry.pattern), entry.callback)


def all_routes() -> list[Route]:
    return list(_walk(get_resolver().url_patterns))


def _admin_model_pages() -> dict[str, type[Model]]:
    """URL name of every registered model's changelist and change page -> the model."""
    pages: dict[str, type[Model]] = {}
    for model in admin.site._registry:
        opts = model._meta
        for page in ("changelist", "change"):
            pages[f"admin:{opts.app_label}_{opts.model_name}_{page}"] = model
    return pages


def route_class(route: Route) -> str | None:
    """The class in RULES, "out" for a route left out on purpose, or None: unclassified."""
    if route.name in OUT_OF_MATRIX:
        return "out"
    pattern = route.pattern.lstrip("^")
    if pattern.startswith("konto/"):
        return "out"
    if route.name == "<api-fallback>":
        return "api fallback"
    if route.name in API_DOCS:
        return "api docs"
    if pattern.startswith("api/v1/"):
        permissions = getattr(route.view_class, "permission_classes", [])
        if HasScope in permissions:
            return "integration api"
        if IsMember in permissions:
            return "member api"
        return None
    if pattern.startswith("admin/"):
        if route.name in _admin_model_pages() or route.name in ADMIN_VIEWS:
            return "back-office"
        if route.name.endswith(tuple(OUT_OF_MATRIX_ADMIN_SUFFIXES)):
            return "out"
        return None
    if pattern.startswith("mina-sidor/"):
        return "member page"
    if route.name in PUBLIC_PAGES:
        return "public"
    if route.name in MEMBER_PAGES_ELSEWHERE:
        return "member page"
    return None


# --- the world --------------------------------------------------------------------------------


@dataclass
class World:
    stores: dict[str, Any]
    members: dict[str, Any]
    owned: dict[str, dict[str, Any]]  # kind of object -> owner ("A"/"B"/"1"/"2") -> value
    reward_code: str
    partner_reward_id: int
    campaign_id: int
    duplicate_id: int = 0
    import_job_id: int = 0
    clients: dict[str, Client] = field(default_factory=dict)


def build_world(capture: Any) -> World:
    from campaigns.models import Campaign, MemberOffer
    from consent.models import PrivacyRequest
    from members.models import DuplicateCandidate
    from members.services import api_key_revoke
    from rewards.ledger.reservations import points_reserve
    from rewards.models import Reward
    from tests import factories
    from tests.factories import consent as cf
    from tests.factories import rewards as rf

    store1 = factories.store(code="matrix-1", name="Matrisgatan 1")
    store2 = factories.store(code="matrix-2", name="Matrisgatan 2")
    # Member A has a row in every member-level model, so every admin change page has an object.
    a = cf.member_with_data_everywhere(store1, capture)
    b = factories.member_with_user(email="berit.matrix@example.se", first_name="Berit")
    for member in (a, b):
        rf.earned(member, 1000)
    reward = rf.reward(code="matrix-reward", points_cost=10)
    vouchers = {"A": rf.claim(a, reward).pk, "B": rf.claim(b, reward).pk}
    bought = {
        "A": rf.purchase(store=store1, member=a, receipt_id="MATRIX-A").purchase,
        "B": rf.purchase(store=store2, member=b, receipt_id="MATRIX-B").purchase,
    }
    receipts = {"1": bought["A"].receipt_id, "2": bought["B"].receipt_id}
    reservations = {
        owner: points_reserve(
            member=member, store=store, points=50, idempotency_key=f"matrix-res-{owner}"
        )["reservation_id"]
        for owner, member, store in (("1", a, store1), ("2", b, store2))
    }
    with capture(execute=True):
        cf.export_requested(b)
    exports = {
        owner: PrivacyRequest.objects.get(
            member=member, kind=PrivacyRequest.Kind.EXPORT, status=PrivacyRequest.Status.DONE
        ).pk
        for owner, member in (("A", a), ("B", b))
    }
    a_offer = MemberOffer.objects.get(member=a)
    b_offer = MemberOffer.objects.create(
        member=b,
        offer=a_offer.offer,
        campaign=a_offer.campaign,
        status=MemberOffer.Status.AVAILABLE,
    )
    # a pair of A and B waiting in the duplicate review queue
    low, high = sorted((a.pk, b.pk))
    duplicate = DuplicateCandidate.objects.create(
        member_a_id=low, member_b_id=high, score=0.9, reasons=[{"rule": "phone", "similarity": 1}]
    )
    _reference_rows()
    _third_party_rows()
    import_job_id = _import_job_row()

    clients: dict[str, Client] = {}
    stores = {"1": store1, "2": store2}
    for principal in PRINCIPALS:
        if principal.kind in ("key", "revoked_key"):
            key, secret = factories.api_key_with_secret(
                store_obj=stores[principal.owner], scopes=list(principal.scopes), name="Matris"
            )
            if principal.kind == "revoked_key":
                api_key_revoke(key=key)
            clients[principal.name] = Client(HTTP_AUTHORIZATION=f"Api-Key {secret}")
            continue
        client = Client()
        if principal.kind == "member":
            user = {"A": a, "B": b}[principal.owner].user
            assert user is not None
            client.force_login(user)
        elif principal.kind == "staff":
            if principal.role == SUPERUSER:
                client.force_login(factories.staff_user(superuser=True))
            else:
                client.force_login(factories.staff_user(role=principal.role))
        clients[principal.name] = client

    return World(
        stores=stores,
        members={"A": a, "B": b},
        owned={
            "voucher": vouchers,
            "receipt": receipts,
            "purchase": {owner: purchase.pk for owner, purchase in bought.items()},
            "reservation": reservations,
            "export": exports,
            "member_offer": {"A": a_offer.pk, "B": b_offer.pk},
        },
        reward_code=reward.code,
        partner_reward_id=Reward.objects.get(code="x-partner").pk,
        campaign_id=Campaign.objects.order_by("pk").values_list("pk", flat=True)[0],
        duplicate_id=duplicate.pk,
        import_job_id=import_job_id,
        clients=clients,
    )


def _reference_rows() -> None:
    """Rows the member's history leaves empty: an event rule, the personalisation job's and
    the data-quality snapshot."""
    from campaigns.data_quality.snapshots import data_quality_snapshot_take
    from campaigns.models import (
        AffinityBasis,
        CategoryAffinity,
        InterestCategory,
        PersonalisationRun,
        ProductAffinity,
    )
    from consent.models import Interest
    from rewards.models import Category, Product
    from tests.factories import rewards as rf

    rf.event_rule(event="check_in")
    first, second = Product.objects.order_by("pk")[:2]
    shoes, jackets = Category.objects.order_by("pk")[:2]
    figures = {"pair_count": 2, "support": 0.1, "confidence": 0.5, "lift": 1.5}
    ProductAffinity.objects.create(
        basis=AffinityBasis.BASKET, product_a=first, product_b=second, **figures
    )
    CategoryAffinity.objects.create(
        basis=AffinityBasis.BASKET, category_a=shoes, category_b=jackets, **figures
    )
    InterestCategory.objects.create(interest=Interest.objects.order_by("pk")[0], category=shoes)
    PersonalisationRun.objects.create()
    data_quality_snapshot_take()


def _import_job_row() -> int:
    """A finished back-office import (a dry run whose file is gone: "again" says so)."""
    from members.models import ImportJob

    job = ImportJob.objects.create(
        kind="members", file_name="matris.csv", status=ImportJob.Status.DONE, dry_run=True
    )
    return job.pk


def _third_party_rows() -> None:
    """Rows for the admin pages of installed apps (scheduled tasks, login attempts)."""
    from axes.models import AccessAttempt, AccessFailureLog, AccessLog
    from django.utils import timezone
    from django_celery_beat.models import (
        ClockedSchedule,
        CrontabSchedule,
        IntervalSchedule,
        PeriodicTask,
        SolarSchedule,
    )

    every = IntervalSchedule.objects.create(every=1, period=IntervalSchedule.DAYS)
    CrontabSchedule.objects.create(minute="0", hour="3")
    SolarSchedule.objects.create(event="sunrise", latitude=59.33, longitude=18.07)
    ClockedSchedule.objects.create(clocked_time=timezone.now())
    PeriodicTask.objects.get_or_create(
        name="matrix-task", defaults={"task": "matrix.noop", "interval": every}
    )
    attempt = {"user_agent": "matrix", "ip_address": "203.0.113.9", "username": "x@example.se"}
    AccessAttempt.objects.create(failures_since_start=1, **attempt)
    AccessLog.objects.create(**attempt)
    AccessFailureLog.objects.create(**attempt)


@pytest.fixture
def world(django_capture_on_commit_callbacks: Any) -> World:
    return build_world(django_capture_on_commit_callbacks)


# --- checking one cell ------------------------------------------------------------------------


def _location(response: Response) -> str:
    return response.get("Location", "") if response.status_code in (301, 302) else ""


def _error_code(response: Response) -> str:
    if "json" not in response.get("Content-Type", ""):
        return ""
    try:
        return str(json.loads(response.content).get("error", {}).get("code", ""))
    except (ValueError, AttributeError):
        return ""


def outcome_problem(expected: str | int, response: Response) -> str | None:
    """Why ``response`` breaks the ``expected`` outcome, or None when it keeps it."""
    status = response.status_code
    location = _location(response)
    if status >= 500:
        return f"server error {status}"
    login = reverse("account_login")
    if isinstance(expected, int):
        return None if status == expected else f"expected {expected}, got {status} {location}"
    if expected in (ALLOWED, PUBLIC):
        if status in (401, 403) or (expected == ALLOWED and status == 404):
            return f"refused with {status} {_error_code(response)}"
        if location.startswith((login, "/admin/login/", reverse("account_logout"))):
            return f"sent to {location}"
        return None
    if expected == LOGIN:
        ok = location.startswith(login + "?next=") or status == 405
        return None if ok else f"expected a redirect to {login}, got {status} {location}"
    if expected == ADMIN_LOGIN:
        ok = location.startswith("/admin/login/?next=")
        return None if ok else f"expected a redirect to the admin log-in, got {status} {location}"
    if expected == ADMIN_HOME:
        ok = location == reverse("admin:index") or status == 405
        return None if ok else f"expected a redirect to /admin/, got {status} {location}"
    raise AssertionError(f"no such outcome: {expected}")


def role_grants(role: str, permission: str) -> bool:
    """Whether members/roles.py gives ``role`` this permission ("app_label.codename")."""
    if role == SUPERUSER:
        return True
    app_label, codename = permission.split(".")
    model = (
        Permission.objects.filter(content_type__app_label=app_label, codename=codename)
        .values_list("content_type__model", flat=True)
        .first()
    )
    if role in ROLES_WITHOUT_MEMBER_LEVEL and f"{app_label}.{model}" in MEMBER_LEVEL_MODELS:
        return False
    if role != ADMINISTRATOR and f"{app_label}.{model}" in ADMINISTRATOR_ONLY_MODELS:
        return False
    return any(fnmatch(permission, pattern) for pattern in ROLE_PERMISSIONS[role])


def role_may(role: str, permission: str) -> bool:
    """As the admin checks it: a view permission is also given by the change permission, and
    the moderation queue opens for moderators (rewards.loyalty_admin.ReviewAdmin). Members'
    offers are the exception: activating one at the desk (change) does not open their list
    (campaigns.admin.MemberOfferAdmin)."""
    alternatives = [permission]
    if ".view_" in permission and permission != "campaigns.view_memberoffer":
        alternatives.append(permission.replace(".view_", ".change_"))
    if permission == "rewards.view_review":
        alternatives.append("rewards.moderate_submission")
    return any(role_grants(role, p) for p in alternatives)


def model_page_allowed(role: str, model: type[Model]) -> bool:
    opts = model._meta
    return role_may(role, f"{opts.app_label}.view_{opts.model_name}")


@dataclass
class Matrix:
    world: World
    cells: int = 0
    failures: list[str] = field(default_factory=list)

    def request(self, principal: Principal, method: str, url: str, body: Any = None) -> Response:
        client = self.world.clients[principal.name]
        if method == "GET":
            response = client.get(url)
        elif body is not None or url.startswith("/api/"):
            response = client.generic(
                method, url, json.dumps(body or {}), content_type="application/json"
            )
        else:
            response = client.generic(method, url)  # an empty form
        if response.streaming:  # a download: read it, which closes the file
            b"".join(response.streaming_content)  # type: ignore[attr-defined]
        return response

    def check(
        self, principal: Principal, method: str, url: str, expected: str | int, body: Any = None
    ) -> Response:
        response = self.request(principal, method, url, body)
        self.cells += 1
        problem = outcome_problem(expected, response)
        if problem:
            self.failures.append(f"{principal.name:28} {method:4} {url}: {problem}")
        return response

    def check_foreign(
        self, principal: Principal, method: str, route: Route, kwargs: dict, body: Any = None
    ) -> None:
        """Another member's or store's object: 404 (405 if the method is refused before any
        lookup), and exactly what an id that does not exist gets."""
        param, kind = OWNED_PARAMS[route.name]
        foreign = _url(route, {**kwargs, param: self.world.owned[kind][FOREIGN[principal.owner]]})
        unknown = _url(route, {**kwargs, param: UNKNOWN_VALUE.get(kind, UNKNOWN_ID)})
        response = self.request(principal, method, foreign, body)
        baseline = self.request(principal, method, unknown, body)
        self.cells += 1
        seen = (response.status_code, _error_code(response))
        expected = (baseline.status_code, _error_code(baseline))
        if response.status_code not in (404, 405) or seen != expected:
            self.failures.append(
                f"{principal.name:28} {method:4} {foreign}: a foreign object answers {seen}, "
                f"an unknown one {expected}; both must be the same 404"
            )

    def assert_clean(self) -> None:
        if self.failures:
            pytest.fail(
                f"{len(self.failures)} of {self.cells} cells break the authorization matrix "
                "(RULES in tests/security/test_authorization_matrix.py):\n"
                + "\n".join(self.failures),
                pytrace=False,
            )


def _url(route: Route, kwargs: dict[str, Any]) -> str:
    return reverse(route.name, kwargs=kwargs)


def _rule(route_cls: str, principal: Principal) -> str | int:
    return RULES[route_cls][principal.kind]


def _snapshot() -> dict[str, Any]:
    """What a refused request must not change: counts and states of the key tables."""
    from django.db.models import Count

    from campaigns.models import MemberOffer
    from consent.models import ConsentEvent, PrivacyRequest
    from members.models import DuplicateCandidate, Member, MemberMerge
    from rewards.models import CheckIn, LedgerEntry, Purchase, Reservation, Voucher

    def by_status(model: type[Model]) -> dict[str, int]:
        rows = model._default_manager.values("status").annotate(n=Count("pk")).order_by()
        return {row["status"]: row["n"] for row in rows}

    return {
        "ledger entries": LedgerEntry.objects.count(),
        "purchases": Purchase.objects.count(),
        "check-ins": CheckIn.objects.count(),
        "consent events": ConsentEvent.objects.count(),
        "reservations": by_status(Reservation),
        "vouchers": by_status(Voucher),
        "member offers": by_status(MemberOffer),
        "privacy requests": by_status(PrivacyRequest),
        "cards": sorted(Member.objects.values_list("card_token", flat=True)),
        "duplicate pairs": by_status(DuplicateCandidate),
        "merges": MemberMerge.objects.count(),
    }


# --- the tests --------------------------------------------------------------------------------


def _schema(client: Client) -> dict[str, Any]:
    response = client.get("/api/schema/?format=json")
    assert response.status_code == 200
    return json.loads(response.content)


def test_every_route_is_classified(client: Client) -> None:
    """Every route has a class in RULES (or a reason to stay out), its parameters have values,
    and every /api/v1/ route is in the OpenAPI schema and the other way round."""
    problems = []
    api_paths = set()
    for route in all_routes():
        cls = route_class(route)
        if cls is None:
            problems.append(
                f"{route.name or '(unnamed)'} /{route.pattern}: unclassified. Give it a class in "
                "route_class() (member pages live under mina-sidor/, public pages go in "
                "PUBLIC_PAGES, back-office views in ADMIN_VIEWS with their permission, API "
                "views use HasScope or IsMember), or a reason in OUT_OF_MATRIX."
            )
            continue
        if cls in ("out", "api fallback", "api docs"):
            continue
        if route.pattern.startswith("api/v1/"):
            api_paths.add(route.schema_path)
        known = set()
        if route.name in OWNED_PARAMS:
            known.add(OWNED_PARAMS[route.name][0])
        if route.name in SHARED_PARAMS:
            known |= _param_names(SHARED_PARAMS[route.name])
        if route.name in PUBLIC_PAGES:
            known |= _param_names(PUBLIC_PAGES[route.name])
        if route.name in ADMIN_VIEWS:
            known |= _param_names(ADMIN_VIEWS[route.name][0])
        if route.name in _admin_model_pages():
            known.add("object_id")
        missing = set(route.params) - known
        if missing:
            problems.append(
                f"{route.name} /{route.pattern}: no value for {sorted(missing)}. Name what it "
                "points at in OWNED_PARAMS (a member's or store's object: foreign ones must be "
                "404) or SHARED_PARAMS."
            )
    schema_paths = {p for p in _schema(client)["paths"] if p.startswith("/api/v1/")}
    for path in sorted(schema_paths ^ api_paths):
        problems.append(f"{path}: in {'the schema' if path in schema_paths else 'urls'} only")
    assert not problems, "\n".join(problems)


def _param_names(kwargs_of: Callable[[World], dict[str, Any]]) -> set[str]:
    """The keys a parameter function returns, without a world (they read attributes lazily)."""

    class Anything:
        def __getattr__(self, name: str) -> Any:
            return self

        def __getitem__(self, key: str) -> Any:
            return self

    return set(kwargs_of(Anything()))  # type: ignore[arg-type]


def _routes_of(*classes: str) -> list[tuple[Route, str]]:
    return [(r, c) for r in all_routes() if (c := route_class(r) or "") in classes]


def test_api_matrix(world: World, matrix_cells: dict[str, int]) -> None:
    """Every /api/v1/ operation in the schema times every principal."""
    matrix = Matrix(world)
    schema = _schema(world.clients["anonymous"])
    before = _snapshot()
    for route, cls in _routes_of("integration api", "member api", "api fallback"):
        if cls == "api fallback":
            for principal in PRINCIPALS:
                matrix.check(principal, "GET", "/api/v1/no-such-endpoint/", 404)
            continue
        methods = [m.upper() for m in schema["paths"][route.schema_path]]
        scope = getattr(route.view_class, "required_scope", None)
        shared = SHARED_PARAMS.get(route.name, lambda w: {})(world)
        owned = OWNED_PARAMS.get(route.name)
        for principal in PRINCIPALS:
            expected = _rule(cls, principal)
            if expected == SCOPE:
                expected = ALLOWED if scope in principal.scopes else 403
            kwargs = dict(shared)
            if owned:
                param, kind = owned
                own = principal.owner if principal.owner in world.owned[kind] else "1"
                kwargs[param] = world.owned[kind][own]
            url = _url(route, kwargs)
            for method in methods:
                matrix.check(principal, method, url, expected, body={} if method != "GET" else None)
                if owned and expected == ALLOWED:
                    body = VALID_BODY[route.name] if method != "GET" else None
                    matrix.check_foreign(principal, method, route, kwargs, body)
    assert _snapshot() == before, "a refused or foreign API request changed data"
    matrix_cells["api"] = matrix.cells
    matrix.assert_clean()


def test_member_pages_matrix(world: World, matrix_cells: dict[str, int]) -> None:
    """Every member page and public page times every principal, GET and POST."""
    matrix = Matrix(world)
    before = _snapshot()
    for route, cls in _routes_of("member page", "public", "api docs"):
        if cls in ("public", "api docs"):
            kwargs = PUBLIC_PAGES[route.name](world) if cls == "public" else {}
            for principal in PRINCIPALS:
                matrix.check(principal, "GET", _url(route, kwargs), _rule(cls, principal))
            continue
        shared = SHARED_PARAMS.get(route.name, lambda w: {})(world)
        owned = OWNED_PARAMS.get(route.name)
        for principal in PRINCIPALS:
            expected = _rule(cls, principal)
            kwargs = dict(shared)
            if owned:
                param, kind = owned
                own = principal.owner if principal.owner in world.owned[kind] else "A"
                kwargs[param] = world.owned[kind][own]
            url = _url(route, kwargs)
            for method in ("GET", "POST"):
                # A member's own POST would change their data: the matrix is about who may,
                # and the pages' own tests cover what it does.
                if not (method == "POST" and expected == ALLOWED):
                    matrix.check(principal, method, url, expected)
                if owned and expected == ALLOWED:
                    matrix.check_foreign(principal, method, route, kwargs)
    assert _snapshot() == before, "a refused or foreign request on a member page changed data"
    matrix_cells["member pages"] = matrix.cells
    matrix.assert_clean()


def test_back_office_matrix(world: World, matrix_cells: dict[str, int]) -> None:
    """Every admin changelist and change page (a real object), and every custom back-office
    view, times every principal; staff roles as members/roles.py grants them."""
    matrix = Matrix(world)
    model_pages = _admin_model_pages()
    empty = [
        f"{m._meta.label}" for m in set(model_pages.values()) if not m._default_manager.exists()
    ]
    assert not empty, f"add a row of {empty} to build_world() so its change page is checked"
    before = _snapshot()
    for route, _cls in _routes_of("back-office"):
        if route.name in model_pages:
            model = model_pages[route.name]
            kwargs = {}
            if route.name.endswith("_change"):
                kwargs["object_id"] = model._default_manager.order_by("pk").first().pk  # type: ignore[union-attr]
            calls: list[AdminCall] = [("GET", (), 200)]
        else:
            kwargs_of, calls = ADMIN_VIEWS[route.name]
            kwargs = kwargs_of(world)
        url = _url(route, kwargs)
        for principal in PRINCIPALS:
            rule = _rule("back-office", principal)
            for method, permissions, allowed_status in calls:
                expected: str | int = rule
                if rule == ROLE:
                    if route.name in model_pages:
                        allowed = model_page_allowed(principal.role, model_pages[route.name])
                    else:
                        allowed = all(role_may(principal.role, p) for p in permissions)
                    if allowed and allowed_status is None:
                        continue  # it would act; refused roles show the refusal
                    expected = allowed_status if allowed else 403  # type: ignore[assignment]
                body: dict[str, Any] | None = (
                    {"criteria": {}} if route.name == "admin:campaigns_segment_count" else None
                )
                matrix.check(principal, method, url, expected, body=body)
    assert _snapshot() == before, "a refused back-office request changed data"
    matrix_cells["back-office"] = matrix.cells
    matrix.assert_clean()


def test_back_office_rules_agree_with_the_roles_table() -> None:
    """The rules derived from members/roles.py give what docs/roles.md's table says
    (tests/members/test_admin_least_privilege.py), and a Marketer never a member-level page."""
    model_pages = _admin_model_pages()
    for url, row in least_privilege.MATRIX.items():
        if url == "member-points":
            derived = [
                role_may(role, "rewards.view_pointbalance") for role in least_privilege.ROLES
            ]
        else:
            app_label, model_name = url.strip("/").split("/")[1:3]
            model = model_pages[f"admin:{app_label}_{model_name}_changelist"]
            derived = [model_page_allowed(role, model) for role in least_privilege.ROLES]
        assert [200 if may else 403 for may in derived] == list(row), url
    for model in model_pages.values():
        if model._meta.label_lower in MEMBER_LEVEL_MODELS:
            assert not model_page_allowed(MARKETER, model), model._meta.label
