"""'Text me that': sent through a local stand-in for Twilio's Messages API, only ever to the caller."""
from __future__ import annotations

import secrets
from dataclasses import replace

import pytest
from sqlalchemy import select

from ivr.calls.log import ensure_call
from ivr.jobs.models import Job
from ivr.jobs.queue import Worker
from ivr.services import services
from ivr.sms.models import TextMessage
from ivr.sms.service import SmsRefused, request_text

from .conftest import ACCOUNT_SID, AUTH_TOKEN
from .fake_twilio_api import FakeServer, MessagesApi

CALLER = "+15005550006"  # the phone on sample order 1001
OUR_NUMBER = "+15005550001"


def heard(step) -> str:
    return " ".join(step.heard)


def t(app, pid: str, **values) -> str:
    return services(app).prompts.text(pid, **values)


@pytest.fixture
def twilio_api(app):
    with FakeServer(auth=(ACCOUNT_SID, AUTH_TOKEN)) as server:
        # The stand-in has no recordings: a voicemail's fetch job gives up in 0.5 s, not 30 s.
        app.config["IVR_SETTINGS"] = replace(app.config["IVR_SETTINGS"], twilio_api_base=server.url,
                                             recording_job_fetch_seconds=0.5)
        yield server


def order_details_heard(driver):
    driver.start()
    driver.press("3")
    driver.press("1001#")
    return driver.press("1")


def test_order_details_texted_to_the_caller(app, call, db, twilio_api):
    messages = MessagesApi(twilio_api, ACCOUNT_SID)
    driver = call(caller=CALLER, to=OUR_NUMBER)
    order_details_heard(driver)
    step = driver.press("7")  # the text-me key
    assert t(app, "sms_sending") in heard(step)
    assert messages.sent == []  # nothing is sent on the webhook's clock
    assert Worker(app).run_until_idle() >= 1
    step = driver.silence()
    assert t(app, "sms_sent") in heard(step)
    assert t(app, "choice_text_me", key="7") in heard(step)  # back where the caller was
    assert len(messages.sent) == 1
    sent = messages.sent[0]
    assert sent["To"] == CALLER and sent["From"] == OUR_NUMBER
    assert sent["Body"].startswith("Northwind Goods: order 1001 has been delivered.")
    assert "signed for at the front door" in sent["Body"]
    row = db.scalars(select(TextMessage).where(TextMessage.call_sid == driver.call_sid)).one()
    assert row.status == "sent" and row.twilio_sid.startswith("SM") and row.to_number == CALLER


def test_twilio_refusing_the_text_is_logged_and_the_caller_told(app, call, db, twilio_api, caplog):
    MessagesApi(twilio_api, ACCOUNT_SID, fail_with=(400, 21614, "'To' number is not a valid mobile number"))
    driver = call(caller=CALLER, to=OUR_NUMBER)
    order_details_heard(driver)
    driver.press("7")
    Worker(app).run_until_idle()
    step = driver.silence()
    assert t(app, "sms_failed") in heard(step) and t(app, "sms_sent") not in heard(step)
    assert step.waiting == "gather"  # the call goes on
    row = db.scalars(select(TextMessage).where(TextMessage.call_sid == driver.call_sid)).one()
    assert row.status == "failed" and "21614" in row.error and "not a valid mobile number" in row.error
    assert "21614" in caplog.text


def test_twilio_down_is_retried_once_then_the_text_is_marked_failed(app, call, db, twilio_api):
    MessagesApi(twilio_api, ACCOUNT_SID, fail_with=(503, 20500, "Service Unavailable"))
    driver = call(caller=CALLER, to=OUR_NUMBER)
    order_details_heard(driver)
    driver.press("7")
    worker = Worker(app)
    worker.run_until_idle()
    row = db.scalars(select(TextMessage).where(TextMessage.call_sid == driver.call_sid)).one()
    assert row.status == "queued"  # a 5xx is worth one more try, after the queue's back-off
    job = db.scalars(select(Job).where(Job.kind == "sms.send")).one()
    assert job.status == "queued" and "HTTP 503" in job.last_error
    job.run_after = job.created_at  # the back-off has passed
    db.commit()
    worker.run_until_idle()
    db.refresh(row)
    assert row.status == "failed" and "HTTP 503" in row.error
    # The call's history shows the text that failed after the caller moved on.
    from ivr.calls.models import CallEvent

    failed = db.scalars(select(CallEvent).where(CallEvent.call_sid == driver.call_sid,
                                                CallEvent.kind == "sms_failed")).one()
    assert failed.detail["message_id"] == row.id and "HTTP 503" in failed.detail["error"]
    step = driver.silence()
    assert t(app, "sms_failed") in heard(step)


