"""Issue 12 through the call flow, end to end with a frozen clock: business hours, a person,
callbacks, returning callers, ratings and the keys every menu shares."""
from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select

from ivr.calls.models import Call
from ivr.kb.models import Article
from ivr.services import services
from ivr.tickets.models import Ticket

from .conftest import PASSWORD, ROOT

NY = ZoneInfo("America/New_York")
DESK = ["+15550100001", "sip:desk@pbx.example.com"]
HOURS = """
timezone: America/New_York
weekly:
  monday: 09:00-17:00
  tuesday: 09:00-17:00
  wednesday: 09:00-17:00
  thursday: 09:00-17:00
  friday: 09:00-17:00
  saturday: 10:00-14:00
  sunday: closed
holidays:
  - {date: 12-25, name: Christmas Day}
  - {date: 12-24, name: Christmas Eve, hours: 09:00-13:00}
"""


def at(*args) -> datetime:
    """A New York wall-clock time as the aware UTC instant the app's clock returns."""
    return datetime(*args, tzinfo=NY).astimezone(UTC)


@pytest.fixture
def desk_app(settings_overrides, tmp_path):
    """The app with opening hours, two transfer destinations and ratings on; the clock is frozen."""
    from ivr.db import session_scope
    from ivr.kb.loader import load_knowledge_base

    from .conftest import make_test_app

    hours = tmp_path / "hours.yaml"
    hours.write_text(HOURS)
    app = make_test_app({**settings_overrides, "hours_file": hours, "transfer_to": tuple(DESK),
                      "ratings_enabled": True})
    with app.app_context(), session_scope(services(app).sessionmaker) as session:
        load_knowledge_base(session, ROOT / "kb_data")
    services(app).clock = lambda: at(2026, 11, 23, 10, 0)  # a Monday morning: open
    return app


@pytest.fixture
def dial(desk_app):
    from ivr.simulate.driver import CallDriver, FlaskTransport

    from .conftest import ACCOUNT_SID, AUTH_TOKEN

    def _call(outcome: str = "no-answer", **kwargs) -> CallDriver:
        return CallDriver(FlaskTransport(desk_app.test_client()), "http://localhost", AUTH_TOKEN,
                          account_sid=ACCOUNT_SID, dial_outcome=lambda destinations: outcome, **kwargs)

    return _call


def heard(step) -> str:
    return " ".join(step.heard)


def words(app, prompt_id: str, **values) -> str:
    return services(app).prompts.text(prompt_id, **values)


def freeze(app, moment: datetime) -> None:
    services(app).clock = lambda: moment


def tickets(app) -> list[Ticket]:
    session = services(app).sessionmaker()
    try:
        return list(session.scalars(select(Ticket).order_by(Ticket.id)))
    finally:
        session.close()


# --------------------------------------------------------------------------- hours

@pytest.mark.parametrize("moment,open_,said", [
    (at(2026, 11, 23, 10, 0), True, ""),  # Monday morning
    (at(2026, 11, 23, 20, 0), False, "We're closed right now. We open again tomorrow at 9 a m."),
    (at(2026, 11, 22, 11, 0), False, "We're closed right now. We open again tomorrow at 9 a m."),  # Sunday
    (at(2026, 12, 25, 10, 0), False, "We're closed today for Christmas Day."),  # holiday
    (at(2026, 12, 24, 12, 30), True, ""),  # partial day, still open
    (at(2026, 12, 24, 13, 30), False, "We're closed today for Christmas Eve. We open again"),  # partial day, closed early
    (at(2026, 11, 23, 16, 59), True, ""),  # the minute before closing...
    (at(2026, 11, 23, 17, 0), False, "We're closed right now. We open again tomorrow at 9 a m."),  # ...and at it
])
def test_greeting_and_person_key_follow_the_hours(desk_app, dial, moment, open_, said):
    freeze(desk_app, moment)
    driver = dial()
    step = driver.start()
    person_line = words(desk_app, "choice_person", key="0")
    assert (person_line in heard(step)) is open_
    if said:
        assert said in heard(step)
    else:
        assert "closed" not in heard(step)
    step = driver.press("0")
    if open_:
        assert words(desk_app, "transfer_hold") in heard(step) and step.dialled[0] == [DESK[0]]
    else:
        assert not step.dialled and not driver.dials
        assert words(desk_app, "operator_unavailable") in heard(step)
        assert words(desk_app, "choice_callback", key="4") in heard(step)  # a callback instead
        assert words(desk_app, "choice_message", key="8") in heard(step)


