"""`serve` and `worker`: run the web service (with an in-process worker) or a worker alone."""
from __future__ import annotations

import argparse
import logging
import signal

log = logging.getLogger(__name__)


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("serve", help="run the web service (waitress) with an in-process job worker")
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    p.add_argument("--port", type=int, default=8000, help="port (default 8000)")
    p.add_argument("--threads", type=int, default=8, help="request threads (default 8)")
    p.add_argument("--no-worker", action="store_true", help="don't run jobs here (use `python -m ivr worker`)")
    p.set_defaults(func=cmd_serve)

    w = sub.add_parser("worker", help="run background jobs (transcription, notifications) without the web service")
    w.add_argument("--once", action="store_true", help="run the jobs due now, then exit")
    w.set_defaults(func=cmd_worker)


def start_background(app, with_worker: bool) -> None:
    """Work that must not happen in create_app: recover spooled voicemail, start the worker, warm up
    (index, model, prompt audio) in the background; /healthz says "starting" until that is done."""
    from ..jobs.queue import Worker
    from ..tickets.service import replay_spool

    settings = app.config["IVR_SETTINGS"]
    replay_spool(settings.instance_path, app.extensions["ivr.sessionmaker"])
    if with_worker:
        worker = Worker(app)
        worker.requeue_all_running()
        app.extensions["ivr.worker"] = worker
        worker.start_thread()
    app.extensions["ivr.readiness"].start(app)


def configure_logging(settings) -> None:
    """Logging belongs to the entry point (serve, worker, wsgi), not to the app factory."""
    logging.basicConfig(level=settings.log_level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("alembic").setLevel(logging.WARNING)


def cmd_serve(args: argparse.Namespace) -> int:
    from waitress import serve

    from .context import make_app

    app = make_app()
    settings = app.config["IVR_SETTINGS"]
    configure_logging(settings)
    start_background(app, with_worker=settings.run_worker and not args.no_worker)
    log.info("serving on http://%s:%d (Twilio webhook: %s/voice)", args.host, args.port,
             settings.public_base_url or f"http://{args.host}:{args.port}")
    serve(app, host=args.host, port=args.port, threads=args.threads, ident="ivr")
    return 0


def cmd_worker(args: argparse.Namespace) -> int:
    from ..jobs.queue import Worker
    from ..tickets.service import replay_spool
    from .context import make_app

    app = make_app()
    configure_logging(app.config["IVR_SETTINGS"])
    replay_spool(app.config["IVR_SETTINGS"].instance_path, app.extensions["ivr.sessionmaker"])
    worker = Worker(app)
    if args.once:
        count = worker.run_until_idle()
        print(f"ran {count} job(s)")
        return 0
    worker.requeue_stale()
    signal.signal(signal.SIGTERM, lambda *_: worker.stop())
    worker.run_forever()
    return 0
