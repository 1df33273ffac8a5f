"""Call-flow webhooks: how long Twilio waits for each kind of turn, against /healthz in the same run.

    python bench/flow.py [--calls 30]

Places scripted calls through the real app in this process (SQLite file, sample knowledge base
and orders, our own TTS off so only the flow is measured): the greeting, a menu key, a question
said at the main menu (knowledge-base search), an order look-up, and a voicemail. Each webhook's
wall time is recorded by kind; the baseline is a GET /healthz through the same test client.
Prints p50/p95 in ms and the p50 as a multiple of the baseline's.
"""
from __future__ import annotations

import argparse
import os
import secrets
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("IVR_ENV_FILE", os.devnull)
ROOT = Path(__file__).resolve().parent.parent
from ivr.services import services  # noqa: E402 - after the project folder is on the path


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]


def main() -> int:
    p = argparse.ArgumentParser()
    p.add_argument("--calls", type=int, default=30)
    args = p.parse_args()

    from ivr import create_app
    from ivr.cli.db import upgrade_database
    from ivr.config import load_settings
    from ivr.db import session_scope
    from ivr.kb.loader import load_knowledge_base
    from ivr.orders.lookup import import_orders
    from ivr.simulate.driver import CallDriver, FlaskTransport

    sid, token = "AC" + "1" * 32, "2" * 32
    with tempfile.TemporaryDirectory() as tmp:
        settings = load_settings(twilio_account_sid=sid, twilio_auth_token=token, secret_key=secrets.token_hex(16),
                                 database_url=f"sqlite:///{tmp}/ivr.db", instance_path=Path(tmp) / "instance",
                                 run_worker=False, extra={"IVR_TTS": "off"})
        upgrade_database(settings)
        app = create_app(settings)
        with app.app_context(), session_scope(services(app).sessionmaker) as session:
            load_knowledge_base(session, ROOT / "kb_data")
            import_orders(session, ROOT / "samples" / "orders.csv")
        client = app.test_client()
        timings: dict[str, list[float]] = {}

        class Timed(FlaskTransport):
            kind = "other"

            def post(self, url, params, headers):
                start = time.perf_counter()
                result = super().post(url, params, headers)
                timings.setdefault(self.kind, []).append((time.perf_counter() - start) * 1000)
                return result

        transport = Timed(client)
        script = [("greeting", None), ("menu key", ("press", "2")), ("menu key", ("press", "*")),
                  ("question at main menu", ("say", "how long does a refund take")),
                  ("menu key", ("press", "*")), ("menu key", ("press", "3")),
                  ("order number read back", ("press", "4512#")), ("order look-up", ("press", "1")),
                  ("order postcode checked", ("press", "04101#")), ("menu key", ("press", "8"))]
        for _ in range(2):  # warm-up: imports, search engine, embedding model
            driver = CallDriver(transport, "http://localhost", token, account_sid=sid)
            driver.start()
            driver.say("how long does a refund take")
        timings.clear()
        for n in range(args.calls):
            driver = CallDriver(transport, "http://localhost", token, account_sid=sid, caller=f"+1555{n:07d}")
            for kind, action in script:
                transport.kind = kind
                if action is None:
                    driver.start()
                else:
                    getattr(driver, action[0])(action[1])
            transport.kind = "voicemail saved"
            driver.record(seconds=5)
            for _ in range(3):
                start = time.perf_counter()
                client.get("/healthz")
                timings.setdefault("baseline /healthz", []).append((time.perf_counter() - start) * 1000)
        base = statistics.median(timings["baseline /healthz"])
        for kind, values in timings.items():
            name = kind.replace(" ", "_").replace("/", "")
            print(f"{name}_p50_ms={statistics.median(values):.1f}")
            print(f"{name}_p95_ms={pct(values, 0.95):.1f}")
            print(f"{name}_p50_x_baseline={statistics.median(values) / base:.1f}")
            print(f"{name}_n={len(values)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
