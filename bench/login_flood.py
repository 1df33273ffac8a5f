"""Does a login flood slow the voice webhook? /voice latency alone, then under a 16-thread flood of wrong passwords.

Runs `python -m ivr serve` in a subprocess on a fresh SQLite database (signature checks on, TTS
off) and places signed /voice requests one after another, as Twilio would. Three phases in the
same run: no flood (the baseline), a flood from one address (the throttle refuses it before any
hashing), and a flood spread over many accounts with the throttle opened wide (every attempt
hashes: only the one-hash-at-a-time bound protects the webhooks). Prints name=value lines.

    .venv/bin/python bench/login_flood.py [--requests 200] [--threads 16]
"""
from __future__ import annotations

import argparse
import os
import re
import secrets
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import requests
from twilio.request_validator import RequestValidator

ROOT = Path(__file__).resolve().parent.parent
SID, TOKEN = "AC" + "1" * 32, "2" * 32


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start(tmp: Path, **env_extra: str) -> tuple[subprocess.Popen, str]:
    port = free_port()
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "IVR_ENV_FILE": os.devnull, "SECRET_KEY": "s" * 32,
           "TWILIO_ACCOUNT_SID": SID, "TWILIO_AUTH_TOKEN": TOKEN, "IVR_TTS": "off", "IVR_INSTANCE_PATH": str(tmp),
           "HOME": str(tmp), "LOG_LEVEL": "WARNING", **env_extra}
    for cmd in (["db", "upgrade"], ["kb", "load"]):  # the schema first: only db upgrade and serve migrate
        subprocess.run([sys.executable, "-m", "ivr", *cmd], cwd=ROOT, env=env, check=True, capture_output=True)
    subprocess.run([sys.executable, "-m", "ivr", "users", "add", "agent@example.com", "--generate"], cwd=ROOT,
                   env=env, check=True, capture_output=True)
    proc = subprocess.Popen([sys.executable, "-m", "ivr", "serve", "--port", str(port), "--threads", "24"],
                            cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{port}"
    for _ in range(600):
        try:
            if requests.get(base + "/healthz", timeout=1).status_code == 200:
                return proc, base
        except requests.RequestException:
            pass
        time.sleep(0.1)
    proc.kill()
    raise SystemExit("the service did not start")


def voice_latencies(base: str, n: int) -> list[float]:
    validator = RequestValidator(TOKEN)
    out = []
    with requests.Session() as http:
        for _ in range(n):
            params = {"CallSid": "CA" + secrets.token_hex(16), "AccountSid": SID, "From": "+15550001111",
                      "To": "+15550002222", "CallStatus": "ringing"}
            url = base + "/voice"
            sig = validator.compute_signature(url, params)
            t0 = time.perf_counter()
            resp = http.post(url, data=params, headers={"X-Twilio-Signature": sig}, timeout=30)
            out.append(time.perf_counter() - t0)
            assert resp.status_code == 200, resp.text[:200]
    return out


def flood(base: str, threads: int, stop: threading.Event, spread: bool, codes: dict) -> list[threading.Thread]:
    lock = threading.Lock()

    def one(n: int) -> None:
        with requests.Session() as http:
            while not stop.is_set():
                page = http.get(base + "/login", timeout=30).text
                token = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
                email = f"user{secrets.randbelow(10**6)}@example.com" if spread else "agent@example.com"
                r = http.post(base + "/login", data={"email": email, "password": "wrong password",
                                                     "csrf_token": token}, timeout=30)
                with lock:
                    codes[r.status_code] = codes.get(r.status_code, 0) + 1

    workers = [threading.Thread(target=one, args=(i,), daemon=True) for i in range(threads)]
    for w in workers:
        w.start()
    return workers


def measure(base: str, n: int, threads: int, spread: bool | None) -> tuple[float, float, dict]:
    stop, codes = threading.Event(), {}
    workers = flood(base, threads, stop, spread, codes) if spread is not None else []
    if workers:
        time.sleep(2)  # let the flood get going
    lat = voice_latencies(base, n)
    stop.set()
    for w in workers:
        w.join(timeout=30)
    lat.sort()
    return statistics.median(lat) * 1000, lat[int(len(lat) * 0.99) - 1] * 1000, codes


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--requests", type=int, default=200)
    ap.add_argument("--threads", type=int, default=16)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        proc, base = start(Path(tmp) / "a")
        try:
            voice_latencies(base, 20)  # warm up
            p50, p99, _ = measure(base, args.requests, args.threads, None)
            print(f"voice_p50_ms_no_flood={p50:.1f}\nvoice_p99_ms_no_flood={p99:.1f}")
            f50, f99, codes = measure(base, args.requests, args.threads, spread=False)
            print(f"voice_p50_ms_flood_one_address={f50:.1f}\nvoice_p99_ms_flood_one_address={f99:.1f}")
            print(f"flood_one_address_responses={dict(sorted(codes.items()))}")
            print(f"p50_ratio_flood_one_address={f50 / p50:.2f}")
        finally:
            proc.terminate()
            proc.wait(timeout=30)
        proc, base = start(Path(tmp) / "b", IVR_LOGIN_MAX_FAILURES="1000",
                           IVR_LOGIN_MAX_FAILURES_PER_ADDRESS="100000")
        try:
            voice_latencies(base, 20)
            b50, _, _ = measure(base, args.requests, args.threads, None)
            s50, s99, codes = measure(base, args.requests, args.threads, spread=True)
            print(f"voice_p50_ms_no_flood_run2={b50:.1f}")
            print(f"voice_p50_ms_flood_unthrottled={s50:.1f}\nvoice_p99_ms_flood_unthrottled={s99:.1f}")
            print(f"flood_unthrottled_responses={dict(sorted(codes.items()))}")
            print(f"p50_ratio_flood_unthrottled={s50 / b50:.2f}")
        finally:
            proc.terminate()
            proc.wait(timeout=30)


if __name__ == "__main__":
    main()
