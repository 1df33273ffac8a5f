"""Opening hours with a frozen clock: every answer is computed from an explicit `now`."""
from __future__ import annotations

import json
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
import yaml

from ivr.hours import current_hours
from ivr.hours.schedule import HoursError, load_hours, parse_hours
from ivr.hours.spoken import closed_phrase, hours_answer, open_phrase
from ivr.prompts import PromptCatalogue

from .conftest import ROOT, cli_app, cli_env, invoke_cli

NY = ZoneInfo("America/New_York")
T = PromptCatalogue.load(ROOT / "prompts").text

HOURS = {
    "timezone": "America/New_York",
    "timezone_name": "Eastern time",
    "weekly": {"monday": "09:00-17:00", "tuesday": "09:00-17:00", "wednesday": "09:00-17:00",
               "thursday": "09:00-17:00", "friday": "09:00-17:00", "saturday": "10:00-12:00, 13:00-15:00",
               "sunday": "closed"},
    "holidays": [{"date": "12-25", "name": "Christmas Day"},
                 {"date": "2026-12-24", "name": "Christmas Eve", "hours": "09:00-13:00"}],
    "closures": [{"from": "2026-12-09 14:00", "to": "2026-12-09 17:00", "reason": "team training"}],
}


def at(text: str) -> datetime:
    """A local New York time, as an aware datetime."""
    return datetime.fromisoformat(text).replace(tzinfo=NY)


@pytest.fixture
def hours():
    return parse_hours(HOURS, "hours.yaml")


def test_open_during_weekday_hours(hours):
    now = at("2026-11-23 10:30")  # a Monday
    assert hours.is_open(now)
    assert hours.next_change(now) == (at("2026-11-23 17:00"), "closes")
    assert open_phrase(T, hours, now) == "We're open until 5 p m."
    assert closed_phrase(T, hours, now) == ""


def test_closed_over_the_weekend_says_when_it_opens(hours):
    now = at("2026-11-22 11:00")  # Sunday
    assert not hours.is_open(now)
    assert hours.next_change(now) == (at("2026-11-23 09:00"), "opens")
    assert closed_phrase(T, hours, now) == "We're closed right now. We open again tomorrow at 9 a m."
    saturday_evening = at("2026-11-21 18:00")
    assert closed_phrase(T, hours, saturday_evening) == "We're closed right now. We open again Monday at 9 a m."


def test_lunch_break_is_closed(hours):
    assert hours.is_open(at("2026-11-21 11:59"))
    assert not hours.is_open(at("2026-11-21 12:30"))
    assert hours.next_change(at("2026-11-21 12:30")) == (at("2026-11-21 13:00"), "opens")
    assert closed_phrase(T, hours, at("2026-11-21 12:30")).endswith("We open again today at 1 p m.")


def test_holiday_on_a_weekday_is_closed_all_day(hours):
    christmas = at("2026-12-25 11:00")  # a Friday, every year by MM-DD
    assert not hours.is_open(christmas)
    assert hours.next_change(christmas) == (at("2026-12-26 10:00"), "opens")
    assert closed_phrase(T, hours, christmas) == "We're closed today for Christmas Day. We open again tomorrow at 10 a m."
    assert not hours.is_open(at("2027-12-25 11:00"))  # a Saturday, next year


def test_partial_day_holiday_closes_early(hours):
    assert hours.is_open(at("2026-12-24 12:59"))
    assert hours.next_change(at("2026-12-24 12:59")) == (at("2026-12-24 13:00"), "closes")
    assert not hours.is_open(at("2026-12-24 13:00"))
    # Christmas Day is next, so the next opening skips it.
    assert hours.next_change(at("2026-12-24 13:00")) == (at("2026-12-26 10:00"), "opens")


def test_one_off_closure_cuts_part_of_a_day(hours):
    assert hours.is_open(at("2026-12-09 13:59"))
    assert hours.next_change(at("2026-12-09 13:59")) == (at("2026-12-09 14:00"), "closes")
    assert not hours.is_open(at("2026-12-09 15:00"))
    assert hours.next_change(at("2026-12-09 15:00")) == (at("2026-12-10 09:00"), "opens")


def test_the_minute_hours_change(hours):
    assert not hours.is_open(at("2026-11-23 08:59:59"))
    assert hours.is_open(at("2026-11-23 09:00"))
    assert hours.is_open(at("2026-11-23 16:59:59"))
    assert not hours.is_open(at("2026-11-23 17:00"))
    # The same instant given in UTC answers the same.
    assert hours.is_open(datetime(2026, 11, 23, 14, 0, tzinfo=UTC))
    assert not hours.is_open(datetime(2026, 11, 23, 13, 59, tzinfo=UTC))


def test_daylight_saving_change_keeps_local_opening_time(hours):
    # Clocks go back on Sunday 2026-11-01: Monday still opens at 9 local, which is 14:00 UTC, not 13:00.
    change = hours.next_change(at("2026-10-31 18:00"))
    assert change.kind == "opens" and change.at.astimezone(UTC) == datetime(2026, 11, 2, 14, 0, tzinfo=UTC)


def test_open_over_midnight_is_one_interval():
    hours = parse_hours({"timezone": "Europe/London",
                         "weekly": {"friday": "18:00-24:00", "saturday": "00:00-02:00"}})
    friday = datetime(2026, 11, 27, 23, 0, tzinfo=ZoneInfo("Europe/London"))
    assert hours.is_open(friday)
    change = hours.next_change(friday)
    assert change.kind == "closes" and (change.at.day, change.at.hour) == (28, 2)


