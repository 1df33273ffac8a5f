"""WSGI entry point: `gunicorn wsgi:app` (or any WSGI server)."""
from ivr import create_app
from ivr.cli.serve import start_background

app = create_app()
start_background(app, with_worker=app.config["IVR_SETTINGS"].run_worker)
