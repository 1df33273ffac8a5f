"""The call flow as a state machine.

Each state is a function `(ctx, **params) -> VoiceResponse` reachable at `/voice/state/<name>`;
each menu is declared once (see menus.py) and its answer arrives at `/voice/input/<menu>`.
Every state ends in a Gather, a Record, a Redirect or a Hangup, so the caller never sits in
silence.
"""
from __future__ import annotations

from typing import Any, Callable

from sqlalchemy import select
from twilio.twiml.voice_response import VoiceResponse

from ..calls.log import ensure_call
from ..kb.models import Article, QuestionAsked, Topic
from ..orders.lookup import KNOWN_STATUSES, find_order, is_order_number
from ..tickets.service import RecordingCallback, store_recording
from ..tts.spoken import spell_out_digits, spoken_reference
from .context import CallContext
from .menus import (INVALID_LIMIT, NO_INPUT_LIMIT, Choice, Menu, match_speech, menu, render_menu,
                    wants_main_menu)

StateFn = Callable[..., VoiceResponse]
STATES: dict[str, StateFn] = {}

ARTICLES_PER_PAGE = 7
QUESTION_ATTEMPTS = 3
ORDER_ATTEMPTS = 2


def state(name: str) -> Callable[[StateFn], StateFn]:
    def register(func: StateFn) -> StateFn:
        STATES[name] = func
        return func

    return register


def go(ctx: CallContext, state_name: str, /, **params: Any) -> VoiceResponse:
    """Run another state in this same request (no extra round trip to Twilio)."""
    return STATES[state_name](ctx, **params)


def _int(value: Any, default: int = 0) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        return default


# --------------------------------------------------------------------------- main menu

@menu("main")
def main_menu(ctx: CallContext) -> Menu:
    return Menu(
        prompts=[ctx.t("main_menu")],
        choices=[
            Choice("1", "ask", words=("question", "ask", "ask a question", "help")),
            Choice("2", "menu", {"name": "topics"}, words=("browse", "topics", "topic")),
            Choice("3", "order", words=("order", "check an order", "my order", "track", "tracking")),
            Choice("4", "message", words=("message", "voicemail", "leave a message")),
            Choice("0", "operator", words=("operator", "agent", "person", "human", "representative",
                                           "someone", "speak to someone", "talk to someone")),
            Choice("9", "menu", {"name": "main"}, words=("repeat", "again", "say that again")),
        ],
    )


@state("start")
def start(ctx: CallContext) -> VoiceResponse:
    call = ensure_call(ctx.session, ctx.call_sid, ctx.caller, ctx.form.get("To", ""))
    ctx.log("call_started", caller=call.from_number, to=call.to_number)
    return render_menu(ctx, "main", {}, preface=[ctx.t("greeting", business=ctx.settings.business_name)])


@state("menu")
def show_menu(ctx: CallContext, name: str = "main", attempt: int | str = 0, **params: Any) -> VoiceResponse:
    return render_menu(ctx, name, params, attempt=_int(attempt))


@state("no_input")
def no_input(ctx: CallContext, menu: str = "main", attempt: int | str = 0, **params: Any) -> VoiceResponse:
    attempt = _int(attempt) + 1
    ctx.log("no_input", menu=menu, attempt=attempt)
    if attempt > NO_INPUT_LIMIT:
        resp = ctx.response()
        ctx.speak(resp, ctx.t("giving_up_offer_message"))
        return go(ctx, "message", response=resp)
    return render_menu(ctx, menu, params, attempt=attempt, preface=[ctx.t("no_input")])


