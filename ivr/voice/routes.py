from __future__ import annotations

from flask import Blueprint

bp = Blueprint("voice", __name__, url_prefix="/voice")
