"""End-to-end calls through the real app and a real SQLite database, driven like Twilio would."""
from __future__ import annotations

import pytest
from sqlalchemy import func, select

from ivr.calls.models import Call, CallEvent
from ivr.flow.menus import announced_keys
from ivr.flow.states.main import spoken_title
from ivr.kb.models import Article, Topic
from ivr.services import services
from ivr.tickets.models import Ticket

from .conftest import ask, question_asked


def heard(step) -> str:
    return " ".join(step.heard)


def catalogue(app):
    return services(app).prompts


def line(app, prompt_id: str, key: str, **values) -> str:
    """A menu's line offering one choice, as the flow fills it with the declared key."""
    return catalogue(app).text(prompt_id, key=key, **values)


def main_menu(app) -> str:
    return line(app, "choice_ask", "1")


def shared_keys(app) -> str:
    return "Star is the main menu."


def test_greeting_and_main_menu(app, call):
    step = call().start()
    assert "Thanks for calling Northwind Goods" in heard(step)
    # Nobody to put a call through to: the message key is read, never the person key.
    for prompt_id, key in (("choice_ask", "1"), ("choice_topics", "2"), ("choice_order", "3"),
                           ("choice_callback", "4"), ("choice_message", "8")):
        assert line(app, prompt_id, key) in heard(step)
    assert line(app, "choice_person", "0") not in heard(step)
    assert shared_keys(app) in heard(step)  # the shared keys, once, early
    assert step.waiting == "gather"
    assert set(step.gather["input"].split()) == {"dtmf", "speech"}


@pytest.mark.parametrize("key,expect_prompt,waiting", [
    ("1", "ask_question", "gather"),
    ("2", "topic_choice", "gather"),  # the topics, read at once
    ("3", "order_ask", "gather"),
    ("4", "callback_own_number", "gather"),
    ("8", "message_intro", "record"),
    ("0", "operator_unavailable", "gather"),  # nobody to transfer to: message or callback offered
    ("9", "choice_ask", "gather"),
])
def test_every_main_menu_key(app, call, key, expect_prompt, waiting):
    driver = call()
    driver.start()
    step = driver.press(key)
    assert catalogue(app).text(expect_prompt, key="1", last4="0 0 0 6", name="orders and shipping") in heard(step)
    assert step.waiting == waiting


@pytest.mark.parametrize("said,expect_prompt", [
    ("I'd like to leave a message", "message_intro"),
    ("check on my order please", "order_ask"),
    ("can I talk to a person", "operator_unavailable"),
    ("please call me back", "callback_own_number"),
    ("browse topics", "topic_choice"),
    ("two", "topic_choice"),
])
def test_main_menu_by_voice(app, call, said, expect_prompt):
    driver = call()
    driver.start()
    assert catalogue(app).text(expect_prompt, key="1", last4="0 0 0 6", name="orders and shipping") in heard(driver.say(said))


def test_silence_reprompts_twice_then_asks_about_a_message(app, call):
    driver = call()
    driver.start()
    first = driver.silence()
    assert catalogue(app).text("no_input") in heard(first) and first.waiting == "gather"
    second = driver.silence()
    assert catalogue(app).text("no_input") in heard(second) and second.waiting == "gather"
    third = driver.silence()
    assert catalogue(app).text("giving_up_offer_message") in heard(third)
    assert catalogue(app).text("offer_message") in heard(third)
    assert third.waiting == "gather"  # asked, not dropped into a recording
    recording = driver.press("8")  # the message key, as in every menu
    assert recording.waiting == "record"
    # Even silence during the offered message never leaves dead air: back to the menu.
    after = driver.silence()
    assert catalogue(app).text("no_message") in heard(after)
    assert after.waiting == "gather"


def test_invalid_key_says_so_and_reprompts(app, call):
    driver = call()
    driver.start()
    step = driver.press("7")
    assert catalogue(app).text("invalid_choice") in heard(step)
    assert main_menu(app) in heard(step)
    assert step.waiting == "gather"


def test_silence_after_asking_about_a_message_says_goodbye_once(app, call):
    driver = call()
    driver.start()
    for _ in range(3):
        step = driver.silence()
    assert catalogue(app).text("offer_message") in heard(step)
    end = driver.silence()
    assert end.ended == "hangup"
    assert " ".join(driver.heard).lower().count("goodbye") == 1


