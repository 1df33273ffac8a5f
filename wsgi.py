"""WSGI entry point: `python -m ivr serve --production` (gunicorn), or any WSGI server.

The schema is not migrated here (run `python -m ivr db upgrade` first; `serve` does): a
process started on an old schema stops with one line instead of racing its siblings.
"""
import sys

from ivr import create_app
from ivr.cli.serve import configure_logging, start_background
from ivr.config import ConfigError

try:
    app = create_app()
except ConfigError as exc:
    print(f"error: {exc}", file=sys.stderr)
    sys.exit(3)  # gunicorn's "worker failed to boot": the arbiter stops instead of respawning
configure_logging(app.config["IVR_SETTINGS"])
start_background(app, with_worker=app.config["IVR_SETTINGS"].run_worker)
