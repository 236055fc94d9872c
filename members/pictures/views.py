"""Pictures served from this host (docs/pictures.md): WhiteNoise serves static files only,
so in production this view streams a picture from the default storage. A picture's name is
random and never reused (a new upload gets new names), so browsers may keep it for a year.
A proxy in front (nginx ``location /media/pictures/``) may serve the same files instead."""

from __future__ import annotations

import re

from django.core.files.storage import default_storage
from django.http import FileResponse, Http404, HttpRequest
from django.views.decorators.http import require_safe

from members.pictures.services import FOLDER

# "<model>/<16 hex>-<width>.webp", with the storage's suffix should a name ever repeat.
NAME = re.compile(r"[a-z_]{1,40}/[0-9a-f]{16}-[0-9]{1,4}(?:_[A-Za-z0-9]{7})?\.webp")
YEAR = 365 * 24 * 3600


@require_safe
def picture_file(request: HttpRequest, name: str) -> FileResponse:
    """A picture's file; 404 for any other name (nothing else under the media root)."""
    if not NAME.fullmatch(name):
        raise Http404
    try:
        handle = default_storage.open(f"{FOLDER}/{name}", "rb")
    except (FileNotFoundError, OSError) as error:
        raise Http404 from error
    response = FileResponse(handle, content_type="image/webp")
    response["Cache-Control"] = f"public, max-age={YEAR}, immutable"
    return response