def handle_menu_input(ctx: CallContext, name: str, params: dict[str, Any], attempt: int) -> VoiceResponse:
    """A Gather's answer for menu `name`: pick the choice, or say what went wrong and ask again."""
    digits = (ctx.form.get("Digits") or "").strip()
    speech = (ctx.form.get("SpeechResult") or "").strip()
    if digits:
        ctx.log("digits", menu=name, digits=digits)
    if speech:
        ctx.log("speech", menu=name, text=speech, confidence=ctx.form.get("Confidence"))
    if not digits and not speech:
        return go(ctx, "no_input", menu=name, attempt=attempt, **params)
    if wants_main_menu(digits, speech):
        return go(ctx, "menu", name="main")
    from .menus import MENUS

    built = MENUS[name](ctx, **params)
    choice = built.by_key(digits) if digits else match_speech(built, speech)
    if choice is None:
        attempt += 1
        ctx.log("invalid", menu=name, digits=digits, speech=speech, attempt=attempt)
        if attempt >= INVALID_LIMIT:
            resp = ctx.response()
            ctx.speak(resp, ctx.t("giving_up_offer_message"))
            return go(ctx, "message", response=resp)
        return render_menu(ctx, name, params, attempt=attempt, preface=[ctx.t("invalid_choice")])
    return go(ctx, choice.target, **choice.params)


# --------------------------------------------------------------------------- browse topics

@menu("topics")
def topics_menu(ctx: CallContext) -> Menu:
    topics = ctx.session.scalars(select(Topic).order_by(Topic.position)).all()
    choices, lines = [], [ctx.t("topics_intro")]
    for key, topic in enumerate(topics[:9], 1):
        lines.append(ctx.t("topic_choice", name=topic.name, key=key))
        words = tuple({topic.name.lower(), topic.id.replace("-", " ")})
        choices.append(Choice(str(key), "menu", {"name": "articles", "topic": topic.id, "page": 0}, words=words))
    return Menu(prompts=lines, choices=choices)


@menu("articles")
def articles_menu(ctx: CallContext, topic: str = "", page: int | str = 0) -> Menu:
    page = _int(page)
    found = ctx.session.get(Topic, topic)
    if found is None:
        return topics_menu(ctx)
    articles = ctx.session.scalars(
        select(Article).where(Article.topic_id == topic).order_by(Article.position, Article.title)
    ).all()
    start_at = page * ARTICLES_PER_PAGE
    shown = articles[start_at:start_at + ARTICLES_PER_PAGE]
    lines = [ctx.t("articles_intro" if page == 0 else "articles_more_intro", topic=found.name)]
    if not articles:
        lines.append(ctx.t("no_articles"))
    choices = []
    for key, article in enumerate(shown, 1):
        lines.append(ctx.t("article_choice", title=article.title, key=key))
        choices.append(Choice(str(key), "article", {"id": article.id}, words=(article.title.lower(),)))
    if start_at + ARTICLES_PER_PAGE < len(articles):
        lines.append(ctx.t("more_articles"))
        choices.append(Choice("8", "menu", {"name": "articles", "topic": topic, "page": page + 1},
                              words=("more", "next")))
    lines.append(ctx.t("back_to_topics"))
    choices.append(Choice("9", "menu", {"name": "topics"}, words=("back", "topics")))
    return Menu(prompts=lines, choices=choices)


@state("article")
def browsed_article(ctx: CallContext, id: str = "") -> VoiceResponse:
    article = ctx.session.get(Article, id)
    if article is None:
        return go(ctx, "menu", name="topics")
    ctx.log("article", article_id=article.id, via="browse")
    return render_menu(ctx, "after_article", {"id": article.id},
                       preface=[ctx.t("article_title", title=article.title), article.answer])


@menu("after_article")
def after_article_menu(ctx: CallContext, id: str = "") -> Menu:
    article = ctx.session.get(Article, id)
    topic = article.topic_id if article else ""
    return Menu(
        prompts=[ctx.t("after_article")],
        choices=[
            Choice("1", "article", {"id": id}, words=("repeat", "again")),
            Choice("2", "menu", {"name": "articles", "topic": topic, "page": 0}, words=("other articles", "more")),
            Choice("3", "ask", words=("question", "ask")),
            Choice("4", "message", words=("message", "voicemail")),
        ],
    )


# --------------------------------------------------------------------------- ask a question

