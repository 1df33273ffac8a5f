"""Child process that drives pyttsx3: one JSON job per stdin line, one JSON result per stdout line.

pyttsx3 is not thread-safe, and its espeak driver can write nothing or hang; running it in
a child process with a deadline contains both. The child is long-lived (starting Python and
pyttsx3 costs ~0.5 s of CPU, a sentence ~30 ms) and runs at a lower priority, so rendering
never takes the CPU from webhooks; it exits when its parent does, even by kill -9: its stdin
closes. (Not PR_SET_PDEATHSIG: that fires when the *thread* that started the child ends, and
any warm-up or request thread may be the one to start it.) Each text gets its own runAndWait, because
queuing several save_to_file calls writes only the last one; sox then converts it to the
phone format in this process too, at the same low priority.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time


def wait_for_file(path: str, seconds: float = 5.0) -> bool:
    """The espeak driver may finish writing just after runAndWait returns: wait for a stable file."""
    deadline, last = time.monotonic() + seconds, -1
    while time.monotonic() < deadline:
        size = os.path.getsize(path) if os.path.exists(path) else -1
        if size > 44 and size == last:
            return True
        last = size
        time.sleep(0.02)
    return False


def to_phone_format(source: str, target: str) -> str | None:
    """8 kHz mono mu-law with sox; returns an error message, or None."""
    try:
        proc = subprocess.run(["sox", source, "-r", "8000", "-c", "1", "-e", "mu-law", target],
                              capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"sox could not run: {exc}"
    if proc.returncode != 0 or not os.path.exists(target):
        return f"sox could not convert the audio: {proc.stderr.strip()[:200]}"
    return None


def render_one(engine, voices: set[str], job: dict) -> dict:
    if job.get("voice"):
        # pyttsx3 silently keeps the old voice for an unknown one: refuse instead.
        if job["voice"] not in voices:
            raise ValueError(f"voice {job['voice']!r} is not installed in espeak-ng")
        engine.setProperty("voice", job["voice"])
    engine.setProperty("rate", int(job["rate"]))
    engine.setProperty("volume", float(job["volume"]))
    ok = False
    for _attempt in range(3):  # the espeak driver now and then writes nothing: try again
        engine.save_to_file(job["text"], job["path"])
        engine.runAndWait()
        ok = wait_for_file(job["path"], seconds=2.0)
        if ok:
            break
    if not ok:
        return {"path": job["path"], "ok": False, "error": "pyttsx3 finished but wrote no audio"}
    error = to_phone_format(job["path"], job["out"])
    try:
        os.unlink(job["path"])  # the raw file; `out` is what the parent installs
    except OSError:
        pass
    return {"path": job["path"], "ok": error is None, "error": error}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--nice", type=int, default=0, help="lower this process's priority by this much")
    args = parser.parse_args(argv)
    if args.nice:
        try:
            os.nice(args.nice)
        except OSError:
            pass
    import pyttsx3

    engine = pyttsx3.init("espeak")
    voices = {v.id for v in engine.getProperty("voices")}
    print(json.dumps({"ready": True}), flush=True)
    for line in sys.stdin:
        if not line.strip():
            continue
        job = json.loads(line)
        try:
            result = render_one(engine, voices, job)
        except Exception as exc:  # noqa: BLE001 - report, keep serving
            result = {"path": job["path"], "ok": False, "error": f"{type(exc).__name__}: {exc}"}
        print(json.dumps(result), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
