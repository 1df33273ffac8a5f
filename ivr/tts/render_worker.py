"""Child process that drives pyttsx3: one JSON job per stdin line, one JSON result per stdout line.

pyttsx3 is not thread-safe, and its espeak driver can write nothing or hang; running it in
a child process with a deadline contains both. Each text gets its own runAndWait, because
queuing several save_to_file calls writes only the last one.
"""
from __future__ import annotations

import json
import os
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


def main() -> int:
    import pyttsx3

    engine = pyttsx3.init("espeak")
    voices = {v.id for v in engine.getProperty("voices")}
    for line in sys.stdin:
        job = json.loads(line)
        try:
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
            result = {"path": job["path"], "ok": ok,
                      "error": None if ok else "pyttsx3 finished but wrote no audio"}
        except Exception as exc:  # noqa: BLE001 - report, keep serving the batch
            result = {"path": job["path"], "ok": False, "error": f"{type(exc).__name__}: {exc}"}
        print(json.dumps(result), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