def speech_engine(ctx: CallContext):
    """Our own recogniser (Vosk) when a model is installed and not switched off, else None (Twilio's)."""
    choice = (ctx.settings.extra.get("IVR_SPEECH") or "auto").lower()
    if choice == "twilio":
        return None
    from ..speech.engine import get_engine

    return get_engine(ctx.settings, ctx.settings.say_language.split("-")[0])


@state("ask")
def ask(ctx: CallContext, attempt: int | str = 0, again: int | str = 0) -> VoiceResponse:
    resp = ctx.response()
    if speech_engine(ctx) is not None:
        # Record the question ourselves: a short silence ends it, no beep, silence trimmed.
        ctx.speak(resp, ctx.t("ask_again" if _int(again) else "ask_question"))
        resp.record(action=ctx.url("question_recorded", attempt=_int(attempt)), method="POST",
                    timeout=2, max_length=20, play_beep=False, trim="trim-silence", finish_on_key="#*")
        resp.redirect(ctx.url("question_missed", attempt=_int(attempt)), method="POST")
        return resp
    gather = resp.gather(
        input="dtmf speech", action=ctx.url("question", attempt=_int(attempt)), method="POST",
        num_digits=1, timeout=6, speech_timeout="auto", language=ctx.settings.say_language,
    )
    ctx.speak(gather, ctx.t("ask_again" if _int(again) else "ask_question"))
    resp.redirect(ctx.url("question_missed", attempt=_int(attempt)), method="POST")
    return resp


@state("question_missed")
def question_missed(ctx: CallContext, attempt: int | str = 0) -> VoiceResponse:
    """Nothing usable was heard: say so and ask again, a few times, then offer a message."""
    attempt = _int(attempt) + 1
    ctx.log("no_input", menu="ask", attempt=attempt)
    resp = ctx.response()
    ctx.speak(resp, ctx.t("didnt_catch"))
    if attempt >= QUESTION_ATTEMPTS:
        ctx.speak(resp, ctx.t("giving_up_offer_message"))
        return go(ctx, "message", response=resp)
    resp.redirect(ctx.url("ask", attempt=attempt, again=1), method="POST")
    return resp


@state("question")
def question(ctx: CallContext, attempt: int | str = 0) -> VoiceResponse:
    digits = (ctx.form.get("Digits") or "").strip()
    if digits == "*":
        return go(ctx, "menu", name="main")
    text = (ctx.form.get("SpeechResult") or "").strip()
    if not text:
        return go(ctx, "question_missed", attempt=attempt)
    ctx.log("speech", menu="ask", text=text, confidence=ctx.form.get("Confidence"))
    return answer_question(ctx, text)


@state("question_recorded")
def question_recorded(ctx: CallContext, attempt: int | str = 0) -> VoiceResponse:
    """The caller's recorded question: fetch it from Twilio's API, transcribe it with Vosk, answer."""
    if (ctx.form.get("Digits") or "") == "*":
        return go(ctx, "menu", name="main")
    recording_sid = ctx.form.get("RecordingSid", "")
    engine = speech_engine(ctx)
    if not recording_sid or engine is None:
        return go(ctx, "question_missed", attempt=attempt)
    from ..kb.service import search_engine
    from ..recordings.fetch import fetch_recording
    from ..speech.vocabulary import kb_phrases

    try:
        budget = float(ctx.settings.extra.get("IVR_RECORDING_FETCH_SECONDS") or 8)
        audio = fetch_recording(ctx.settings, recording_sid, timeout_seconds=budget)
        phrases = kb_phrases(search_engine(ctx.app, ctx.session).articles)
        transcript = engine.transcribe(audio, phrases=phrases)
    except Exception as exc:  # noqa: BLE001 - the caller hears "sorry" and tries again, never silence
        ctx.app.logger.warning("question recording %s not transcribed: %s", recording_sid, exc)
        ctx.log("speech_failed", recording_sid=recording_sid, error=f"{type(exc).__name__}: {exc}")
        return go(ctx, "question_missed", attempt=attempt)
    text = transcript.text.strip()
    ctx.log("speech", menu="ask", text=text, confidence=round(transcript.confidence, 3), engine="vosk",
            recording_sid=recording_sid, seconds=round(transcript.elapsed_seconds, 3))
    if not text:
        return go(ctx, "question_missed", attempt=attempt)
    return answer_question(ctx, text)