def test_naive_time_is_refused(hours):
    with pytest.raises(ValueError, match="aware"):
        hours.is_open(datetime(2026, 11, 23, 10, 0))


@pytest.mark.parametrize("change, message", [
    ({"timezone": "Mars/Olympus"}, "timezone 'Mars/Olympus' is not an IANA timezone"),
    ({"weekly": {"monday": "9 to 5"}}, "weekly.monday: '9 to 5' is not a time range"),
    ({"weekly": {"monday": "17:00-09:00"}}, "ends before it starts"),
    ({"weekly": {"funday": "09:00-17:00"}}, "unknown day(s) funday"),
    ({"holidays": [{"date": "2026-02-30", "name": "Nope"}]}, "holidays #1: date '2026-02-30'"),
    ({"holidays": [{"date": "12-25"}]}, "holidays #1: needs a name"),
    ({"closures": [{"from": "2026-12-09 14:00", "to": "2026-12-09 13:00"}]}, "closures #1: 'to' must be after"),
    ({"opening": {}}, "unknown key(s) opening"),
])
def test_bad_hours_files_get_clear_errors(change, message):
    with pytest.raises(HoursError) as err:
        parse_hours({**HOURS, **change}, "kb_data/hours.yaml")
    assert any(p.startswith("kb_data/hours.yaml: ") and message in p for p in err.value.problems), err.value.problems


def test_shipped_sample_is_valid_and_reads_well():
    hours = load_hours(ROOT / "kb_data" / "hours.yaml")
    assert hours.is_open(at("2026-11-23 10:00")) and not hours.is_open(at("2026-11-26 10:00"))  # Thanksgiving
    answer = hours_answer(T, hours, at("2026-11-23 10:00").date())
    assert answer.startswith("Our team is available Monday to Friday, 9 a m to 5 p m, and Saturday, "
                             "10 a m to 2 p m, Eastern time.")
    assert "Christmas Day" in answer and "shorter hours on Christmas Eve and the day after Thanksgiving" in answer


def test_flow_reads_the_file_again_only_when_it_changes(app, tmp_path):
    path = tmp_path / "hours.yaml"
    app.config["IVR_SETTINGS"] = _with_hours_path(app, path)
    assert current_hours(app) is None  # no file: no hours
    path.write_text(yaml.safe_dump(HOURS))
    first = current_hours(app)
    assert first is not None and current_hours(app) is first
    path.write_text("weekly: [broken")  # an editor's mistake while the service runs
    assert current_hours(app) is first  # the last good hours stay


def _with_hours_path(app, path: Path):
    from dataclasses import replace

    return replace(app.config["IVR_SETTINGS"], hours_file=path)


def _cli(tmp_path, *args, **env):
    return subprocess.run([sys.executable, "-m", "ivr", *args], cwd=ROOT, capture_output=True, text=True,
                          env=cli_env(tmp_path / "instance", **env), timeout=120)


@pytest.mark.slow  # runs python -m ivr in a subprocess
def test_hours_command_says_open_now_and_next_change(tmp_path):
    path = tmp_path / "hours.yaml"
    path.write_text(yaml.safe_dump(HOURS))
    done = _cli(tmp_path, "hours", "--json", "--at", "2026-12-24 12:00", IVR_HOURS_PATH=path)
    assert done.returncode == 0, done.stderr
    data = json.loads(done.stdout)
    assert data["open"] is True and data["next_change_kind"] == "closes"
    assert data["next_change"] == "2026-12-24T13:00:00-05:00" and data["holiday"] == "Christmas Eve"
    text = _cli(tmp_path, "hours", "--at", "2026-12-25T16:00:00+00:00", IVR_HOURS_PATH=path)
    assert text.returncode == 0 and text.stdout.startswith("closed now (Christmas Day)")
    assert "opens Saturday 2026-12-26 10:00" in text.stdout


@pytest.mark.slow
def test_kb_load_validates_hours_and_writes_the_hours_answer(tmp_path):
    path = tmp_path / "hours.yaml"
    app = cli_app(tmp_path / "instance", IVR_HOURS_PATH=path)
    missing = invoke_cli(app, "kb", "load")
    assert missing.returncode == 1 and f"{path}: file not found (IVR_HOURS_PATH)" in missing.stderr
    path.write_text(yaml.safe_dump({**HOURS, "weekly": {**HOURS["weekly"], "monday": "nine to five"}}))
    bad = invoke_cli(app, "kb", "load")
    assert bad.returncode == 1
    assert bad.stderr.startswith("error: knowledge base not loaded (nothing changed)")
    assert f"{path}: weekly.monday: 'nine to five' is not a time range" in bad.stderr
    path.write_text(yaml.safe_dump({**HOURS, "kb_article": "opening-hours"}))
    good = invoke_cli(app, "kb", "load")
    assert good.returncode == 0, good.stderr
    from sqlalchemy import create_engine, text

    engine = create_engine(f"sqlite:///{tmp_path / 'instance' / 'ivr.db'}")
    with engine.connect() as conn:
        answer = conn.execute(text("select answer from kb_articles where id = 'opening-hours'")).scalar_one()
    assert answer.startswith("Our team is available Monday to Friday, 9 a m to 5 p m, and Saturday, "
                             "10 a m to noon and 1 p m to 3 p m, Eastern time.")


def test_a_desk_that_never_opens_says_so_without_a_reopening_time():
    hours = parse_hours({"timezone": "UTC", "weekly": {}})
    now = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)
    assert not hours.is_open(now) and hours.next_change(now) is None and hours.never_opens
    assert closed_phrase(T, hours, now) == "We're closed right now."
