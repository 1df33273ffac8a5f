"""`doctor` checks what an operator needs before pointing a number at the service."""
from __future__ import annotations

import json
import subprocess
import sys

import pytest

from ivr.tickets.service import RecordingCallback, spool_callback

from .conftest import ACCOUNT_SID, AUTH_TOKEN, ROOT, cli_env
from .fake_twilio_api import FakeServer


def doctor(tmp_path, **env) -> dict[str, dict]:
    proc = subprocess.run([sys.executable, "-m", "ivr", "doctor", "--json"], cwd=ROOT,
                          env=cli_env(tmp_path / "instance", DATABASE_URL=f"sqlite:///{tmp_path / 'd.db'}", **env),
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    return {row["check"]: row for row in json.loads(proc.stdout)}


@pytest.mark.slow
def test_doctor_checks_credentials_public_url_and_spool(tmp_path):
    account = json.dumps({"sid": ACCOUNT_SID, "friendly_name": "Northwind", "status": "active"}).encode()
    with FakeServer(auth=(ACCOUNT_SID, AUTH_TOKEN)) as api:
        api.routes[f"/2010-04-01/Accounts/{ACCOUNT_SID}.json"] = lambda attempt: (200, account)
        good = doctor(tmp_path, TWILIO_API_BASE=api.url, PUBLIC_BASE_URL="https://ivr.example.com")
        wrong_token = doctor(tmp_path, TWILIO_API_BASE=api.url, TWILIO_AUTH_TOKEN="3" * 32)
    assert good["twilio"]["ok"] and "Northwind is active" in good["twilio"]["detail"]
    assert not wrong_token["twilio"]["ok"] and "401" in wrong_token["twilio"]["detail"]
    assert good["public URL"]["ok"] and "/voice/fallback" in good["public URL"]["detail"]
    assert not wrong_token["public URL"]["ok"]
    assert good["spool"]["ok"] and good["jobs"]["ok"]

    spool_callback(tmp_path / "instance", RecordingCallback("CA" + "1" * 32, "+1555", "RE" + "2" * 32, "", 4))
    waiting = doctor(tmp_path, TWILIO_API_BASE="http://127.0.0.1:9")
    assert not waiting["spool"]["ok"] and "1 write(s) waiting" in waiting["spool"]["detail"]
    assert not waiting["twilio"]["ok"] and "could not reach" in waiting["twilio"]["detail"]
