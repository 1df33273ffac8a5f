"""The operator's command line: in this process with Flask's test CLI runner against a real app on
a real SQLite file, and `python -m ivr` itself as a real subprocess (entry point, closed pipe,
one-line errors)."""
from __future__ import annotations

import json
import shutil
import sqlite3
import subprocess
import sys

import pytest
from flask.cli import ScriptInfo

from .conftest import ROOT, cli_env, invoke_cli, make_test_app


@pytest.fixture
def cli(settings_overrides, tmp_path):
    app = make_test_app({**settings_overrides, "database_url": f"sqlite:///{tmp_path / 'cli.db'}"})

    def run(*args: str, check: bool = True):
        proc = invoke_cli(app, *args)
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


def test_kb_load_refuses_an_answer_that_sends_callers_to_the_wrong_key(cli, tmp_path):
    """The key map is the flow's: "press 4 to leave a message" is wrong (4 asks for a callback, 8 leaves a message)."""
    cli("kb", "load")  # the shipped sample agrees with the menus
    broken = tmp_path / "kb"
    shutil.copytree(ROOT / "kb_data", broken)
    article = broken / "articles" / "talk-to-person.md"
    article.write_text(article.read_text().replace("Press 8 at any time to leave", "Press 4 at any time to leave"))
    gift = broken / "articles" / "gift-cards.md"
    gift.write_text(gift.read_text().rstrip() + " To hear your balance, press 5.\n")
    proc = cli("kb", "load", "--path", str(broken), check=False)
    assert proc.returncode == 1
    assert proc.stderr.count("\n") == 1 and proc.stderr.startswith("error: knowledge base not loaded")
    assert ('article "Reaching a person" (talk-to-person): says "Press 4 at any time to leave a message with your name"'
            " but 4 asks for a callback in the main menu (that's 8)") in proc.stderr
    assert '(gift-cards): says "press 5" but 5 does nothing in our menus' in proc.stderr
    with sqlite3.connect(tmp_path / "cli.db") as conn:
        titles = conn.execute("select answer from kb_articles where id = 'talk-to-person'").fetchone()[0]
    assert "Press 8 at any time" in titles  # nothing changed


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


def test_tickets_export_takes_json_as_well_as_format_json(app, call):
    from .test_dashboard import leave_voicemail

    ticket = leave_voicemail(app, call, transcript="the parcel is late")
    by_format = invoke_cli(app, "tickets", "export", "--format", "json")
    by_flag = invoke_cli(app, "tickets", "export", "--json")
    assert by_format.returncode == by_flag.returncode == 0
    assert by_flag.stdout == by_format.stdout
    assert [t["reference"] for t in json.loads(by_flag.stdout)] == [ticket.reference]
    assert invoke_cli(app, "tickets", "export").stdout.startswith("id,reference")


def _behind(settings_overrides, tmp_path, *, empty: bool) -> tuple[ScriptInfo, str]:
    """A runner's ScriptInfo whose factory is the real create_app on a database that is behind,
    and how the error names that state."""
    from alembic.script import ScriptDirectory

    from ivr import create_app
    from ivr.config import load_settings
    from ivr.migrations import alembic_config, head_revision

    settings = load_settings(**{**settings_overrides, "database_url": f"sqlite:///{tmp_path / 'behind.db'}"})
    state = "empty"
    if not empty:
        from ivr.cli.db import upgrade_database

        upgrade_database(settings)
        older = ScriptDirectory.from_config(alembic_config(settings.sqlalchemy_url)).get_revision(
            head_revision()).down_revision
        with sqlite3.connect(tmp_path / "behind.db") as conn:
            conn.execute("update alembic_version set version_num = ?", (older,))
        state = f"at {older}, code needs {head_revision()}"
    return ScriptInfo(create_app=lambda: create_app(settings)), state


@pytest.mark.parametrize("empty", [True, False], ids=["empty", "older"])
def test_commands_other_than_upgrade_stop_on_a_behind_schema_with_one_line(settings_overrides, tmp_path, empty,
                                                                            bare_app):
    """bare_app (on another database) only hosts the test runner; `info` builds the app under test."""
    info, state = _behind(settings_overrides, tmp_path, empty=empty)
    for args in (["tickets", "list", "--json"], ["kb", "load"], ["orders", "import", str(ROOT / "samples" / "orders.csv")],
                 ["doctor", "--json"], ["calls", "list"], ["users", "list"], ["simulate", "--script", "8"]):
        done = invoke_cli(bare_app, *args, obj=info)
        assert (done.returncode, done.stdout) == (1, ""), args
        assert done.stderr == f"error: database schema is behind ({state}): run python -m ivr db upgrade\n", args
    # Nothing was migrated behind the operator's back.
    with sqlite3.connect(tmp_path / "behind.db") as conn:
        tables = {r[0] for r in conn.execute("select name from sqlite_master where type = 'table'")}
    assert ("kb_articles" in tables) is not empty


def _python_m_ivr(env, *args, **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "ivr", *args], cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=120, **kwargs)


@pytest.mark.slow  # runs the real `python -m ivr` in a subprocess
def test_python_m_ivr_on_a_fresh_database_says_upgrade_then_works(tmp_path):
    env = cli_env(tmp_path / "instance", DATABASE_URL=f"sqlite:///{tmp_path / 'fresh.db'}")
    refused = _python_m_ivr(env, "tickets", "list", "--json")
    assert (refused.returncode, refused.stdout) == (1, "")
    assert refused.stderr == "error: database schema is behind (empty): run python -m ivr db upgrade\n"
    upgraded = _python_m_ivr(env, "db", "upgrade", "--json")
    assert upgraded.returncode == 0, upgraded.stderr
    assert json.loads(upgraded.stdout)["before"] is None
    listed = _python_m_ivr(env, "tickets", "list", "--json")
    assert (listed.returncode, json.loads(listed.stdout), listed.stderr) == (0, [], "")
    bad_setting = _python_m_ivr({**env, "IVR_TTS_RATE": "fast"}, "tickets", "list")
    assert bad_setting.returncode == 1
    assert bad_setting.stderr == "error: IVR_TTS_RATE must be a whole number, got 'fast'\n"
    usage = _python_m_ivr(env, "tickets", "list", "--no-such-flag")
    assert usage.returncode == 2 and "No such option" in usage.stderr


@pytest.mark.slow  # runs the real `python -m ivr` in a subprocess
def test_a_closed_pipe_ends_quietly(tmp_path):
    """`python -m ivr orders list --json | head -1`: the reader goes away; no traceback."""
    env = cli_env(tmp_path / "instance", DATABASE_URL=f"sqlite:///{tmp_path / 'pipe.db'}")
    many = tmp_path / "many.csv"
    many.write_text("number,status,detail\n" + "".join(f"{100000 + i},shipped,parcel {i} left the warehouse\n"
                                                      for i in range(3000)))
    assert _python_m_ivr(env, "db", "upgrade").returncode == 0
    assert _python_m_ivr(env, "orders", "import", str(many)).returncode == 0
    proc = subprocess.Popen([sys.executable, "-m", "ivr", "orders", "list", "--json"], cwd=ROOT, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert proc.stdout.readline() == "[\n"
    proc.stdout.close()  # far more than a pipe's buffer is still to come
    stderr = proc.stderr.read()
    assert proc.wait(timeout=120) == 1
    assert stderr == ""
