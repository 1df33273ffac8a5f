"""Load: N simulated calls, C at a time, against the production command, and the same load against
a bare signed-Flask floor under the same server in the same run.

    python bench/load.py [--calls 200] [--concurrency 100] [--workers 2] [--threads 16]
                         [--database-url postgresql+psycopg://postgres@127.0.0.1:5432/test]

Calls are placed by ivr/simulate/driver.py's CallDriver over real HTTP with Twilio's signatures,
mixed as callers use the line: a third ask a question (spoken), a third leave a message, a
third check an order number nobody asked before (a sentence rendered for that call). The
service runs as `python -m ivr serve --production` (gunicorn gthread, see gunicorn.conf.py)
on a fresh database (SQLite in a temp folder, or a throw-away PostgreSQL database created from
--database-url's server). The floor (bench/floor.py: signature check + one <Gather>) then gets
the same number of requests per call from the same client, under the same gunicorn settings.

Prints, for both: requests, p50/p99 latency in ms, failures (not 200 or not valid TwiML) and
timeouts (> 15 s, Twilio's limit); for the service, voicemails recorded vs tickets made (the
spool is given 30 s to drain) and the ratio of p99 to the floor's p99. Targets: 0 failures,
every voicemail a ticket, p99 <= 5x the floor's p99.
"""
from __future__ import annotations

import argparse
import csv
import json
import os
import random
import re
import secrets
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

ACCOUNT_SID = "AC" + "1" * 32
AUTH_TOKEN = "2" * 32
TWILIO_TIMEOUT = 15.0


class TimedTransport:
    """Real HTTP (requests), timing every webhook as Twilio would see it."""

    def __init__(self, samples: list, lock: threading.Lock):
        import requests

        self.session = requests.Session()
        self.samples, self.lock = samples, lock
        self.count = 0

    def post(self, url: str, params: dict, headers: dict) -> tuple[int, str]:
        import requests

        start = time.perf_counter()
        self.count += 1
        try:
            resp = self.session.post(url, data=params, headers=headers, timeout=TWILIO_TIMEOUT)
        except requests.Timeout:
            with self.lock:
                self.samples.append((time.perf_counter() - start, "timeout", url))
            raise
        except requests.RequestException:
            with self.lock:
                self.samples.append((time.perf_counter() - start, "error", url))
            raise
        with self.lock:
            self.samples.append((time.perf_counter() - start, resp.status_code, url))
        return resp.status_code, resp.text


def start_server(argv: list[str], env: dict) -> tuple[subprocess.Popen, str, list[str]]:
    # Its own process group, so stopping it also stops whatever its workers started (render workers).
    proc = subprocess.Popen(argv, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            start_new_session=True)
    lines: list[str] = []
    found = threading.Event()
    base: list[str] = []

    def read() -> None:
        for line in proc.stdout:
            lines.append(line)
            m = re.search(r"Listening at: (http://127\.0\.0\.1:\d+)", line)
            if m and not found.is_set():
                base.append(m.group(1))
                found.set()

    threading.Thread(target=read, daemon=True).start()
    if not found.wait(300):
        proc.kill()
        raise SystemExit("server did not start:\n" + "".join(lines[-30:]))
    return proc, base[0], lines


def wait_ready(base: str, path: str, timeout: float = 300) -> None:
    import requests

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if requests.get(base + path, timeout=2).status_code == 200:
                return
        except requests.RequestException:
            pass
        time.sleep(0.25)
    raise SystemExit(f"{base}{path} never answered 200")


def stop(proc: subprocess.Popen) -> None:
    import signal

    os.killpg(proc.pid, signal.SIGTERM)
    try:
        proc.wait(30)
    except subprocess.TimeoutExpired:
        pass
    try:
        os.killpg(proc.pid, signal.SIGKILL)  # anything of this run's group still alive
    except ProcessLookupError:
        pass


def percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q / 100 * (len(ordered) - 1))))]


def by_path(samples: list) -> list[tuple[str, int, float, int]]:
    """(path, requests, p99 ms, timeouts) per webhook path, slowest first: where time goes."""
    from urllib.parse import urlsplit

    groups: dict[str, list] = {}
    for seconds, status, url in samples:
        groups.setdefault(urlsplit(url).path, []).append((seconds, status))
    rows = [(path, len(v), round(percentile([s for s, st in v], 99) * 1000, 1),
             sum(1 for _, st in v if st == "timeout")) for path, v in groups.items()]
    return sorted(rows, key=lambda r: -r[2])


def summarize(samples: list) -> dict:
    ok = [s for s, status, _ in samples if status == 200]
    return {"requests": len(samples), "p50_ms": round(percentile(ok, 50) * 1000, 1),
            "p99_ms": round(percentile(ok, 99) * 1000, 1), "max_ms": round(max(ok, default=0) * 1000, 1),
            "failures": sum(1 for _, status, _ in samples if status not in (200, 204, "timeout")),
            "timeouts": sum(1 for _, status, _ in samples if status == "timeout")}


def _status_after_failure(driver, rec: dict) -> None:
    """If the action callback failed, Twilio still posts the recording status callback."""
    try:
        driver._send_recording_status("/voice/recording-status", rec)
    except Exception:  # noqa: BLE001 - counted by the transport
        pass


def run_service_calls(base: str, calls: int, concurrency: int, questions: list[str]) -> dict:
    from ivr.simulate.driver import CallDriver, CallError

    samples, lock = [], threading.Lock()
    recorded, requests_per_call, errors = [], [], []
    rng = random.Random(7)
    orders = rng.sample(range(100000, 999999), calls)

    def one(i: int) -> None:
        transport = TimedTransport(samples, lock)
        driver = CallDriver(transport, base, AUTH_TOKEN, account_sid=ACCOUNT_SID,
                            caller=f"+1500555{i:04d}")
        try:
            driver.start()
            kind = i % 3
            if kind == 0:
                driver.press("1")
                driver.say(questions[i % len(questions)])
            elif kind == 1:
                driver.press("8")  # the message key
                raised = True
                try:
                    driver.record(seconds=5 + i % 20)
                    raised = False
                finally:
                    if driver.recordings:  # the caller left it: Twilio reports it whatever we answered
                        rec = driver.recordings[-1]
                        with lock:
                            recorded.append(rec["RecordingSid"])
                        if raised:  # record() raised before its status callback
                            _status_after_failure(driver, rec)
            else:
                driver.press("3")
                driver.press(f"{orders[i]}#")
                driver.press("1")  # "is that right?" yes: the look-up
            driver.hangup()
        except (CallError, OSError, Exception) as exc:  # noqa: BLE001 - counted, the run goes on
            with lock:
                errors.append(f"call {i}: {type(exc).__name__}: {str(exc)[:160]}")
        finally:
            with lock:
                requests_per_call.append(transport.count)

    start = time.perf_counter()
    with ThreadPoolExecutor(concurrency) as pool:
        list(pool.map(one, range(calls)))
    wall = time.perf_counter() - start
    return {"samples": samples, "recorded": recorded, "errors": errors, "wall": wall,
            "requests_per_call": sum(requests_per_call) / max(len(requests_per_call), 1)}