def test_transfer_answered_rings_configured_number_with_callers_id(desk_app, dial):
    driver = dial("completed", caller="+15557654321")
    driver.start()
    step = driver.say("I want to talk to a real person")
    assert step.ended == "hangup"
    (only,) = driver.dials
    assert only["destinations"] == [DESK[0]] and only["status"] == "completed"
    assert only["attrs"]["answerOnBridge"] == "true" and only["attrs"]["callerId"] == "+15557654321"
    assert only["attrs"]["timeout"] == "20"
    assert tickets(desk_app) == []


@pytest.mark.parametrize("outcome", ["no-answer", "busy", "failed"])
def test_transfer_not_answered_tries_each_destination_then_takes_a_missed_transfer_message(desk_app, dial, outcome):
    driver = dial(outcome)
    driver.start()
    step = driver.press("0")
    assert [d["destinations"] for d in driver.dials] == [[DESK[0]], [DESK[1]]]  # in order
    assert words(desk_app, "transfer_next") in heard(step)
    assert words(desk_app, "transfer_missed") in heard(step) and step.waiting == "record"
    driver.record(seconds=11)
    (ticket,) = tickets(desk_app)
    assert ticket.missed_transfer is True and ticket.kind == "voicemail" and ticket.recording_duration == 11


def test_missed_transfer_is_marked_whichever_callback_makes_the_ticket(desk_app, dial):
    driver = dial("busy")
    driver.start()
    step = driver.press("0")
    status_url = step.gather["recordingStatusCallback"]
    assert "missed_transfer=1" in status_url
    # Twilio's recording status callback may come before the Record's action (or alone).
    rec = {"RecordingSid": "RE" + "7" * 32, "RecordingUrl": "https://api.twilio.com/x", "RecordingDuration": "5"}
    status, _ = driver.signed_post("http://localhost" + status_url,
                                   {**driver._base_params(), **rec, "RecordingStatus": "completed"})
    assert status == 204
    (ticket,) = tickets(desk_app)
    assert ticket.missed_transfer is True


def test_transfer_rung_together(desk_app, dial):
    desk_app.config["IVR_SETTINGS"] = desk_app.config["IVR_SETTINGS"].__class__(
        **{**desk_app.config["IVR_SETTINGS"].__dict__, "transfer_ring": "simultaneous"})
    driver = dial("no-answer")
    driver.start()
    driver.press("0")
    assert [d["destinations"] for d in driver.dials] == [DESK]  # one Dial, both destinations


def test_nothing_a_caller_says_or_types_is_ever_dialled(desk_app, dial):
    """Toll fraud: only configured destinations, whatever arrives in the form or the URL."""
    from ivr.flow.engine import STATES

    evil = "+19005550100"
    driver = dial("no-answer")
    driver.start()
    driver.say("call +1 900 555 0100 for me")
    driver.press("0")
    documents = list(driver.documents)
    # Twilio-signed requests to every state with a caller's digits, speech and hostile parameters.
    form = {"Digits": "19005550100", "SpeechResult": "dial 1 900 555 0100", "DialCallStatus": "no-answer",
            "To": evil, "Called": evil}
    query = "?to=%2B19005550100&number=%2B19005550100&destination=sip:evil@attacker.example&i=-1&missed=1"
    for name in sorted(STATES):
        for extra in ("", "&i=1", "&i=7", "&i=abc"):
            status, body = driver.signed_post(f"http://localhost/voice/state/{name}{query}{extra}",
                                              {**driver._base_params(), **form})
            assert status in (200, 204), (name, body[:200])
            documents.append(body)
    import xml.etree.ElementTree as ET

    dialled = set()
    for doc in documents:
        if doc:
            for dial_el in ET.fromstring(doc).iter("Dial"):
                dialled |= {(n.text or "").strip() for n in dial_el} | {(dial_el.text or "").strip()} - {""}
    assert dialled and dialled <= set(DESK), dialled


def test_configured_destinations_are_checked_at_start():
    from ivr.config import ConfigError, load_settings

    from .conftest import ACCOUNT_SID, AUTH_TOKEN

    env = {"TWILIO_ACCOUNT_SID": ACCOUNT_SID, "TWILIO_AUTH_TOKEN": AUTH_TOKEN, "SECRET_KEY": "s" * 32}
    with pytest.raises(ConfigError, match="IVR_TRANSFER_TO"):
        load_settings({**env, "IVR_TRANSFER_TO": "+15550100001,1-900-CALL-NOW"})
    assert load_settings({**env, "IVR_TRANSFER_TO": " +15550100001 , sip:desk@pbx.example.com "}).transfer_to == tuple(DESK)


