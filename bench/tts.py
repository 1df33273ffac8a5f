"""Prompt audio: cold rendering speed, cache-hit serving latency under concurrency, and size.

    python bench/tts.py [--clips 40] [--threads 8] [--requests 400] [--engines espeak,piper]

Renders the prompt catalogue and knowledge-base answers into a fresh cache (cold), then serves
clips over real HTTP (waitress on 127.0.0.1) to concurrent clients, as Twilio's <Play> would
fetch them. Prints render speed as audio seconds per wall second (target >= 20x real time),
serving latency p50/p99 in ms (target p99 < 5 ms), and bytes per second of audio.

Then, per engine (espeak-ng, and Piper where piper-tts and a voice are installed), the same
sentences rendered by a warm renderer: render time, real-time factor (render seconds per second of
audio) and the loudness of the engine's own output and of our phone clips (RMS dBFS at 8 kHz).
"""
from __future__ import annotations

import argparse
import os
import socket
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("IVR_ENV_FILE", os.devnull)
from ivr.services import services


def main() -> int:
    p = argparse.ArgumentParser()
    p.add_argument("--clips", type=int, default=40)
    p.add_argument("--threads", type=int, default=8)
    p.add_argument("--requests", type=int, default=400)
    p.add_argument("--engines", default="espeak,piper")
    p.add_argument("--skip-serving", action="store_true")
    args = p.parse_args()

    import numpy as np
    import requests

    from ivr import create_app
    from ivr.cli.db import upgrade_database
    from ivr.config import load_settings
    from ivr.db import session_scope
    from ivr.kb.loader import load_knowledge_base
    from ivr.speech.audio import read_wav
    from ivr.tts.service import texts_to_render

    tmp = Path(tempfile.mkdtemp(prefix="bench-tts-"))
    settings = load_settings(**{"twilio_account_sid": "AC" + "1" * 32, "twilio_auth_token": "2" * 32, "secret_key": "s" * 32,
                      "database_url": f"sqlite:///{tmp / 'b.db'}", "instance_path": tmp,
                      "extra": {"IVR_TTS": "on", "IVR_TTS_CACHE": str(tmp / "tts")}})
    upgrade_database(settings)
    app = create_app(settings)
    with session_scope(services(app).sessionmaker) as s:
        load_knowledge_base(s, Path(__file__).resolve().parent.parent / "kb_data")
    service = services(app).tts
    texts = list(dict.fromkeys(texts_to_render(app)))[: args.clips]
    _ = service.engine_version  # starts the engine: measured separately from rendering
    start = time.perf_counter()
    result = service.render(texts)
    cold = time.perf_counter() - start
    durations, sizes = [], []
    for t in texts:
        path = service.cached_path(t)
        if path:
            durations.append(read_wav(path.read_bytes()).seconds)
            sizes.append(path.stat().st_size)
    audio_s = sum(durations)
    print(f"clips={len(durations)} failed={len(result.failed)} audio_s={audio_s:.1f}")
    print(f"cold_render_s={cold:.2f}")
    print(f"render_speed_x_realtime={audio_s / cold:.1f}")
    print(f"render_s_per_audio_s={cold / audio_s:.4f}")
    print(f"bytes_per_audio_second={sum(sizes) / audio_s:.0f}")
    engines(texts, args.engines.split(","), tmp)
    if args.skip_serving:
        return 0

    import subprocess

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    env = {**os.environ, "IVR_ENV_FILE": os.devnull, "TWILIO_ACCOUNT_SID": "AC" + "1" * 32,
           "TWILIO_AUTH_TOKEN": "2" * 32, "SECRET_KEY": "s" * 32, "DATABASE_URL": f"sqlite:///{tmp / 'b.db'}",
           "IVR_INSTANCE_PATH": str(tmp), "IVR_TTS_CACHE": str(tmp / "tts"), "IVR_RUN_WORKER": "false",
           "LOG_LEVEL": "WARNING"}
    # The service in its own process, as in production; clients here.
    server = subprocess.Popen([sys.executable, "-m", "ivr", "serve", "--port", str(port), "--threads",
                               str(args.threads)], env=env, cwd=Path(__file__).resolve().parent.parent)
    base = f"http://127.0.0.1:{port}"
    for _ in range(100):
        try:
            requests.get(base + "/healthz", timeout=1)
            break
        except requests.ConnectionError:
            time.sleep(0.1)
    urls = [f"{base}/audio/{service.key(t)}.wav" for t in texts if service.cached_path(t)]

    def measure(targets: list[str]) -> tuple[np.ndarray, float]:
        latencies: list[float] = []
        lock = threading.Lock()
        per_thread = args.requests // args.threads

        def client(offset: int) -> None:
            session = requests.Session()
            local = []
            for i in range(per_thread):
                t0 = time.perf_counter()
                r = session.get(targets[(offset + i) % len(targets)], timeout=10)
                local.append((time.perf_counter() - t0) * 1000)
                assert r.status_code == 200
            with lock:
                latencies.extend(local)

        threads = [threading.Thread(target=client, args=(k,)) for k in range(args.threads)]
        t0 = time.perf_counter()
        for th in threads:
            th.start()
        for th in threads:
            th.join()
        return np.array(latencies), time.perf_counter() - t0

    try:
        measure(urls[:4])  # warm connections and caches
        base_lat, _ = measure([base + "/healthz"])
        lat, wall = measure(urls)
    finally:
        server.terminate()
        server.wait(timeout=10)
    print(f"serve_concurrency={args.threads} requests={len(lat)} throughput_rps={len(lat) / wall:.0f}")
    print(f"serve_p50_ms={np.percentile(lat, 50):.2f}")
    print(f"serve_p99_ms={np.percentile(lat, 99):.2f}")
    print(f"baseline_healthz_p99_ms={np.percentile(base_lat, 99):.2f}")
    print(f"clip_vs_healthz_p99_ratio={np.percentile(lat, 99) / np.percentile(base_lat, 99):.2f}")
    return 0