def answer_question(ctx: CallContext, text: str) -> VoiceResponse:
    """Search the knowledge base for `text` and answer, ask the caller to choose, or decline."""
    from ..kb.service import search_engine

    decision = search_engine(ctx.app, ctx.session).decide(text)
    hits = [{"article_id": h.article_id, "title": h.title, "score": round(float(h.score), 4)}
            for h in decision.hits]
    outcome = {"answer": "answered", "choose": "choice_offered", "none": "declined"}[decision.kind]
    asked = QuestionAsked(call_sid=ctx.call_sid, text=text, outcome=outcome, candidates=hits,
                          article_id=hits[0]["article_id"] if hits and decision.kind == "answer" else None,
                          score=hits[0]["score"] if hits else None)
    ctx.session.add(asked)
    ctx.session.flush()
    ctx.log("search", question_id=asked.id, text=text, decision=decision.kind, hits=hits)
    if decision.kind == "answer":
        return go(ctx, "answer", q=asked.id, rank=0)
    if decision.kind == "choose":
        return render_menu(ctx, "choose", {"q": asked.id})
    return render_menu(ctx, "not_found", {"q": asked.id}, preface=[ctx.t("not_found")])


@state("answer")
def answer(ctx: CallContext, q: int | str = 0, rank: int | str = 0) -> VoiceResponse:
    asked = ctx.session.get(QuestionAsked, _int(q))
    rank = _int(rank)
    if asked is None or rank >= len(asked.candidates or []):
        return go(ctx, "menu", name="main")
    hit = asked.candidates[rank]
    article = ctx.session.get(Article, hit["article_id"])
    if article is None:  # the knowledge base was reloaded mid-call
        return render_menu(ctx, "not_found", {"q": asked.id}, preface=[ctx.t("not_found")])
    asked.article_id, asked.score, asked.outcome = article.id, hit["score"], "answered"
    ctx.log("article", article_id=article.id, question_id=asked.id, rank=rank, score=hit["score"])
    intro = ctx.t("answer_intro" if rank == 0 else "next_answer_intro", title=article.title)
    return render_menu(ctx, "feedback", {"q": asked.id, "rank": rank}, preface=[intro, article.answer])


@menu("feedback")
def feedback_menu(ctx: CallContext, q: int | str = 0, rank: int | str = 0) -> Menu:
    return Menu(
        prompts=[ctx.t("did_that_help")],
        choices=[
            Choice("1", "helped", {"q": q}, words=("yes", "yeah", "it did", "that helped", "thanks")),
            Choice("2", "next_answer", {"q": q, "rank": _int(rank) + 1},
                   words=("no", "another", "another answer", "next", "something else")),
            Choice("3", "ask", {"again": 1}, words=("ask", "different question", "another question")),
            Choice("4", "message_after_answer", {"q": q}, words=("message", "voicemail")),
        ],
    )


def _feedback(ctx: CallContext, q: int | str, helped: bool, *, keep_earlier: bool = False) -> QuestionAsked | None:
    """Store whether an answer helped (what `kb gaps` reads) and log it in the call's history."""
    asked = ctx.session.get(QuestionAsked, _int(q))
    if asked is not None and not (keep_earlier and asked.helped is not None):
        asked.helped = helped
        ctx.log("feedback", question_id=asked.id, article_id=asked.article_id, helped=helped)
    return asked


@state("message_after_answer")
def message_after_answer(ctx: CallContext, q: int | str = 0) -> VoiceResponse:
    """Leaving a message right after an answer means it didn't help: count it as a gap."""
    _feedback(ctx, q, False, keep_earlier=True)
    return go(ctx, "message")


