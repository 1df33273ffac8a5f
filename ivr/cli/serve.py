"""`serve` and `worker`: run the web service (with an in-process worker) or a worker alone.

`serve` is the one-box command (waitress, one process). `serve --production` runs gunicorn's
gthread worker with gunicorn.conf.py: several processes, each with request threads (and
room for Media Streams WebSockets) and its own job worker thread; jobs are leased and the
spool is locked, so the processes share work safely. Both upgrade the schema first, once,
under the migration lock.
"""
from __future__ import annotations

import logging
import os
import signal
import sys

import click

from .. import spool
from ..config import PROJECT_ROOT
from ..jobs.queue import Worker
from ..registry import RECOVER_CAPTURES
from ..services import services
from .context import load_migrated_app

log = logging.getLogger(__name__)


def start_background(app, with_worker: bool) -> None:
    """Work that must not happen in create_app: recover spooled writes, start the worker, warm up
    (index, model, prompt audio) in the background; /healthz says "starting" until that is done."""
    from threadpoolctl import threadpool_limits


    # Requests are the parallelism here: one BLAS thread each, not a pool per matrix product
    # spinning against the other requests' (see IVR_BLAS_THREADS).
    threadpool_limits(limits=app.config["IVR_SETTINGS"].blas_threads, user_api="blas")
    try:
        spool.replay(app)
    except Exception:
        log.exception("spool replay at start failed; the worker will retry")
    if with_worker:
        worker = Worker(app)
        services(app).worker = worker
        worker.start_thread()
    services(app).readiness.start(app)


def configure_logging(settings) -> None:
    """Logging belongs to the entry point (serve, worker, wsgi), not to the app factory."""
    logging.basicConfig(level=settings.log_level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("alembic").setLevel(logging.WARNING)


def gunicorn_argv(host: str, port: int, workers: int, threads: int | None, gunicorn_config: str | None) -> list[str]:
    return [sys.executable, "-m", "gunicorn", "-c", str(gunicorn_config or PROJECT_ROOT / "gunicorn.conf.py"),
            "--bind", f"{host}:{port}", "--workers", str(workers),
            "--threads", str(threads or 16), "--chdir", str(PROJECT_ROOT), "wsgi:app"]


@click.command("serve", help="run the web service with an in-process job worker")
@click.option("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
@click.option("--port", type=int, default=8000, help="port (default 8000)")
@click.option("--threads", type=int, default=None, help="request threads per process (default 8; 16 with --production)")
@click.option("--production", is_flag=True,
              help="run gunicorn (gthread) with several processes; see README 'Production'")
@click.option("--workers", type=int, default=2, help="processes with --production (default 2)")
@click.option("--gunicorn-config", default=None, metavar="PATH",
              help="gunicorn settings file for --production (default: gunicorn.conf.py in the project)")
@click.option("--no-worker", is_flag=True, help="don't run jobs here (use `python -m ivr worker`)")
def serve(host: str, port: int, threads: int | None, production: bool, workers: int, gunicorn_config: str | None,
          no_worker: bool) -> int:

    app, _, _ = load_migrated_app()  # upgrades the schema (under the lock) and checks the settings
    settings = app.config["IVR_SETTINGS"]
    configure_logging(settings)
    if production:
        services(app).engine.dispose()  # the processes open their own connections
        argv = gunicorn_argv(host, port, workers, threads, gunicorn_config)
        log.info("starting gunicorn: %s", " ".join(argv[1:]))
        env = dict(os.environ)
        if no_worker:
            env["IVR_RUN_WORKER"] = "false"
        os.execve(sys.executable, argv, env)  # the settings are re-read from the same environment
    from waitress import serve as waitress_serve

    start_background(app, with_worker=settings.run_worker and not no_worker)
    log.info("serving on http://%s:%d (Twilio webhook: %s/voice)", host, port,
             settings.public_base_url or f"http://{host}:{port}")
    waitress_serve(app, host=host, port=port, threads=threads or 8, ident="ivr")
    return 0


@click.command("worker", help="run background jobs (transcription, notifications) without the web service")
@click.option("--once", is_flag=True, help="run the spool and the jobs due now, then exit")
def worker(once: bool) -> int:
    app, _, _ = load_migrated_app()
    configure_logging(app.config["IVR_SETTINGS"])
    result = spool.replay(app)
    jobs = Worker(app)
    if once:
        recovered = jobs.run_periodic(RECOVER_CAPTURES.name)
        count = jobs.run_until_idle()
        print(f"applied {result.applied} spooled entr(ies), recovered {len(recovered.created)} captured "
              f"message(s), ran {count} job(s)")
        return 0
    signal.signal(signal.SIGTERM, lambda *_: jobs.stop())
    jobs.run_forever()
    return 0