# --------------------------------------------------------------------------- callbacks

def agent_client(app):
    """A dashboard client logged in as a new agent."""
    from ivr.db import session_scope
    from ivr.users.service import create_user

    from .test_dashboard import login

    with session_scope(services(app).sessionmaker) as s:
        create_user(s, "agent@example.com", "agent", PASSWORD)
    client = app.test_client()
    login(client)
    return client


def test_callback_on_the_callers_own_number(desk_app, dial):
    driver = dial(caller="+15557654321")
    driver.start()
    step = driver.press("4")
    assert words(desk_app, "callback_own_number", last4="4 3 2 1") in heard(step)
    step = driver.press("1")
    (ticket,) = tickets(desk_app)
    assert (ticket.kind, ticket.callback_number, ticket.caller, ticket.recording_sid) == (
        "callback", "+15557654321", "+15557654321", None)
    assert "Your reference is" in heard(step) and step.ended == "hangup"
    # The number grouped, when to expect the call (open until 5 p m today), the reference twice.
    reference = " ".join(ticket.reference[:2]) + " " + ticket.reference[2:]
    assert f"We'll call you on 5 5 5, 7 6 5, 4 3 2 1 today, before 5 p m. Your reference is {reference}. " \
           f"Again, {reference}." in heard(step)


def test_a_callback_asked_for_when_closed_says_when_we_open(desk_app, dial):
    freeze(desk_app, at(2026, 11, 28, 18, 0))  # Saturday evening: Monday at 9 a m
    driver = dial(caller="+15557654321")
    driver.start()
    driver.press("4")
    step = driver.press("1")
    assert "after we open Monday at 9 a m" in heard(step)


def test_callback_on_a_typed_number_read_back_and_confirmed(desk_app, dial):
    driver = dial(caller="+15557654321")
    driver.start()
    driver.press("4")
    step = driver.press("2")
    assert words(desk_app, "callback_enter") in heard(step)
    step = driver.press("123#")
    assert words(desk_app, "callback_bad_number") in heard(step)
    step = driver.press("5551239876#")
    # Grouped the way people say a number (its national format), not ten digits in a row.
    assert words(desk_app, "callback_read_back", number="5 5 5, 1 2 3, 9 8 7 6") in heard(step)
    step = driver.press("2")  # wrong: enter it again
    step = driver.press("5551239877#")
    step = driver.press("1")
    (ticket,) = tickets(desk_app)
    assert (ticket.kind, ticket.callback_number) == ("callback", "+15551239877")
    # Staff see it in the dashboard with one click to ring the number the caller confirmed.
    client = agent_client(desk_app)
    assert 'id="call-now" href="tel:+15551239877"' in client.get(f"/tickets/{ticket.id}").get_data(as_text=True)
    # Twilio repeats the confirmation: still one ticket.
    driver.signed_post("http://localhost/voice/state/callback_confirmed?number=%2B15551239877",
                       {**driver._base_params(), "Digits": "1"})
    assert len(tickets(desk_app)) == 1


def test_withheld_number_goes_straight_to_typing(desk_app, dial):
    driver = dial(caller="anonymous")
    driver.start()
    step = driver.say("please call me back")
    assert words(desk_app, "callback_enter") in heard(step)


# --------------------------------------------------------------------------- returning callers

@pytest.mark.parametrize("now,said", [
    (at(2026, 11, 23, 16, 0), "You have an open request you made today."),
    (at(2026, 11, 24, 9, 30), "You have an open request you made yesterday."),
    (at(2026, 11, 27, 11, 0), "You have an open request you made on Monday."),
    (at(2026, 12, 2, 11, 0), "You have an open request you made on Monday, November 23rd."),
])
def test_an_open_request_is_dated_as_people_say_it(desk_app, dial, now, said):
    first = dial(caller="+15557654321")
    first.start()
    first.press("8")
    first.record(seconds=9)
    (ticket,) = tickets(desk_app)
    session = services(desk_app).sessionmaker()
    session.get(Ticket, ticket.id).created_at = datetime(2026, 11, 23, 15, 0)  # Monday 10 a m in New York
    session.commit()
    session.close()
    freeze(desk_app, now)
    assert said in heard(dial(caller="+15557654321").start())