def run_floor_calls(base: str, calls: int, concurrency: int, per_call: int) -> dict:
    from twilio.request_validator import RequestValidator

    samples, lock = [], threading.Lock()
    validator = RequestValidator(AUTH_TOKEN)

    def one(i: int) -> None:
        transport = TimedTransport(samples, lock)
        sid = "CA" + secrets.token_hex(16)
        for step in range(per_call):
            url = f"{base}/voice/step{step}"
            params = {"CallSid": sid, "AccountSid": ACCOUNT_SID, "From": f"+1500555{i:04d}", "Digits": "1"}
            try:
                status, body = transport.post(url, params, {"X-Twilio-Signature": validator.compute_signature(url, params)})
                if status == 200 and "<Gather" not in body:
                    with lock:
                        samples.append((0.0, "bad-twiml", url))
            except Exception:  # noqa: BLE001 - recorded by the transport
                return

    start = time.perf_counter()
    with ThreadPoolExecutor(concurrency) as pool:
        list(pool.map(one, range(calls)))
    return {"samples": samples, "wall": time.perf_counter() - start}


def count_tickets(url: str, sids: list[str], instance: Path, wait: float = 30.0) -> int:
    from sqlalchemy import create_engine, func, select

    from ivr import spool
    from ivr.tickets.models import Ticket

    engine = create_engine(url)
    deadline = time.monotonic() + wait
    made = 0
    while True:
        with engine.connect() as conn:
            made = conn.execute(select(func.count()).select_from(Ticket)
                                .where(Ticket.recording_sid.in_(sids))).scalar() if sids else 0
        if made >= len(sids) or time.monotonic() > deadline:
            break
        time.sleep(0.5)
    engine.dispose()
    pending = spool.pending(instance)
    if made < len(sids) and pending:
        print(f"  (spool still holds {pending} entr(ies))")
    return made


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--calls", type=int, default=200)
    p.add_argument("--concurrency", type=int, default=100)
    p.add_argument("--workers", type=int, default=2, help="gunicorn processes (both servers)")
    p.add_argument("--threads", type=int, default=16, help="threads per process (both servers)")
    p.add_argument("--database-url", default="", help="a PostgreSQL server URL: a throw-away database is made on it")
    p.add_argument("--tts", default="on", choices=["on", "off"], help="render our own audio (default on, as shipped)")
    p.add_argument("--prerender", action="store_true",
                   help="render prompt audio (python -m ivr prompts render) before starting, as a warm install has it")
    p.add_argument("--warmup", type=int, default=0,
                   help="calls placed (and not measured) before the run, e.g. to time a warm service")
    p.add_argument("--gunicorn-config", default="", help="another gunicorn settings file (e.g. with a profiler hook)")
    p.add_argument("--json", action="store_true")
    args = p.parse_args()

    tmp = Path(tempfile.mkdtemp(prefix="bench-load-"))
    instance = tmp / "instance"
    drop_pg = None
    if args.database_url:
        from sqlalchemy import create_engine, text
        from sqlalchemy.engine import make_url

        name = f"ivr_bench_{secrets.token_hex(4)}"
        admin = create_engine(args.database_url, isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
        url = make_url(args.database_url).set(database=name).render_as_string(hide_password=False)

        def drop_pg() -> None:
            with admin.connect() as conn:
                conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    else:
        url = f"sqlite:///{tmp / 'load.db'}"
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(tmp), "IVR_ENV_FILE": os.devnull,
           "SECRET_KEY": "s" * 32, "TWILIO_ACCOUNT_SID": ACCOUNT_SID, "TWILIO_AUTH_TOKEN": AUTH_TOKEN,
           "IVR_INSTANCE_PATH": str(instance), "DATABASE_URL": url, "IVR_TTS": args.tts,
           "IVR_RECONCILE_SECONDS": "0", "LOG_LEVEL": "WARNING"}
    py = sys.executable
    # As an operator sets up: the schema first (only db upgrade and serve migrate), then the data.
    for cmd in (["db", "upgrade"], ["kb", "load"], ["orders", "import", str(ROOT / "samples" / "orders.csv")]):
        subprocess.run([py, "-m", "ivr", *cmd], cwd=ROOT, env=env, check=True, capture_output=True)
    if args.prerender and args.tts == "on":
        subprocess.run([py, "-m", "ivr", "prompts", "render"], cwd=ROOT, env=env, check=True, capture_output=True)
    with open(ROOT / "tests" / "fixtures" / "kb_questions.csv", newline="") as fh:
        questions = [row["text"] for row in csv.DictReader(fh)]

    server = ["--workers", str(args.workers), "--threads", str(args.threads)]
    extra = ["--gunicorn-config", args.gunicorn_config] if args.gunicorn_config else []
    results: dict = {"calls": args.calls, "warmup_calls": args.warmup, "prerendered": args.prerender, "concurrency": args.concurrency, "workers": args.workers,
                     "threads": args.threads, "database": "postgresql" if args.database_url else "sqlite"}
    proc, base, lines = start_server([py, "-m", "ivr", "serve", "--production", "--port", "0", *server, *extra], env)
    try:
        wait_ready(base, "/healthz")
        if args.warmup:
            run_service_calls(base, args.warmup, min(args.warmup, args.concurrency), questions)
        service = run_service_calls(base, args.calls, args.concurrency, questions)
        made = count_tickets(url, service["recorded"], instance)
    finally:
        stop(proc)
        (tmp / "service.log").write_text("".join(lines))
    results["service"] = {**summarize(service["samples"]), "call_errors": len(service["errors"]),
                          "voicemails_recorded": len(service["recorded"]), "tickets_made": made,
                          "requests_per_call": round(service["requests_per_call"], 2),
                          "wall_s": round(service["wall"], 1)}
    per_call = max(1, round(service["requests_per_call"]))
    floor_proc, floor_base, _ = start_server(
        [py, "-m", "gunicorn", "-c", str(ROOT / "gunicorn.conf.py"), "--bind", "127.0.0.1:0", *server,
         "--chdir", str(ROOT), "bench.floor:app"], env)
    try:
        wait_ready_floor = floor_base
        floor = run_floor_calls(wait_ready_floor, args.calls, args.concurrency, per_call)
    finally:
        stop(floor_proc)
    results["floor"] = {**summarize(floor["samples"]), "wall_s": round(floor["wall"], 1)}
    s, f = results["service"], results["floor"]
    results["p99_ratio"] = round(s["p99_ms"] / f["p99_ms"], 2) if f["p99_ms"] else None
    results["targets_met"] = (s["failures"] == 0 and s["timeouts"] == 0 and s["call_errors"] == 0
                              and s["tickets_made"] == s["voicemails_recorded"]
                              and results["p99_ratio"] is not None and results["p99_ratio"] <= 5)
    if drop_pg:
        drop_pg()
    if args.json:
        print(json.dumps(results))
    else:
        print(f"(service log: {tmp / 'service.log'})")
        print(f"{args.calls} calls, {args.concurrency} at a time, {results['database']}, "
              f"gunicorn gthread {args.workers}x{args.threads}" + (f", after {args.warmup} warm-up calls" if args.warmup else ", cold start")
              + (", prompts pre-rendered" if args.prerender else ""))
        for name in ("service", "floor"):
            r = results[name]
            print(f"  {name:8s} {r['requests']:5d} requests  p50 {r['p50_ms']:8.1f} ms  p99 {r['p99_ms']:8.1f} ms  "
                  f"max {r['max_ms']:8.1f} ms  failures {r['failures']}  timeouts {r['timeouts']}  wall {r['wall_s']} s")
        print(f"  call errors: {s['call_errors']}  voicemails recorded {s['voicemails_recorded']}, "
              f"tickets made {s['tickets_made']}")
        print(f"  p99 / floor p99 = {results['p99_ratio']}x (target <= 5x)  targets met: {results['targets_met']}")
        print("  slowest webhook paths (service): path, requests, p99 ms, timeouts")
        for row in by_path(service["samples"])[:6]:
            print("   ", *row)
        for err in service["errors"][:5]:
            print("   ", err)
    return 0 if results["targets_met"] else 1


if __name__ == "__main__":
    sys.exit(main())
