"""Two staff upload a picture for the same reward at the same moment: the row ends with one
of the two pictures, complete, and the storage holds exactly its files (the other's and the
old ones deleted after commit: no orphans)."""

from __future__ import annotations

import io
import threading
from pathlib import Path
from typing import Any

import pytest
from django.db import connection
from PIL import Image

from members.pictures.services import FOLDER, picture_attach
from rewards.models import Reward
from tests.factories import rewards as rf

pytestmark = pytest.mark.django_db(transaction=True)


def _jpeg(colour: tuple[int, int, int]) -> io.BytesIO:
    out = io.BytesIO()
    Image.new("RGB", (1280, 720), colour).save(out, "JPEG")
    out.seek(0)
    return out


def test_two_uploads_at_once_leave_one_picture_and_no_orphans(settings: Any, tmp_path: Path):
    settings.MEDIA_ROOT = str(tmp_path / "media")
    reward = rf.reward(code="samtidigt")
    picture_attach(obj=reward, upload=_jpeg((0, 0, 0)))  # the old picture
    start = threading.Barrier(3)
    errors: list[BaseException] = []

    def upload(colour: tuple[int, int, int]) -> None:
        try:
            start.wait()
            picture_attach(obj=Reward.objects.get(pk=reward.pk), upload=_jpeg(colour))
        except BaseException as error:  # reported below
            errors.append(error)
        finally:
            connection.close()

    threads = [threading.Thread(target=upload, args=(c,)) for c in ((255, 0, 0), (0, 0, 255))]
    for thread in threads:
        thread.start()
    start.wait()
    for thread in threads:
        thread.join()

    assert errors == []
    reward.refresh_from_db()
    names = {name for _w, _h, name in reward.image_sizes}
    assert len(names) == 3
    on_disk = {
        str(p.relative_to(settings.MEDIA_ROOT))
        for p in (Path(settings.MEDIA_ROOT) / FOLDER).rglob("*")
        if p.is_file()
    }
    assert on_disk == names