def test_unmatched_speech_is_tried_as_a_question_then_says_what_we_help_with(app, call, db):
    driver = call()
    driver.start()
    step = driver.say("purple elephants dancing")
    assert "I can help with orders and shipping, returns and refunds" in heard(step)
    assert main_menu(app) in heard(step) and step.waiting == "gather"
    assert question_asked(db, driver).outcome == "declined"


def test_a_question_said_at_the_main_menu_is_answered(app, call, db):
    refund = db.get(Article, "refund-timing")
    driver = call()
    driver.start()
    step = driver.say("when will I get my refund")
    assert refund.answer in heard(step)
    assert catalogue(app).text("did_that_help") in heard(step)
    asked = question_asked(db, driver)
    assert (asked.article_id, asked.outcome) == (refund.id, "answered")


def test_repeated_invalid_answers_ask_about_a_message(app, call):
    driver = call()
    driver.start()
    driver.press("7")
    driver.press("7")
    step = driver.press("7")
    assert catalogue(app).text("offer_message") in heard(step) and step.waiting == "gather"


def test_star_returns_to_main_menu_from_any_menu(app, call):
    driver = call()
    driver.start()
    topics = driver.press("2")
    assert shared_keys(app) not in heard(topics)  # explained once, at the start
    articles = driver.press("1")
    assert shared_keys(app) not in heard(articles)
    back = driver.press("*")
    assert main_menu(app) in heard(back)


def test_browse_topic_and_hear_article(app, call, db):
    first_topic = db.scalars(select(Topic).order_by(Topic.position)).first()
    first_article = db.scalars(select(Article).where(Article.topic_id == first_topic.id)
                               .order_by(Article.position, Article.title)).first()
    driver = call()
    driver.start()
    topics = driver.press("2")
    assert line(app, "topic_choice", "1", name=first_topic.name.lower()) in heard(topics)
    articles = driver.press("1")
    assert line(app, "article_choice", "1", title=spoken_title(first_article)) in heard(articles)
    answer = driver.press("1")
    assert first_article.answer in heard(answer)
    again = driver.press("9")  # the repeat key
    assert first_article.answer in heard(again)
    events = db.scalars(select(CallEvent).where(CallEvent.call_sid == driver.call_sid,
                                                CallEvent.kind == "article")).all()
    assert [e.detail["article_id"] for e in events] == [first_article.id, first_article.id]


