"""`serve` and `worker`: run the web service (with an in-process worker) or a worker alone.

`serve` is the one-box command (waitress, one process). `serve --production` runs gunicorn's
gthread worker with gunicorn.conf.py: several processes, each with request threads (and
room for Media Streams WebSockets) and its own job worker thread; jobs are leased and the
spool is locked, so the processes share work safely. Both upgrade the schema first, once,
under the migration lock.
"""
from __future__ import annotations

import argparse
import logging
import os
import signal
import sys

from ..config import PROJECT_ROOT
from ..services import services

log = logging.getLogger(__name__)


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("serve", help="run the web service with an in-process job worker")
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    p.add_argument("--port", type=int, default=8000, help="port (default 8000)")
    p.add_argument("--threads", type=int, default=None, help="request threads per process (default 8; 16 with --production)")
    p.add_argument("--production", action="store_true",
                   help="run gunicorn (gthread) with several processes; see README 'Production'")
    p.add_argument("--workers", type=int, default=2, help="processes with --production (default 2)")
    p.add_argument("--gunicorn-config", default=None, metavar="PATH",
                   help="gunicorn settings file for --production (default: gunicorn.conf.py in the project)")
    p.add_argument("--no-worker", action="store_true", help="don't run jobs here (use `python -m ivr worker`)")
    p.set_defaults(func=cmd_serve)

    w = sub.add_parser("worker", help="run background jobs (transcription, notifications) without the web service")
    w.add_argument("--once", action="store_true", help="run the spool and the jobs due now, then exit")
    w.set_defaults(func=cmd_worker)


def start_background(app, with_worker: bool) -> None:
    """Work that must not happen in create_app: recover spooled writes, start the worker, warm up
    (index, model, prompt audio) in the background; /healthz says "starting" until that is done."""
    from threadpoolctl import threadpool_limits

    from .. import spool
    from ..jobs.queue import Worker

    # Requests are the parallelism here: one BLAS thread each, not a pool per matrix product
    # spinning against the other requests' (see IVR_BLAS_THREADS).
    threadpool_limits(limits=app.config["IVR_SETTINGS"].blas_threads, user_api="blas")
    try:
        spool.replay(app)
    except Exception:  # noqa: BLE001 - e.g. the database is still locked; the worker retries
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


def gunicorn_argv(args: argparse.Namespace) -> list[str]:
    return [sys.executable, "-m", "gunicorn", "-c", str(args.gunicorn_config or PROJECT_ROOT / "gunicorn.conf.py"),
            "--bind", f"{args.host}:{args.port}", "--workers", str(args.workers),
            "--threads", str(args.threads or 16), "--chdir", str(PROJECT_ROOT), "wsgi:app"]


def cmd_serve(args: argparse.Namespace) -> int:
    from .context import make_app

    app = make_app()  # upgrades the schema (under the lock) and checks the settings
    settings = app.config["IVR_SETTINGS"]
    configure_logging(settings)
    if args.production:
        services(app).engine.dispose()  # the processes open their own connections
        argv = gunicorn_argv(args)
        log.info("starting gunicorn: %s", " ".join(argv[1:]))
        env = dict(os.environ)
        if args.no_worker:
            env["IVR_RUN_WORKER"] = "false"
        os.execve(sys.executable, argv, env)  # the settings are re-read from the same environment
    from waitress import serve

    start_background(app, with_worker=settings.run_worker and not args.no_worker)
    log.info("serving on http://%s:%d (Twilio webhook: %s/voice)", args.host, args.port,
             settings.public_base_url or f"http://{args.host}:{args.port}")
    serve(app, host=args.host, port=args.port, threads=args.threads or 8, ident="ivr")
    return 0


def cmd_worker(args: argparse.Namespace) -> int:
    from .. import spool
    from ..jobs.queue import Worker
    from ..registry import RECOVER_CAPTURES
    from .context import make_app

    app = make_app()
    configure_logging(app.config["IVR_SETTINGS"])
    result = spool.replay(app)
    worker = Worker(app)
    if args.once:
        recovered = worker.run_periodic(RECOVER_CAPTURES.name)
        count = worker.run_until_idle()
        print(f"applied {result.applied} spooled entr(ies), recovered {len(recovered.created)} captured "
              f"message(s), ran {count} job(s)")
        return 0
    signal.signal(signal.SIGTERM, lambda *_: worker.stop())
    worker.run_forever()
    return 0