def raw_loudness(engine: str, service, text: str, tmp: Path) -> float | None:
    """The engine's own output level, before our conversion: espeak-ng or Piper run directly."""
    import subprocess

    from ivr.tts.render_worker import loudness

    raw = tmp / f"raw-{engine}.wav"
    if engine == "piper":
        cmd = [sys.executable, "-m", "piper", "-m", str(service.piper.model), "-c", str(service.piper.config),
               "-f", str(raw)]
        subprocess.run(cmd, input=text, text=True, capture_output=True, timeout=120)
    else:
        subprocess.run(["espeak-ng", "-v", service.voice, "-s", str(service.rate), "-w", str(raw), text],
                       capture_output=True, timeout=60)
    level = loudness(str(raw)) if raw.is_file() else None
    return level[0] if level else None


def engines(texts: list[str], names: list[str], tmp: Path) -> None:
    import numpy as np

    from ivr.tts.render_worker import loudness
    from ivr.tts.service import TTSService

    for name in names:
        service = TTSService(tmp / f"engine-{name}", engine=name)
        if service.engine != name:
            print(f"[{name}] not available: {service.engine_note}")
            continue
        try:
            start = time.perf_counter()
            service.render(["Warm up the renderer."])
            startup = time.perf_counter() - start
            start = time.perf_counter()
            result = service.render(texts)
            took = time.perf_counter() - start
            rms = [lv[0] for t in texts if (p := service.cached_path(t)) and (lv := loudness(str(p)))]
            raw = [v for t in texts[:8] if (v := raw_loudness(name, service, t, tmp)) is not None]
            print(f"[{name}] {service.engine_note}")
            print(f"[{name}] clips={result.rendered} failed={len(result.failed)} fell_back={len(result.fell_back)} "
                  f"audio_s={result.audio_seconds:.1f} render_s={took:.2f} first_render_with_start_s={startup:.2f}")
            print(f"[{name}] rtf={took / result.audio_seconds:.3f} x_realtime={result.audio_seconds / took:.1f} "
                  f"ms_per_sentence={1000 * took / max(result.rendered, 1):.0f}")
            print(f"[{name}] loudness_engine_rms_db={np.mean(raw):.1f} (sd {np.std(raw):.1f}, {len(raw)} sentences) "
                  f"loudness_clip_rms_db={np.mean(rms):.1f} (sd {np.std(rms):.1f}, {len(rms)} clips)")
        finally:
            service.close()


if __name__ == "__main__":
    sys.exit(main())
