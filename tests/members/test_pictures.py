"""Pictures of rewards, offers, challenges and badges (docs/pictures.md): resized to three
widths without EXIF, refused with a clear reason (and nothing changed) when the file is not a
usable picture, uploaded through the back-office, served from this host with long caching,
and drawn with srcset or a placeholder on the member pages."""

from __future__ import annotations

import io
import re
import struct
import zlib
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings
from django.core.files.storage import default_storage
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.utils import translation
from PIL import Image

from campaigns.models import MemberOffer, Offer
from members.pictures import services
from members.pictures.services import PictureError, picture_attach, picture_remove
from rewards.models import Badge, Challenge, MemberBadge
from tests import factories
from tests.factories import campaigns as cf
from tests.factories import rewards as rf

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _media(settings: Any, tmp_path: Path) -> None:
    settings.MEDIA_ROOT = str(tmp_path / "media")


@pytest.fixture(autouse=True)
def _english() -> Any:
    """The reasons are read in English here (the Swedish catalogue has them too)."""
    with translation.override("en"):
        yield


# --- pictures made here ------------------------------------------------------------------------


def jpeg(width: int = 1600, height: int = 900, *, orientation: int | None = None) -> bytes:
    """A photo as a phone writes it: EXIF with the camera, a GPS position and (maybe) the
    orientation the picture must be turned by."""
    image = Image.new("RGB", (width, height), (200, 60, 40))
    image.paste((20, 90, 200), (0, 0, width // 2, height // 2))  # a corner to find later
    exif = Image.Exif()
    exif[0x010F] = "PhoneMaker"  # Make
    exif[0x9286] = "secret comment"  # UserComment
    gps = {1: "N", 2: (59.0, 19.0, 48.0), 3: "E", 4: (18.0, 4.0, 5.0)}
    exif[0x8825] = gps
    if orientation:
        exif[0x0112] = orientation
    out = io.BytesIO()
    image.save(out, "JPEG", quality=85, exif=exif.tobytes())
    return out.getvalue()


def png(width: int, height: int) -> bytes:
    out = io.BytesIO()
    Image.new("RGBA", (width, height), (0, 128, 0, 128)).save(out, "PNG")
    return out.getvalue()


def png_bomb(width: int = 30_000, height: int = 30_000) -> bytes:
    """A few hundred bytes whose header promises ``width`` x ``height`` pixels."""
    data = png(8, 8)
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 6, 0, 0, 0)
    chunk = b"IHDR" + ihdr
    start = data.index(b"IHDR")
    return (
        data[: start - 4]
        + struct.pack(">I", len(ihdr))
        + chunk
        + struct.pack(">I", zlib.crc32(chunk))
        + data[start + 4 + len(ihdr) + 4 :]
    )


def upload(data: bytes, name: str = "bild.jpg") -> SimpleUploadedFile:
    return SimpleUploadedFile(name, data)


def stored_files() -> set[str]:
    root = Path(settings.MEDIA_ROOT) / services.FOLDER
    return {str(p) for p in root.rglob("*") if p.is_file()} if root.exists() else set()


# --- the service -------------------------------------------------------------------------------


def test_upload_is_resized_to_three_widths_as_webp_without_exif():
    reward = rf.reward(code="bild")

    sizes = picture_attach(obj=reward, upload=upload(jpeg(1600, 900)))

    reward.refresh_from_db()
    assert [(s[0], s[1]) for s in reward.image_sizes] == [(160, 90), (320, 180), (640, 360)]
    assert reward.image.name == sizes[-1].name
    for width, height, name in reward.image_sizes:
        assert re.fullmatch(rf"pictures/reward/[0-9a-f]{{16}}-{width}\.webp", name)
        with default_storage.open(name) as handle:
            data = handle.read()
        image = Image.open(io.BytesIO(data))
        assert image.format == "WEBP"
        assert image.size == (width, height)
        assert "exif" not in image.info
        assert not image.getexif()
        assert b"PhoneMaker" not in data
        assert b"secret comment" not in data


def test_a_phone_photo_is_turned_the_right_way_up():
    # given a 1600 x 900 photo that EXIF says must be turned 90 degrees (orientation 6)
    reward = rf.reward(code="vriden")

    picture_attach(obj=reward, upload=upload(jpeg(1600, 900, orientation=6)))

    # then the sizes are upright: 900 wide, 1600 high, scaled
    reward.refresh_from_db()
    assert [(s[0], s[1]) for s in reward.image_sizes] == [(160, 284), (320, 569), (640, 1138)]


def test_a_small_picture_is_not_enlarged():
    reward = rf.reward(code="liten")
    picture_attach(obj=reward, upload=upload(png(200, 100), "liten.png"))
    reward.refresh_from_db()
    assert [(s[0], s[1]) for s in reward.image_sizes] == [(160, 80), (200, 100)]


def test_a_new_picture_replaces_the_old_files_and_remove_deletes_them(
    django_capture_on_commit_callbacks,
):
    badge = Badge.objects.create(code="stjarna", name_sv="Stjärna", name_en="Star")
    picture_attach(obj=badge, upload=upload(jpeg()))
    first = {name for _w, _h, name in badge.image_sizes}

    with django_capture_on_commit_callbacks(execute=True):
        picture_attach(obj=badge, upload=upload(jpeg(800, 800)))
    badge.refresh_from_db()
    assert not any(default_storage.exists(name) for name in first)
    assert all(default_storage.exists(name) for _w, _h, name in badge.image_sizes)

    with django_capture_on_commit_callbacks(execute=True):
        picture_remove(obj=badge)
    badge.refresh_from_db()
    assert badge.image_sizes == []
    assert badge.image.name == ""
    assert stored_files() == set()


BAD = [
    pytest.param(b"membership_number;email\n1;a@example.com\n", "not a picture", id="csv"),
    pytest.param(
        b'<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>',
        "not a picture",
        id="svg",
    ),
    pytest.param(b"GIF89a\x01\x00\x01\x00\x80\x00\x00", "not a picture", id="gif"),
    pytest.param(jpeg()[:2000], "damaged", id="truncated jpeg"),
    pytest.param(png_bomb(8000, 6000), "8000 × 6000 pixels", id="too many pixels"),
    pytest.param(png_bomb(), "more pixels than we can handle", id="decompression bomb"),
]


@pytest.mark.parametrize(("data", "reason"), BAD)
def test_a_bad_file_is_refused_with_its_reason_and_nothing_changes(data, reason):
    reward = rf.reward(code="kvar")
    picture_attach(obj=reward, upload=upload(jpeg()))
    reward.refresh_from_db()
    before, files = reward.image_sizes, stored_files()

    with pytest.raises(PictureError) as error:
        picture_attach(obj=reward, upload=upload(data, "fil.jpg"))

    assert reason in error.value.message
    reward.refresh_from_db()
    assert reward.image_sizes == before
    assert stored_files() == files


def test_pillows_own_bomb_warning_is_an_error(settings):
    # our limit raised above Pillow's: its warning (89 to 179 megapixels) refuses the file too
    settings.PICTURE_MAX_PIXELS = 10**12
    with pytest.raises(PictureError, match="more pixels than we can handle"):
        services.picture_open(upload(png_bomb(10_000, 10_000)))


def test_a_file_over_the_size_limit_is_refused(settings):
    settings.PICTURE_MAX_BYTES = 5_000_000
    data = jpeg() + b"\0" * 5_000_000
    with pytest.raises(PictureError, match="larger than 5 MB"):
        services.picture_open(upload(data))


# --- the back-office ---------------------------------------------------------------------------


@pytest.fixture
def admin_client() -> Client:
    client = Client(headers={"accept-language": "en"})
    client.force_login(factories.staff_user(superuser=True))
    return client


def _badge_form(**extra: Any) -> dict[str, Any]:
    return {"code": "klippa", "name_sv": "Klippa", "name_en": "Rock", "symbol": "▲", **extra}


def test_staff_upload_a_picture_in_the_back_office(admin_client):
    response = admin_client.post(
        "/admin/rewards/badge/add/",
        _badge_form(picture=upload(jpeg()), image_alt_sv="En klippa", image_alt_en="A rock"),
    )
    assert response.status_code == 302, response.content.decode()[:3000]
    badge = Badge.objects.get(code="klippa")
    assert [s[0] for s in badge.image_sizes] == [160, 320, 640]

    # the change page previews it as members see it; the list shows a thumbnail
    page = admin_client.get(f"/admin/rewards/badge/{badge.pk}/change/").content.decode()
    assert badge.image_sizes[1][2] in page
    assert 'alt="En klippa"' in page
    assert badge.image_sizes[0][2] in admin_client.get("/admin/rewards/badge/").content.decode()

    # and "remove the picture" takes it away
    admin_client.post(f"/admin/rewards/badge/{badge.pk}/change/", _badge_form(picture_remove="on"))
    badge.refresh_from_db()
    assert badge.image_sizes == []


def test_a_bad_upload_in_the_back_office_shows_why_and_saves_nothing(admin_client):
    response = admin_client.post(
        "/admin/rewards/badge/add/", _badge_form(picture=upload(b"<svg/>", "logo.svg"))
    )
    assert response.status_code == 200
    assert "This file is not a picture we can use. Upload a JPEG, PNG or WebP." in (
        response.content.decode()
    )
    assert not Badge.objects.filter(code="klippa").exists()
    assert stored_files() == set()


@pytest.mark.parametrize(
    "url",
    ["/admin/rewards/reward/add/", "/admin/rewards/challenge/add/", "/admin/campaigns/offer/add/"],
)
def test_every_picture_admin_has_the_upload_field(admin_client, url):
    page = admin_client.get(url).content.decode()
    assert 'name="picture"' in page
    assert 'accept="image/jpeg,image/png,image/webp"' in page
    assert 'name="image_alt_sv"' in page


def test_an_offer_gets_its_picture_through_its_admin(admin_client):
    response = admin_client.post(
        "/admin/campaigns/offer/add/",
        {
            "name": "Vår",
            "kind": "message",
            "title_sv": "Vårnyheter",
            "title_en": "Spring news",
            "multiplier": "2",
            "bonus_days": "14",
            "activate_days": "30",
            "picture": upload(jpeg()),
        },
    )
    assert response.status_code == 302, response.content.decode()[:3000]
    assert len(Offer.objects.get(name="Vår").image_sizes) == 3


# --- serving -----------------------------------------------------------------------------------


def test_a_picture_is_served_from_this_host_with_long_caching(client):
    reward = rf.reward(code="servera")
    picture_attach(obj=reward, upload=upload(jpeg()))
    url = default_storage.url(reward.image_sizes[0][2])
    assert url.startswith("/media/pictures/reward/")

    response = client.get(url)

    assert response.status_code == 200
    assert response["Content-Type"] == "image/webp"
    assert response["Cache-Control"] == "public, max-age=31536000, immutable"
    assert Image.open(io.BytesIO(b"".join(response.streaming_content))).size == (160, 90)


@pytest.mark.parametrize(
    "path",
    [
        "reward/0123456789abcdef-160.webp",  # no such file
        "reward/../../../etc/passwd",
        "reward/0123456789abcdef-160.svg",
        "../private/export.zip",
    ],
)
def test_only_picture_files_are_served(client, path):
    assert client.get(f"/media/pictures/{path}").status_code == 404


# --- member pages ------------------------------------------------------------------------------

SRC = re.compile(r'(?:src|srcset)="([^"]+)"')


def _urls(page: str) -> list[str]:
    return [u.split(" ")[0] for value in SRC.findall(page) for u in value.split(", ")]


@pytest.fixture
def member_client(member) -> Client:
    client = Client(headers={"accept-language": "sv"})
    client.force_login(member.user)
    return client


def test_catalogue_draws_srcset_with_local_urls_and_a_placeholder(member_client):
    with_picture = rf.reward(code="med-bild", name_sv="Med bild", image_alt_sv="En röd bild")
    picture_attach(obj=with_picture, upload=upload(jpeg()))
    rf.reward(code="utan-bild", name_sv="Utan bild")

    page = member_client.get("/mina-sidor/beloningar/").content.decode()

    card = page[page.index('data-testid="reward-med-bild"') :]
    img = re.search(r"<img [^>]*>", card)
    assert img is not None
    tag = img.group(0)
    assert 'alt="En röd bild"' in tag
    assert 'width="640" height="360"' in tag
    assert 'sizes="' in tag
    assert tag.count("w, ") == 2  # three widths in srcset
    assert all(url.startswith("/media/pictures/reward/") for url in _urls(tag))
    # nothing on the page is fetched from elsewhere
    assert all(url.startswith("/") and not url.startswith("//") for url in _urls(page))
    empty = page[page.index('data-testid="reward-utan-bild"') :]
    assert 'data-testid="picture-placeholder"' in empty[: empty.index("</li>")]
    assert "•" not in page


def test_reward_offer_challenge_and_badge_pages_show_pictures(member, member_client):
    reward = rf.reward(code="detalj", name_sv="Detalj")
    picture_attach(obj=reward, upload=upload(jpeg()))
    badge = Badge.objects.create(code="guld", name_sv="Guldstjärna", name_en="Gold star")
    picture_attach(obj=badge, upload=upload(jpeg(400, 400)))
    challenge = Challenge.objects.create(
        code="profil",
        kind=Challenge.Kind.PROFILE,
        name_sv="Fyll i profilen",
        name_en="Profile",
        target=1,
        points=50,
        badge=badge,
    )
    picture_attach(obj=challenge, upload=upload(jpeg()))
    offer = cf.offer(title_sv="Dubbla poäng", title_en="Double points")
    picture_attach(obj=offer, upload=upload(jpeg()))
    MemberOffer.objects.create(member=member, offer=offer, campaign=cf.campaign(offer_obj=offer))
    MemberBadge.objects.create(member=member, badge=badge)

    pages = {
        "reward": member_client.get("/mina-sidor/beloningar/detalj/").content.decode(),
        "challenges": member_client.get("/mina-sidor/utmaningar/").content.decode(),
        "offers": member_client.get("/mina-sidor/erbjudanden/").content.decode(),
        "home": member_client.get("/mina-sidor/").content.decode(),
    }
    assert "/media/pictures/reward/" in pages["reward"]
    assert "/media/pictures/challenge/" in pages["challenges"]
    assert "/media/pictures/badge/" in pages["challenges"]
    assert "/media/pictures/offer/" in pages["offers"]
    assert 'alt="Dubbla poäng"' in pages["offers"]  # no text of its own: the title is read
    assert "/media/pictures/offer/" in pages["home"]  # the newest offer
    for page in pages.values():
        assert all(url.startswith("/") and not url.startswith("//") for url in _urls(page))
