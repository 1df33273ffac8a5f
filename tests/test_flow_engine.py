"""The call flow runs without any transport: states return actions, the engine follows them."""
from __future__ import annotations

from ivr.flow.actions import Hangup, Input, Listen, Record, Say, Step, Turn
from ivr.flow.context import CallContext
from ivr.flow.engine import handle_input, run_state, start_call
from ivr.services import services
from ivr.twiml.renderer import TwimlRenderer, step_url
from ivr.twiml.speaker import SaySpeaker


def context(app, db, **kw) -> CallContext:
    return CallContext(app=app, session=db, call_sid="CA" + "e" * 32, caller="+15551112222", to="+15005550001", **kw)


def test_a_call_runs_with_no_request_and_no_twiml(app, db):
    ctx = context(app, db)
    first = start_call(ctx)
    assert isinstance(first, Turn) and isinstance(first.last, Listen)
    catalogue = services(app).prompts
    assert catalogue.text("choice_ask", key="1") in " ".join(first.says())
    assert first.last.on_silence == Step("no_input", {"menu": "main", "attempt": 0})
    # The caller presses 8: the engine follows the choice to a message recording.
    turn = handle_input(ctx, "main", {"attempt": "0"}, Input(digits="8"))
    assert isinstance(turn.last, Record) and turn.last.purpose == "message"
    assert turn.says() == [catalogue.text("message_intro")]


def test_gotos_are_resolved_and_input_does_not_leak_into_the_next_state(app, db):
    ctx = context(app, db, input=Input(digits="3"))
    turn = run_state(ctx, Step("menu_input", {"menu": "main"}))
    # main -> order (a listen for the order number, keyed or said), not order_number with "3".
    assert isinstance(turn.last, Listen) and turn.last.on_input.state == "order_number"
    assert turn.last.keys and turn.last.speech and turn.last.finish_on_key == "#"


def test_goodbye_ends_with_hangup_and_unknown_state_goes_to_main_menu(app, db):
    ctx = context(app, db)
    assert isinstance(run_state(ctx, Step("goodbye")).last, Hangup)
    turn = run_state(ctx, Step("no-such-state"))
    assert services(app).prompts.text("choice_ask", key="1") in " ".join(turn.says())


def test_twiml_keeps_uninterruptible_words_outside_the_gather():
    listen = Listen(prompts=(Say("Legal notice.", interruptible=False), Say("Press 1.")),
                    on_input=Step("menu_input", {"menu": "main", "attempt": 0}), on_silence=Step("no_input"))
    xml = str(TwimlRenderer(SaySpeaker("alice", "en-US"), "en-US").render(Turn(listen)))
    assert xml.index("Legal notice.") < xml.index("<Gather") < xml.index("Press 1.")
    assert 'action="/voice/input/main?attempt=0"' in xml
    assert step_url(Step("order_lookup", {"attempt": 1})) == "/voice/state/order_lookup?attempt=1"


def test_the_flow_carries_the_recognition_vocabulary_in_its_actions(app, db, monkeypatch):
    """A transport's own recogniser is told what to expect by the action, never by reading the KB."""
    from ivr.flow.menus import MAIN_MENU_WORDS
    from ivr.flow.states import ask
    from ivr.kb.service import search_engine
    from ivr.speech.vocabulary import kb_phrases

    ctx = context(app, db)
    menu = start_call(ctx).last
    assert menu.vocabulary.closed and set(menu.hints) < set(menu.vocabulary.phrases)
    assert set(MAIN_MENU_WORDS) <= set(menu.vocabulary.phrases)
    order = run_state(context(app, db, input=Input(digits="3")), Step("menu_input", {"menu": "main"})).last
    assert order.vocabulary.closed and "seven" in order.vocabulary.phrases
    # With our own recogniser, a question is recorded and carries the knowledge base's words, free-form.
    monkeypatch.setattr(ask, "speech_engine", lambda ctx: object())
    record = run_state(context(app, db), Step("ask")).last
    assert isinstance(record, Record) and record.purpose == "question" and not record.vocabulary.closed
    assert record.vocabulary.phrases == tuple(kb_phrases(search_engine(app, db).articles)) != ()


def test_the_callers_own_number_is_never_a_shared_clip(app, db):
    """"We'll call you back on the number ending in 2 2 2 2": the caller's data, so private."""
    ctx = context(app, db)
    turn = run_state(ctx, Step("menu", {"name": "callback_number"}))
    spoken = [p for p in turn.last.prompts if "2 2 2 2" in p.text]
    assert spoken and all(p.private for p in spoken)
    assert not any(p.private for p in turn.last.prompts if p not in spoken)  # the choices stay shared
