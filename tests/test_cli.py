"""The operator's command line, run as a real subprocess against a real SQLite file."""
from __future__ import annotations

import json
import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from .conftest import ROOT, cli_env

pytestmark = pytest.mark.slow  # every test runs the real `python -m ivr` command in a subprocess


@pytest.fixture
def cli(tmp_path):
    env = cli_env(tmp_path / "instance", DATABASE_URL=f"sqlite:///{tmp_path / 'cli.db'}")

    def run(*args: str, check: bool = True, **extra_env: str) -> subprocess.CompletedProcess:
        proc = subprocess.run([sys.executable, "-m", "ivr", *args], cwd=ROOT, env={**env, **extra_env},
                              capture_output=True, text=True, timeout=120)
        if check and proc.returncode != 0:
            raise AssertionError(f"{args} exited {proc.returncode}: {proc.stderr}")
        return proc

    return run


def test_kb_load_reports_counts(cli):
    out = json.loads(cli("kb", "load", "--json").stdout)
    assert out["articles"] >= 25 and out["topics"] >= 5


def test_kb_load_bad_file_names_it_and_changes_nothing(cli, tmp_path):
    cli("kb", "load")
    broken = tmp_path / "kb"
    shutil.copytree(ROOT / "kb_data", broken)
    victim = sorted((broken / "articles").glob("*.md"))[3]
    text = victim.read_text()
    victim.write_text(text.replace("topic:", "topik:", 1))
    (broken / "articles" / "second-bad.md").write_text("no front matter here\n")
    proc = cli("kb", "load", "--path", str(broken), check=False)
    assert proc.returncode == 1
    assert proc.stderr.count("\n") == 1 and proc.stderr.startswith("error: knowledge base not loaded")
    assert str(victim) in proc.stderr and "'topic' is missing" in proc.stderr
    assert "second-bad.md: must start with YAML front matter" in proc.stderr
    # The previous knowledge base is intact: same articles as before the failed load.
    with sqlite3.connect(tmp_path / "cli.db") as conn:
        count = conn.execute("select count(*) from kb_articles").fetchone()[0]
    assert count == len(list((ROOT / "kb_data" / "articles").glob("*.md")))


def test_orders_import_and_bad_csv(cli, tmp_path):
    out = json.loads(cli("orders", "import", str(ROOT / "samples" / "orders.csv"), "--json").stdout)
    assert out["added"] >= 10 and out["updated"] == 0
    again = json.loads(cli("orders", "import", str(ROOT / "samples" / "orders.csv"), "--json").stdout)
    assert again["added"] == 0 and again["updated"] == out["added"]
    bad = tmp_path / "bad.csv"
    bad.write_text("number,status,detail\n12345,shipped,ok\n12ab,shipped,bad number\n")
    proc = cli("orders", "import", str(bad), check=False)
    assert proc.returncode == 1 and f"{bad}:3" in proc.stderr and "4 to 10 digits" in proc.stderr
    missing = cli("orders", "import", str(tmp_path / "nope.csv"), check=False)
    assert missing.returncode == 1 and "cannot open" in missing.stderr


def test_simulate_a_call_then_read_its_log(cli):
    cli("kb", "load")
    cli("orders", "import", str(ROOT / "samples" / "orders.csv"))
    proc = cli("simulate", "--script", "3;00000#;1;*;8;12;")
    out = proc.stdout
    assert "Thank you for calling" in out
    assert "I couldn't find order 0 0 0 0 0." in out
    assert "Your reference is" in out
    assert "[call ended: hangup]" in out
    sid = out.split("(call ")[1].split(")")[0]
    listed = json.loads(cli("calls", "list", "--json").stdout)
    assert listed[0]["sid"] == sid and listed[0]["events"] > 5
    shown = json.loads(cli("calls", "show", sid, "--json").stdout)
    kinds = [e["kind"] for e in shown["events"]]
    assert kinds[0] == "call_started" and "ticket" in kinds and "order" in kinds
    text = cli("calls", "show", sid).stdout
    assert f"call {sid}" in text and "ticket" in text
    missing = cli("calls", "show", "CAnope", check=False)
    assert missing.returncode == 1 and "no call with sid" in missing.stderr