def test_returning_caller_hears_the_open_request_and_its_status(desk_app, dial):
    first = dial(caller="+15557654321")
    first.start()
    first.press("8")
    first.record(seconds=9)
    (ticket,) = tickets(desk_app)
    second = dial(caller="+15557654321")
    step = second.start()
    created = ticket.created_at
    assert "You have an open request you made on" in heard(step)  # not within the past week: the date
    assert words(desk_app, "choice_request_status", key="1") in heard(step)
    assert f"{created:%B}" in heard(step)
    step = second.press("1")
    assert "waiting for our team" in heard(step) and words(desk_app, "choice_ask", key="1") in heard(step)
    # Someone else calling hears nothing about it; a resolved request is not mentioned either.
    assert "open request" not in heard(dial(caller="+15550000000").start())
    session = services(desk_app).sessionmaker()
    session.get(Ticket, ticket.id).status = "resolved"
    session.commit()
    session.close()
    assert "open request" not in heard(dial(caller="+15557654321").start())


def test_a_note_staff_mark_for_the_caller_is_read_to_them_and_no_other(desk_app, dial):
    from .test_dashboard import csrf_of

    first = dial(caller="+15557654321")
    first.start()
    first.press("8")
    first.record(seconds=9)
    (ticket,) = tickets(desk_app)
    client = agent_client(desk_app)
    page = client.get(f"/tickets/{ticket.id}").get_data(as_text=True)
    for body, mark in (("Replacement jug ships Friday.", "1"), ("Internal: supplier owes us a credit.", None)):
        client.post(f"/tickets/{ticket.id}/note", data={"csrf_token": csrf_of(page), "body": body,
                                                         **({"for_caller": mark} if mark else {})})
    assert "read to the caller" in client.get(f"/tickets/{ticket.id}").get_data(as_text=True)
    second = dial(caller="+15557654321")
    second.start()
    step = second.press("1")
    assert "Replacement jug ships Friday." in heard(step)
    assert "supplier" not in heard(step)  # internal notes stay internal


def test_returning_caller_silence_goes_on_to_the_main_menu(desk_app, dial):
    first = dial(caller="+15557654321")
    first.start()
    first.press("4")
    first.press("1")  # a callback request is an open ticket too
    second = dial(caller="+15557654321")
    second.start()
    step = second.silence()
    assert words(desk_app, "choice_ask", key="1") in heard(step)
    assert words(desk_app, "no_input") not in heard(step)


def test_status_of_someone_elses_request_is_never_read(desk_app, dial):
    owner = dial(caller="+15557654321")
    owner.start()
    owner.press("8")
    owner.record(seconds=4)
    (ticket,) = tickets(desk_app)
    other = dial(caller="+15550000000")
    other.start()
    status, body = other.signed_post(f"http://localhost/voice/state/request_status?ticket={ticket.id}",
                                     other._base_params())
    assert status == 200 and "waiting for our team" not in body and ticket.reference not in body


# --------------------------------------------------------------------------- ratings

def _answered(desk_app, driver):
    session = services(desk_app).sessionmaker()
    article = session.get(Article, "refund-timing")
    question, answer = article.questions[0], article.answer
    session.close()
    driver.start()
    step = driver.say(question)  # said at the main menu: answered
    assert answer in heard(step)
    driver.press("1")  # it helped


def test_rating_after_an_answered_question_is_stored(desk_app, dial):
    driver = dial()
    _answered(desk_app, driver)
    step = driver.silence()  # nothing else: before goodbye, the rating
    assert words(desk_app, "rate_call") in heard(step) and step.gather["input"] == "dtmf"
    end = driver.press("4")
    assert words(desk_app, "rating_thanks") in heard(end) and end.ended == "hangup"
    assert " ".join(driver.heard).lower().count("goodbye") == 1
    session = services(desk_app).sessionmaker()
    assert session.get(Call, driver.call_sid).rating == 4
    session.close()


def test_rating_is_skippable_and_only_offered_when_something_was_answered(desk_app, dial):
    driver = dial()
    _answered(desk_app, driver)
    driver.silence()
    end = driver.silence()
    assert end.ended == "hangup"
    session = services(desk_app).sessionmaker()
    assert session.get(Call, driver.call_sid).rating is None
    session.close()
    unanswered = dial()
    unanswered.start()
    for _ in range(3):
        unanswered.silence()
    end = unanswered.silence()
    assert words(desk_app, "rate_call") not in " ".join(unanswered.heard) and end.ended == "hangup"


# --------------------------------------------------------------------------- the keys every menu shares

ROUTES_TO_MENUS = {
    "main": [],
    "topics": ["2"],
    "articles": ["2", "1"],
    "after_article": ["2", "1", "1"],
    "feedback": ["1", "how many days until my money is back on my card after a return"],
    "not_found": ["1", "what is the airspeed velocity of an unladen swallow"],
    "after_order": ["3", "99999999#", "12#"],
    "after_hours": ["0"],
    "callback_number": ["4"],
    "callback_confirm": ["4", "2", "5551239876#"],
}


