"""The real service over real HTTP: `python -m ivr serve` answers a simulated call end to end."""
from __future__ import annotations

import socket
import subprocess
import sys
import time

import pytest
import requests

from ivr.simulate.driver import CallDriver, HttpTransport

from .conftest import ACCOUNT_SID, AUTH_TOKEN, ROOT, cli_env

pytestmark = pytest.mark.slow  # the real service over real HTTP


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def server(tmp_path):
    port = free_port()
    env = cli_env(tmp_path / "instance", DATABASE_URL=f"sqlite:///{tmp_path / 'h.db'}")
    for args in (["db", "upgrade"], ["kb", "load"], ["orders", "import", str(ROOT / "samples" / "orders.csv")]):
        subprocess.run([sys.executable, "-m", "ivr", *args], cwd=ROOT, env=env, check=True,
                       capture_output=True, timeout=120)
    proc = subprocess.Popen([sys.executable, "-m", "ivr", "serve", "--port", str(port)], cwd=ROOT, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if requests.get(base + "/healthz", timeout=1).status_code == 200:
                break
        except requests.ConnectionError:
            pass
        time.sleep(0.2)
    else:
        proc.kill()
        pytest.fail("service did not start: " + (proc.stdout.read() if proc.stdout else ""))
    yield base
    proc.terminate()
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()


def test_call_over_real_http(server):
    driver = CallDriver(HttpTransport(), server, AUTH_TOKEN, account_sid=ACCOUNT_SID)
    step = driver.start()
    assert "Thanks for calling" in " ".join(step.heard)  # the greeting (issue 19's shorter words)
    step = driver.press("8")  # the message key
    assert step.waiting == "record"
    step = driver.record(seconds=6)
    assert "Your reference is" in " ".join(step.heard)
    step = driver.silence()  # no text of the reference, thanks: goodbye
    assert step.ended == "hangup"
    forged = requests.post(server + "/voice", data={"CallSid": "CA1"}, headers={"X-Twilio-Signature": "nope"})
    assert forged.status_code == 403