def test_a_text_not_sent_within_the_wait_is_never_said_to_be_on_its_way(app, call, db, twilio_api):
    """Nothing has run the job: the caller hears that it hasn't gone yet, never that it's on its way."""
    MessagesApi(twilio_api, ACCOUNT_SID)
    driver = call(caller=CALLER, to=OUR_NUMBER)
    order_details_heard(driver)
    step = driver.press("7")
    for _ in range(4):
        step = driver.silence()
    assert t(app, "sms_still_sending") in heard(step)
    assert "on its way" not in " ".join(driver.heard) and t(app, "sms_sent") not in " ".join(driver.heard)


def test_the_flow_cannot_choose_the_number(app, db):
    """request_text takes a call, not a number: the recipient is always that call's own caller."""
    import inspect

    assert "to" not in inspect.signature(request_text).parameters
    with app.app_context():
        for withheld in ("anonymous", "+266696687"):  # Twilio's From when the caller hides the number
            sid = "CA" + secrets.token_hex(16)
            ensure_call(db, sid, withheld, OUR_NUMBER)
            with pytest.raises(SmsRefused) as refused:
                request_text(app, db, sid, "article", "return-window")
            assert refused.value.reason == "no_number"
        ensure_call(db, "CA" + "b" * 32, CALLER, OUR_NUMBER)
        # An order this call never proved it may hear is not sent either.
        with pytest.raises(SmsRefused) as refused:
            request_text(app, db, "CA" + "b" * 32, "order", "4512")
        assert refused.value.reason == "not_verified"
        message = request_text(app, db, "CA" + "b" * 32, "article", "return-window")
        assert message.to_number == CALLER and message.body.startswith("Northwind Goods: ")
        request_text(app, db, "CA" + "b" * 32, "article", "return-window")
        request_text(app, db, "CA" + "b" * 32, "article", "return-window")
        with pytest.raises(SmsRefused) as refused:
            request_text(app, db, "CA" + "b" * 32, "article", "return-window")
        assert refused.value.reason == "limit"


def test_article_and_ticket_reference_texts_through_the_flow_engine(app, call, db, twilio_api):
    """What the flow engineer's menus offer after an answer or a ticket: the same two states."""
    from ivr.flow.actions import Input, Listen, Step
    from ivr.flow.context import CallContext
    from ivr.flow.engine import run_state

    messages = MessagesApi(twilio_api, ACCOUNT_SID)
    driver = call(caller=CALLER, to=OUR_NUMBER)
    driver.start()
    driver.press("8")  # the message key
    driver.record(seconds=5)  # a voicemail: this caller's ticket
    from ivr.tickets.models import Ticket

    reference = db.scalars(select(Ticket).where(Ticket.call_sid == driver.call_sid)).one().reference
    from sqlalchemy import update

    db.execute(update(Job).values(status="done"))  # the voicemail's own jobs are not what this tests
    db.commit()
    ctx = CallContext(app=app, session=db, call_sid=driver.call_sid, caller=CALLER, to=OUR_NUMBER)
    with app.app_context():
        for what, about, back, params in (("article", "return-window", "after_article", {"id": "return-window"}),
                                          ("ticket", reference, "main", {})):
            turn = run_state(ctx, Step("text_me", {"what": what, "about": about, "back": back, **params}))
            db.commit()
            assert isinstance(turn.last, Listen) and turn.last.on_silence.state == "text_sent"
            Worker(app).run_until_idle()
            ctx.input = Input()
            turn = run_state(ctx, turn.last.on_silence)
            db.commit()
            assert t(app, "sms_sent") in turn.says()
            assert turn.last.on_input.params["menu"] == back and dict(params).items() <= turn.last.on_input.params.items()
        # Someone else's reference is not sent.
        turn = run_state(ctx, Step("text_me", {"what": "ticket", "about": "XX999", "back": "main"}))
        assert t(app, "sms_failed") in turn.says()
    bodies = [m["Body"] for m in messages.sent]
    assert bodies[0].startswith("Northwind Goods: How long you have to return an item. You can return most items within thirty days")
    assert bodies[1] == f"Northwind Goods: your message reference is {reference}. Quote it if you call us again."
    assert all(m["To"] == CALLER for m in messages.sent) and len(bodies) == 2