@pytest.mark.parametrize("menu_name", sorted(ROUTES_TO_MENUS))
def test_the_same_key_leaves_a_message_in_every_menu(desk_app, dial, menu_name):
    if menu_name == "after_hours":
        freeze(desk_app, at(2026, 11, 23, 20, 0))
    driver = dial(caller="+15557654321")
    driver.start()
    for turn in ROUTES_TO_MENUS[menu_name]:
        step = driver.press(turn) if turn[0].isdigit() else driver.say(turn)
        assert step.waiting == "gather", (turn, heard(step))
    step = driver.press("8")
    assert words(desk_app, "message_intro") in heard(step) and step.waiting == "record"


def test_every_menu_declares_its_keys_once_and_says_exactly_those(desk_app):
    """Each menu's spoken words name exactly its keys; a key means one thing across all menus (the key map)."""
    from ivr.flow.context import CallContext
    from ivr.flow.menus import KEYS, LIST_KEYS, MAX_READ, all_choices, announced_keys, menu_says, read_choices
    from ivr.flow.states import MENUS

    session = services(desk_app).sessionmaker()
    ctx = CallContext(app=desk_app, session=session, call_sid="CA" + "f" * 32, caller="+15557654321")
    params = {"articles": {"topic": "returns"}, "after_article": {"id": "refund-timing"},
              "callback_confirm": {"number": "+15551239876"}}
    meanings: dict[str, set[str]] = {}
    with desk_app.app_context():
        for name, builder in MENUS.items():
            built = builder(ctx, **params.get(name, {}))
            choices = all_choices(name, built, params.get(name, {}))
            keys = {c.key for c in choices}
            said = " ".join(menu_says(ctx, name, built))
            assert announced_keys(said) <= keys | {"*"}, name
            assert {c.key for c in read_choices(name, built)} <= announced_keys(said), name
            assert len(read_choices(name, built)) <= MAX_READ, name
            by_key = {c.key: c.target for c in choices}
            assert by_key["8"] in {"message", "message_after_answer"}, name
            assert by_key["0"] == "operator", name
            for c in choices:
                if c.key:
                    meanings.setdefault(c.key, set()).add(c.meaning or "the menu's own list")
            # A menu's own choices are keyed 1, 2, 3... in the order they are read.
            own = [c.key for c in built.choices if c.key and not c.meaning]
            assert own == sorted(own) and set(own) <= set(LIST_KEYS), name
    session.close()
    conflicts = {key: m for key, m in meanings.items() if len(m) > 1}
    assert not conflicts, f"keys meaning two things across menus: {conflicts}"
    for meaning, key in KEYS.items():
        assert meanings.get(key, {meaning}) == {meaning}
    assert meanings["7"] == {"text_me"} and meanings["6"] == {"ask_another"}


def test_a_menu_that_breaks_the_key_map_is_refused():
    from ivr.flow.menus import KEYS, TEXT_ME, Choice, Menu, all_choices, key_map_errors, shared

    bad = Menu(choices=[Choice(KEYS[TEXT_ME], "ask")])  # 7 is "text me" everywhere
    with pytest.raises(ValueError, match="means text_me"):
        all_choices("bad", bad, {})
    assert key_map_errors("ok", [shared(TEXT_ME, "text_me"), Choice("1", "ask")]) == []
    assert key_map_errors("twice", [Choice("1", "ask"), Choice("1", "order")])
    assert key_map_errors("stray", [Choice("#", "ask")])


def test_open_hours_without_a_transfer_destination_never_offer_a_person(desk_app, dial):
    """Opening hours but no IVR_TRANSFER_TO: 0 is never read; asked for anyway, the flow offers what it can do."""
    from dataclasses import replace

    desk_app.config["IVR_SETTINGS"] = replace(desk_app.config["IVR_SETTINGS"], transfer_to=())
    freeze(desk_app, at(2026, 11, 23, 10, 0))  # open
    driver = dial()
    step = driver.start()
    assert words(desk_app, "choice_person", key="0") not in heard(step)
    assert words(desk_app, "choice_message", key="8") in heard(step)  # what it can do instead
    step = driver.say("can I speak to a person")
    assert not driver.dials and words(desk_app, "operator_unavailable") in heard(step)
    assert words(desk_app, "choice_callback", key="4") in heard(step)
    assert words(desk_app, "choice_message", key="8") in heard(step)
    assert "0 for a person" not in " ".join(driver.heard)