@state("helped")
def helped(ctx: CallContext, q: int | str = 0) -> VoiceResponse:
    _feedback(ctx, q, True)
    resp = ctx.response()
    gather = resp.gather(input="dtmf speech", action=ctx.input_url("after_help"), method="POST",
                         num_digits=1, timeout=5, speech_timeout="auto", language=ctx.settings.say_language)
    ctx.speak(gather, ctx.t("glad_to_help"), ctx.t("anything_else"))
    # Silence here means the caller is done: end the call politely.
    return go(ctx, "goodbye", response=resp)


@menu("after_help")
def after_help_menu(ctx: CallContext) -> Menu:
    return Menu(prompts=[ctx.t("anything_else")],
                choices=[Choice("1", "menu", {"name": "main"}, words=("yes", "more", "another question"))])


@state("next_answer")
def next_answer(ctx: CallContext, q: int | str = 0, rank: int | str = 1) -> VoiceResponse:
    asked = _feedback(ctx, q, False)
    rank = _int(rank)
    if asked is None or rank >= len(asked.candidates or []):
        return render_menu(ctx, "not_found", {"q": q}, preface=[ctx.t("no_more_answers")])
    return go(ctx, "answer", q=asked.id, rank=rank)


@menu("choose")
def choose_menu(ctx: CallContext, q: int | str = 0) -> Menu:
    asked = ctx.session.get(QuestionAsked, _int(q))
    first, second = (asked.candidates[:2] if asked and len(asked.candidates) >= 2
                     else [{"title": "", "article_id": ""}] * 2)
    return Menu(
        prompts=[ctx.t("choose_between", first=first["title"], second=second["title"])],
        choices=[
            Choice("1", "chosen", {"q": q, "rank": 0}, words=(first["title"].lower(), "first", "the first one")),
            Choice("2", "chosen", {"q": q, "rank": 1}, words=(second["title"].lower(), "second", "the second one")),
            Choice("3", "declined_choice", {"q": q}, words=("neither", "none", "none of them")),
        ],
    )


@state("chosen")
def chosen(ctx: CallContext, q: int | str = 0, rank: int | str = 0) -> VoiceResponse:
    ctx.log("choice", question_id=_int(q), rank=_int(rank))
    return go(ctx, "answer", q=q, rank=rank)


@state("declined_choice")
def declined_choice(ctx: CallContext, q: int | str = 0) -> VoiceResponse:
    asked = ctx.session.get(QuestionAsked, _int(q))
    if asked is not None:
        asked.helped, asked.outcome = False, "declined"
    return render_menu(ctx, "not_found", {"q": q}, preface=[ctx.t("not_found")])


@menu("not_found")
def not_found_menu(ctx: CallContext, q: int | str = 0) -> Menu:
    return Menu(
        prompts=[ctx.t("not_found_menu")],
        choices=[
            Choice("1", "ask", {"again": 1}, words=("ask", "again", "try again", "rephrase")),
            Choice("2", "message", words=("message", "voicemail", "leave a message")),
        ],
    )


# --------------------------------------------------------------------------- orders

@state("order")
def order(ctx: CallContext, attempt: int | str = 0, preface: str = "") -> VoiceResponse:
    resp = ctx.response()
    gather = resp.gather(input="dtmf", action=ctx.url("order_lookup", attempt=_int(attempt)), method="POST",
                         finish_on_key="#", timeout=8)
    ctx.speak(gather, preface, ctx.t("order_ask"))
    resp.redirect(ctx.url("order_missed", attempt=_int(attempt)), method="POST")
    return resp


@state("order_missed")
def order_missed(ctx: CallContext, attempt: int | str = 0) -> VoiceResponse:
    attempt = _int(attempt) + 1
    ctx.log("no_input", menu="order", attempt=attempt)
    if attempt > NO_INPUT_LIMIT:
        resp = ctx.response()
        ctx.speak(resp, ctx.t("giving_up_offer_message"))
        return go(ctx, "message", response=resp)
    return go(ctx, "order", attempt=attempt, preface=ctx.t("no_input"))