def test_long_topic_is_paged(app, call, db):
    topic = db.scalars(select(Topic).order_by(Topic.position)).first()
    for n in range(12):
        db.add(Article(id=f"extra-{n}", title=f"Extra article number {n}", topic_id=topic.id,
                       position=100 + n, answer=f"Extra answer {n}.", questions=[f"extra {n}"], keywords=[]))
    db.commit()
    total = db.scalar(select(func.count()).select_from(Article).where(Article.topic_id == topic.id))
    driver = call()
    driver.start()
    driver.press("2")
    page1 = driver.press("1")
    more = line(app, "choice_more_articles", "4")
    assert more in heard(page1)
    assert len(announced_keys(heard(page1))) <= 5  # three articles and more: at most five choices read
    seen = heard(page1)
    page = page1
    pages = 1
    while more in heard(page):
        page = driver.press("4")
        seen += heard(page)
        pages += 1
    assert pages == -(-total // 3)
    all_articles = db.scalars(select(Article).where(Article.topic_id == topic.id)).all()
    assert all(f"for {spoken_title(a)}" in seen for a in all_articles)
    back = driver.say("back")  # said, not keyed: the list keys are the articles'
    assert line(app, "topic_choice", "1", name="orders and shipping") in heard(back)


def _sample(db, article_id=None):
    query = select(Article).order_by(Article.id)
    if article_id:
        query = query.where(Article.id == article_id)
    article = db.scalars(query).first()
    return article, article.questions[0]


def test_question_answered_and_caller_says_it_helped(app, call, db):
    article, question = _sample(db)
    driver = call()
    step = ask(driver, question)
    assert article.answer in heard(step), heard(step)
    assert catalogue(app).text("did_that_help") in heard(step)
    thanks = driver.press("1")
    assert catalogue(app).text("glad_to_help") in heard(thanks)
    end = driver.silence()
    assert end.ended == "hangup"
    asked = question_asked(db, driver)
    assert (asked.text, asked.article_id, asked.outcome, asked.helped) == (question, article.id, "answered", True)


def test_question_next_best_answer_then_ask_again(app, call, db):
    article, question = _sample(db)
    driver = call()
    ask(driver, question)
    asked = question_asked(db, driver)
    assert len(asked.candidates) >= 2, asked.candidates
    step = driver.press("2")
    second = db.get(Article, asked.candidates[1]["article_id"])
    assert catalogue(app).text("next_answer_intro", title=spoken_title(second)) in heard(step)
    assert second.answer in heard(step)
    db.expire_all()
    assert question_asked(db, driver).helped is False
    # "Another answer" again and again: when the candidates run out the caller is told so.
    for _ in range(len(asked.candidates) - 2):
        step = driver.press("2")
    step = driver.press("2")
    assert catalogue(app).text("no_more_answers") in heard(step)
    again = driver.press("*")
    assert main_menu(app) in heard(again)


def test_question_not_found_offers_rephrase_or_message(app, call, db):
    driver = call()
    step = ask(driver, "what is the airspeed velocity of an unladen swallow")
    assert catalogue(app).text("off_topic", topics="orders and shipping, returns and refunds, and your account") in heard(step)
    assert line(app, "choice_ask_again", "6") in heard(step)
    rephrase = driver.press("6")  # the ask-another-question key
    assert catalogue(app).text("ask_again") in heard(rephrase)
    asked = question_asked(db, driver)
    assert asked.outcome == "declined" and asked.article_id is None


def test_question_silence_is_asked_again_never_dead_air(app, call):
    driver = call()
    driver.start()
    driver.press("1")
    step = driver.silence()
    assert catalogue(app).text("didnt_catch") in heard(step)
    assert catalogue(app).text("ask_again") in heard(step)
    driver.silence()
    last = driver.silence()
    assert catalogue(app).text("offer_message") in heard(last) and last.waiting == "gather"


def test_voicemail_becomes_one_ticket_even_when_twilio_repeats(app, call, db):
    driver = call(caller="+15551234567")
    driver.start()
    driver.press("8")
    step = driver.record(seconds=17)
    tickets = db.scalars(select(Ticket)).all()
    assert len(tickets) == 1
    ticket = tickets[0]
    assert (ticket.caller, ticket.call_sid, ticket.recording_duration, ticket.status) == (
        "+15551234567", driver.call_sid, 17, "new")
    assert ticket.recording_sid == driver.recordings[0]["RecordingSid"]
    assert ticket.reference and ticket.reference[:2].isalpha()
    letters = " ".join(ticket.reference[:2])
    assert f"Your reference is {letters} {ticket.reference[2:]}" in heard(step)
    # The text-me key (7 in every menu) texts the reference; silence says goodbye.
    assert catalogue(app).text("choice_text_me", key="7") in heard(step)
    end = driver.silence()
    assert catalogue(app).text("goodbye") in heard(end) and end.ended == "hangup"
    # Twilio retries the action and the status callback: still one ticket.
    rec = driver.recordings[0]
    for url in ("/voice/state/message_saved", "/voice/recording-status"):
        status, _ = driver.signed_post("http://localhost" + url,
                                       {**driver._base_params(), **rec, "RecordingStatus": "completed"})
        assert status in (200, 204)
    db.expire_all()
    assert db.scalar(select(func.count()).select_from(Ticket)) == 1


def test_voicemail_when_caller_hangs_up_while_recording(app, call, db):
    driver = call()
    driver.start()
    driver.press("8")
    driver.record(seconds=9, hangup=True)
    assert db.scalar(select(func.count()).select_from(Ticket)) == 1


def test_call_log_records_the_call(app, call, db):
    driver = call()
    driver.start()
    driver.press("3")
    driver.press("0000#")
    driver.press("1")  # yes, that's the number
    driver.hangup()
    call_row = db.get(Call, driver.call_sid)
    kinds = [e.kind for e in call_row.events]
    assert kinds[0] == "call_started"
    assert {"menu", "digits", "order", "hangup"} <= set(kinds)
    assert call_row.status == "completed" and call_row.ended_at is not None


def test_leaving_a_message_after_an_answer_counts_as_not_helped(app, call, db):
    article, question = _sample(db)
    driver = call()
    ask(driver, question)
    step = driver.press("8")
    assert step.waiting == "record"
    asked = question_asked(db, driver)
    assert asked.helped is False and asked.article_id == article.id
