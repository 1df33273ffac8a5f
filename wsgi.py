"""WSGI entry point: `gunicorn wsgi:app` (or any WSGI server)."""
from ivr import create_app
from ivr.cli.serve import configure_logging, start_background

app = create_app()
configure_logging(app.config["IVR_SETTINGS"])
start_background(app, with_worker=app.config["IVR_SETTINGS"].run_worker)
