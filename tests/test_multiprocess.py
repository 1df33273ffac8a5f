"""Several processes on one database: migrations run once under a lock (SQLite and PostgreSQL),
the production command starts N gunicorn workers on a fresh database, and an app on an old
schema refuses to start with one line."""
from __future__ import annotations

import subprocess
import sys

import pytest
from alembic.runtime.migration import MigrationContext
from sqlalchemy import create_engine, inspect

from ivr.migrations import head_revision
from ivr.simulate.driver import CallDriver, HttpTransport

from .conftest import ACCOUNT_SID, AUTH_TOKEN, ROOT, cli_env
from .test_postgres import pg_url  # noqa: F401 - the throw-away database fixture
from .test_voicemail_durability import Service

N = 4


def _start_together(env: dict, argv: list[str], n: int) -> list[subprocess.CompletedProcess]:
    """Start n real processes at once (a shared go-file makes them begin the same instant)."""
    procs = [subprocess.Popen([sys.executable, "-m", "ivr", *argv], cwd=ROOT, env=env, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True) for _ in range(n)]
    results = []
    for p in procs:
        out, err = p.communicate(timeout=180)
        results.append(subprocess.CompletedProcess(p.args, p.returncode, out, err))
    return results


def _check_at_head(url: str) -> None:
    engine = create_engine(url)
    with engine.connect() as conn:
        assert MigrationContext.configure(conn).get_current_revision() == head_revision()
        assert {"tickets", "jobs", "recording_blobs"} <= set(inspect(conn).get_table_names())
    engine.dispose()


@pytest.mark.slow
@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_n_processes_upgrading_a_fresh_database_at_once(backend, tmp_path, request):
    url = f"sqlite:///{tmp_path / 'fresh.db'}" if backend == "sqlite" else request.getfixturevalue("pg_url")
    env = cli_env(tmp_path / "instance", DATABASE_URL=url)
    results = _start_together(env, ["db", "upgrade", "--json"], N)
    assert [r.returncode for r in results] == [0] * N, [r.stderr for r in results]
    outcomes = sorted(r.stdout for r in results)
    head = head_revision()
    # Exactly one process built the schema; the others waited for the lock and found it done.
    assert sum('"before": null' in o for o in outcomes) == 1
    assert sum(f'"before": "{head}"' in o for o in outcomes) == N - 1
    _check_at_head(url)


def test_app_on_a_behind_schema_refuses_to_start_in_one_line(tmp_path):
    env = cli_env(tmp_path / "instance", DATABASE_URL=f"sqlite:///{tmp_path / 'none.db'}")
    out = subprocess.run([sys.executable, "-c", "import wsgi"], cwd=ROOT, env=env, capture_output=True, text=True,
                         timeout=120)
    assert out.returncode == 3
    assert out.stderr.strip() == "error: database schema is behind (empty): run python -m ivr db upgrade"


@pytest.mark.slow
@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_production_command_starts_n_workers_on_a_fresh_database(backend, tmp_path, request):
    url = f"sqlite:///{tmp_path / 'prod.db'}" if backend == "sqlite" else request.getfixturevalue("pg_url")
    env = cli_env(tmp_path / "instance", DATABASE_URL=url, IVR_RECONCILE_SECONDS="0")
    service = Service(env, "--production", "--workers", "3", "--threads", "4")
    try:
        for _ in range(6):  # calls spread over the workers; each answers from the same schema
            driver = CallDriver(HttpTransport(timeout=30), service.base, AUTH_TOKEN, account_sid=ACCOUNT_SID)
            step = driver.start()
            assert step.waiting == "gather"
            driver.press("8")  # the message key
            assert "Your reference is" in " ".join(driver.record(seconds=5).heard)
        assert service.proc.poll() is None
        assert not any("Worker failed to boot" in line or "Traceback" in line for line in service.lines), \
            "".join(service.lines)
    finally:
        service.stop()
    assert len([line for line in service.lines if "Booting worker" in line]) == 3
    _check_at_head(url)