def test_delivery_reported_later_by_twilio_is_kept_on_the_text(app, call, db, twilio_api):
    messages = MessagesApi(twilio_api, ACCOUNT_SID)
    driver = call(caller=CALLER, to=OUR_NUMBER)
    order_details_heard(driver)
    driver.press("7")
    # The service behind its public address: Twilio is told where to report delivery.
    app.config["IVR_SETTINGS"] = replace(app.config["IVR_SETTINGS"], public_base_url="https://ivr.example.com")
    Worker(app).run_until_idle()
    assert messages.sent[0]["StatusCallback"] == "https://ivr.example.com/voice/sms-status"
    row = db.scalars(select(TextMessage).where(TextMessage.call_sid == driver.call_sid)).one()
    from twilio.request_validator import RequestValidator

    params = {"MessageSid": row.twilio_sid, "MessageStatus": "undelivered", "ErrorCode": "30003",
              "AccountSid": ACCOUNT_SID, "To": CALLER, "From": OUR_NUMBER}
    url = "https://ivr.example.com/voice/sms-status"
    signature = RequestValidator(AUTH_TOKEN).compute_signature(url, params)
    client = app.test_client()
    assert client.post("/voice/sms-status", data=params, base_url="https://ivr.example.com",
                       headers={"X-Twilio-Signature": signature}).status_code == 204
    db.refresh(row)
    assert (row.status, row.delivery, row.delivery_error) == ("sent", "undelivered", "30003")
    forged = client.post("/voice/sms-status", data={**params, "MessageStatus": "delivered"},
                         base_url="https://ivr.example.com", headers={"X-Twilio-Signature": "bad"})
    assert forged.status_code == 403
    db.refresh(row)
    assert row.delivery == "undelivered"


def test_an_answer_texted_after_hearing_it(app, call, db, twilio_api):
    from .conftest import ask

    messages = MessagesApi(twilio_api, ACCOUNT_SID)
    driver = call(caller=CALLER, to=OUR_NUMBER)
    step = ask(driver, "How do I cancel my order?")
    assert t(app, "choice_text_me", key="7") in heard(step)
    driver.press("7")
    Worker(app).run_until_idle()
    step = driver.silence()
    assert t(app, "sms_sent") in heard(step) and t(app, "did_that_help") in heard(step)  # back at the question
    body = messages.sent[0]["Body"]
    assert messages.sent[0]["To"] == CALLER and body.startswith("Northwind Goods: Cancelling an order.")


def test_a_ticket_reference_texted_after_leaving_a_message(app, call, db, twilio_api):
    from ivr.tickets.models import Ticket

    messages = MessagesApi(twilio_api, ACCOUNT_SID)
    driver = call(caller=CALLER, to=OUR_NUMBER)
    driver.start()
    driver.press("8")
    step = driver.record(seconds=6)
    assert t(app, "choice_text_me", key="7") in heard(step)
    driver.press("7")
    Worker(app).run_until_idle()
    step = driver.silence()
    assert t(app, "sms_sent") in heard(step)
    reference = db.scalars(select(Ticket.reference)).one()
    assert messages.sent[0]["To"] == CALLER and f"reference is {reference}" in messages.sent[0]["Body"]
    end = driver.silence()  # nothing more: goodbye
    assert end.ended == "hangup"
