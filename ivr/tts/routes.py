"""Serve rendered clips by key. Only a 32-hex key reaches the file system, never a path."""
from __future__ import annotations

from flask import Blueprint, abort, send_file

from ..services import services

bp = Blueprint("audio", __name__, url_prefix="/audio")


@bp.get("/<key>.wav")
def clip(key: str):
    if len(key) != 32 or any(c not in "0123456789abcdef" for c in key):
        abort(404)
    path = services().tts.path_for_key(key)
    if not path.is_file():
        abort(404)
    service = services().tts
    if service.cache_dir / "private" in path.parents:
        # A caller's own data (order details, a reference): nobody may keep a copy.
        resp = send_file(path, mimetype="audio/wav", conditional=True, etag=key, max_age=0)
        resp.headers["Cache-Control"] = "no-store"
        return resp
    # The key is a keyed hash of the content: the response can be cached forever.
    resp = send_file(path, mimetype="audio/wav", conditional=True, etag=key, max_age=31536000)
    resp.headers["Cache-Control"] = "public, max-age=31536000, immutable"
    return resp