@state("order_lookup")
def order_lookup(ctx: CallContext, attempt: int | str = 0) -> VoiceResponse:
    digits = (ctx.form.get("Digits") or "").strip().rstrip("#")
    attempt = _int(attempt)
    if digits == "*" or digits.startswith("*"):
        return go(ctx, "menu", name="main")
    if not digits:
        return go(ctx, "order_missed", attempt=attempt)
    ctx.log("digits", menu="order", digits=digits)
    if not is_order_number(digits):
        failure = ctx.t("order_malformed")
    else:
        found = find_order(ctx.session, digits)
        if found is not None:
            ctx.log("order", number=digits, status=found.status)
            status_id = f"order_status_{found.status}"
            status = (ctx.t(status_id) if found.status in KNOWN_STATUSES
                      else ctx.t("order_status_unknown", status=found.status.replace("_", " ")))
            sentence = ctx.t("order_status", number=spell_out_digits(digits), status=status)
            return render_menu(ctx, "after_order", {"number": digits}, preface=[sentence, found.detail])
        ctx.log("order", number=digits, status=None)
        failure = ctx.t("order_not_found", number=spell_out_digits(digits))
    if attempt + 1 >= ORDER_ATTEMPTS:
        return render_menu(ctx, "order_failed", {}, preface=[failure, ctx.t("order_give_up")])
    return go(ctx, "order", attempt=attempt + 1, preface=failure)


@menu("order_failed")
def order_failed_menu(ctx: CallContext) -> Menu:
    return Menu(prompts=[ctx.t("after_order")], choices=[
        Choice("1", "order", words=("another order", "try again", "again")),
        Choice("2", "message", words=("message", "voicemail")),
    ])


@menu("after_order")
def after_order_menu(ctx: CallContext, number: str = "") -> Menu:
    return order_failed_menu(ctx)


# --------------------------------------------------------------------------- messages

@state("operator")
def operator(ctx: CallContext) -> VoiceResponse:
    ctx.log("operator_requested")
    resp = ctx.response()
    ctx.speak(resp, ctx.t("operator_unavailable"))
    return go(ctx, "message", response=resp)


@state("message")
def message(ctx: CallContext, response: VoiceResponse | None = None) -> VoiceResponse:
    resp = response or ctx.response()
    ctx.log("message_prompt")
    ctx.speak(resp, ctx.t("message_intro"))
    resp.record(
        action=ctx.url("message_saved"), method="POST", max_length=ctx.settings.max_message_seconds,
        finish_on_key="#", play_beep=True, timeout=5, trim="trim-silence",
        recording_status_callback="/voice/recording-status", recording_status_callback_method="POST",
        recording_status_callback_event="completed",
    )
    # Twilio continues here only when nothing was recorded.
    ctx.speak(resp, ctx.t("no_message"))
    resp.redirect(ctx.url("menu", name="main"), method="POST")
    return resp


def store_voicemail(ctx: CallContext) -> tuple[str | None, bool]:
    """Make the ticket for this recording callback. Returns (reference, stored).

    The callback is written ahead to the on-disk spool first, so if the database refuses (or the
    process dies) it still becomes a ticket, with its original time, when the worker replays it.
    """
    cb = RecordingCallback.from_form(ctx.form)
    ticket = store_recording(ctx.app, ctx.session, cb)
    if ticket is None:
        return None, False
    return ticket.reference, True


@state("message_saved")
def message_saved(ctx: CallContext) -> VoiceResponse:
    if not ctx.form.get("RecordingSid"):
        resp = ctx.response()
        ctx.speak(resp, ctx.t("no_message"))
        resp.redirect(ctx.url("menu", name="main"), method="POST")
        return resp
    reference, _ = store_voicemail(ctx)
    resp = ctx.response()
    if reference:
        ctx.speak(resp, ctx.t("message_saved", reference=spoken_reference(reference)))
    else:
        ctx.speak(resp, ctx.t("message_saved_no_reference"))
    return go(ctx, "goodbye", response=resp)


@state("goodbye")
def goodbye(ctx: CallContext, response: VoiceResponse | None = None) -> VoiceResponse:
    resp = response or ctx.response()
    ctx.speak(resp, ctx.t("goodbye"))
    resp.hangup()
    return resp
