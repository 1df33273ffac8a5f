"""gunicorn settings for `python -m ivr serve --production` (see README, "Production").

The gthread worker: each process serves requests from a thread pool, so a slow request (or a
Media Streams WebSocket, held for a whole call) never blocks the others, and the worker's
heartbeat is kept by its main thread. Bind address, process and thread counts come from the
command line (`serve --production --workers N --threads T`).
"""
worker_class = "gthread"
workers = 2
threads = 16
# Twilio gives up after 15 s; a request still running at 30 s means a stuck process.
timeout = 30
graceful_timeout = 20
keepalive = 5
# Each process builds its own app: the Vosk model, index and job worker are per process, and no
# connection pool or thread is shared across a fork.
preload_app = False
# Forwarded headers are trusted by the app only as configured (ProxyFix), not by gunicorn.
forwarded_allow_ips = ""
secure_scheme_headers: dict[str, str] = {}
accesslog = "-"
access_log_format = '%(h)s "%(r)s" %(s)s %(b)s %(M)sms'
errorlog = "-"
