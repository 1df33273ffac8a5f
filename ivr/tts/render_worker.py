"""Child process that renders: one JSON job per stdin line, one JSON result per stdout line.

Two engines: pyttsx3 (espeak-ng), driven in this process, and Piper (`"engine": "piper"`), a neural
voice run as its own long-lived `python -m piper` process that this one feeds a line of text and
waits for the file it wrote. Piper is GPL-3.0: it is only ever run as that separate program, never
imported here or in the app. Both engines' output is converted to the same phone format and
loudness (`to_phone_format`), so a call sounds the same level whichever engine spoke a line.

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
import re
import shutil
import subprocess
import sys
import tempfile
import time

# Every clip is brought to this loudness (RMS over the clip, dBFS), peaks kept below PEAK_DB: espeak-ng
# and Piper differ by several dB out of the box (bench/tts.py measures both).
TARGET_RMS_DB = -20.0
PEAK_DB = -1.0


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


def loudness(path: str) -> tuple[float, float] | None:
    """(RMS, peak) in dBFS of a file's first channel, measured by sox at the phone's rate."""
    try:
        proc = subprocess.run(["sox", path, "-n", "remix", "1", "rate", "8000", "stats"],
                              capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired):
        return None
    rms = re.search(r"RMS lev dB\s+(-?[\d.]+|-inf)", proc.stderr)
    peak = re.search(r"Pk lev dB\s+(-?[\d.]+|-inf)", proc.stderr)
    if not rms or not peak or "inf" in rms.group(1):
        return None
    return float(rms.group(1)), float(peak.group(1))


def to_phone_format(source: str, target: str) -> str | None:
    """8 kHz mono mu-law at the target loudness, with sox; returns an error message, or None."""
    level = loudness(source)
    gain = 0.0
    if level is not None:
        rms, peak = level
        gain = min(TARGET_RMS_DB - rms, PEAK_DB - peak)
    try:
        proc = subprocess.run(["sox", source, "-r", "8000", "-c", "1", "-e", "mu-law", target,
                               "remix", "1", "gain", f"{gain:.2f}"],
                              capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"sox could not run: {exc}"
    if proc.returncode != 0 or not os.path.exists(target):
        return f"sox could not convert the audio: {proc.stderr.strip()[:200]}"
    return None


class Piper:
    """One long-lived `python -m piper --output-dir` process: a line of text in, "Wrote <file>" on stderr.

    Started on the first Piper job and again when a job asks for another model or speed; it exits
    when this process does (its stdin closes)."""

    def __init__(self) -> None:
        self.proc: subprocess.Popen | None = None
        self.args: list[str] = []
        self.out_dir = ""  # made when Piper first starts; removed when this process ends its loop

    def _start(self, args: list[str]) -> None:
        self.close()
        self.args = args
        self.out_dir = self.out_dir or tempfile.mkdtemp(prefix="ivr-piper-")
        self.proc = subprocess.Popen([sys.executable, "-m", "piper", *args, "--output-dir", self.out_dir],
                                     stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                                     text=True, bufsize=1, close_fds=True)

    def close(self) -> None:
        if self.proc is not None:
            self.proc.kill()
            self.proc.wait()
            self.proc = None

    def render(self, job: dict) -> str:
        """The path of the WAV Piper wrote for job["text"]; raises RuntimeError with Piper's words."""
        args = ["-m", job["model"], "-c", job["config"], "--length-scale", f"{float(job['length_scale']):.3f}"]
        if self.proc is None or self.proc.poll() is not None or args != self.args:
            self._start(args)
        assert self.proc is not None and self.proc.stdin is not None and self.proc.stderr is not None
        text = " ".join(job["text"].split())
        try:
            self.proc.stdin.write(text + "\n")
            self.proc.stdin.flush()
        except OSError:
            raise RuntimeError("piper exited") from None
        said: list[str] = []
        for line in self.proc.stderr:  # the parent's deadline kills us (and so Piper) if it hangs
            found = re.search(r"Wrote (.+\.wav)\s*$", line)
            if found:
                return found.group(1)
            said.append(line.strip())
        self.close()
        raise RuntimeError("piper exited: " + (said[-1][:200] if said else "no output"))


def render_piper(piper: Piper, job: dict) -> dict:
    try:
        written = piper.render(job)
    except RuntimeError as exc:
        return {"path": job["path"], "ok": False, "error": str(exc)}
    error = to_phone_format(written, job["out"])
    try:
        os.unlink(written)
    except OSError:
        pass
    return {"path": job["path"], "ok": error is None, "error": error}


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
    piper = Piper()
    print(json.dumps({"ready": True}), flush=True)
    for line in sys.stdin:
        if not line.strip():
            continue
        job = json.loads(line)
        try:
            if job.get("engine") == "piper":
                result = render_piper(piper, job)
            else:
                result = render_one(engine, voices, job)
        except Exception as exc:  # noqa: BLE001 - report, keep serving
            result = {"path": job["path"], "ok": False, "error": f"{type(exc).__name__}: {exc}"}
        print(json.dumps(result), flush=True)
    piper.close()
    if piper.out_dir:
        shutil.rmtree(piper.out_dir, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
