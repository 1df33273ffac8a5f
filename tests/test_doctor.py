"""`doctor` checks what an operator needs before pointing a number at the service."""
from __future__ import annotations

import json

import pytest

from ivr.tickets.service import RecordingCallback, spool_callback

from .conftest import ACCOUNT_SID, AUTH_TOKEN, invoke_cli, make_test_app
from .fake_twilio_api import FakeServer, twilio_account


@pytest.fixture
def doctor(settings_overrides, tmp_path):
    """`python -m ivr doctor --json` (in this process) on an app with these environment settings."""

    def run(tmp_path, **env) -> dict[str, dict]:
        typed = {k: v for k, v in settings_overrides.items() if k not in ("twilio_account_sid", "twilio_auth_token")}
        app = make_test_app({**typed, "database_url": f"sqlite:///{tmp_path / 'd.db'}",
                             "extra": {"TWILIO_ACCOUNT_SID": ACCOUNT_SID, "TWILIO_AUTH_TOKEN": AUTH_TOKEN,
                                       **settings_overrides["extra"], **env}})
        proc = invoke_cli(app, "doctor", "--json")
        assert proc.returncode == 0, proc.stderr
        return {row["check"]: row for row in json.loads(proc.stdout)}

    return run


def test_doctor_checks_credentials_public_url_and_spool(tmp_path, doctor):
    account = json.dumps(twilio_account(ACCOUNT_SID, "Northwind", "active")).encode()
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


def test_doctor_warns_when_opening_hours_reach_nobody(tmp_path, doctor):
    """Opening hours but no IVR_TRANSFER_TO: a line saying nobody is reachable (the flow never offers 0)."""
    from .conftest import ROOT

    nobody = doctor(tmp_path, IVR_HOURS_PATH=str(ROOT / "kb_data" / "hours.yaml"))
    assert not nobody["a person"]["ok"] and "nobody is reachable" in nobody["a person"]["detail"]
    assert "IVR_TRANSFER_TO" in nobody["a person"]["detail"]
    desk = doctor(tmp_path, IVR_HOURS_PATH=str(ROOT / "kb_data" / "hours.yaml"), IVR_TRANSFER_TO="+15550100001")
    assert desk["a person"]["ok"] and "1 destination(s)" in desk["a person"]["detail"]
    no_hours = doctor(tmp_path, IVR_HOURS_PATH=str(tmp_path / "none.yaml"))
    assert no_hours["a person"]["ok"] and "no opening hours" in no_hours["a person"]["detail"]
