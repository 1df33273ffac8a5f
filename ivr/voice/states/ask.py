"""Asking a question: hear it, search the knowledge base, answer or offer a choice, learn from it."""
from __future__ import annotations

from ...kb.models import Article, QuestionAsked
from ..actions import Listen, Record, Say, Step, Turn
from ..context import CallContext
from ..flow import as_int, goto, state
from ..menus import Choice, Menu, input_step, menu, menu_turn

QUESTION_ATTEMPTS = 3


def speech_engine(ctx: CallContext):
    """Our own recogniser (Vosk) when a model is installed and not switched off, else None (Twilio's)."""
    choice = (ctx.settings.extra.get("IVR_SPEECH") or "auto").lower()
    if choice == "twilio":
        return None
    from ...speech.engine import get_engine

    return get_engine(ctx.settings, ctx.settings.say_language.split("-")[0])


@state("ask")
def ask(ctx: CallContext, attempt: int | str = 0, again: int | str = 0) -> Turn:
    attempt = as_int(attempt)
    prompt = Say(ctx.t("ask_again" if as_int(again) else "ask_question"))
    missed = Step("question_missed", {"attempt": attempt})
    if speech_engine(ctx) is not None:
        # Record the question ourselves: a short silence ends it, no beep, silence trimmed.
        return Turn(prompt, Record(purpose="question", on_done=Step("question_recorded", {"attempt": attempt}),
                                   on_empty=missed, max_seconds=20, silence_s=2, beep=False, finish_on_key="#*"))
    return Turn(Listen(prompts=(prompt,), on_input=Step("question", {"attempt": attempt}), on_silence=missed,
                       keys=True, speech=True, num_digits=1, timeout_s=6))


@state("question_missed")
def question_missed(ctx: CallContext, attempt: int | str = 0) -> Turn:
    """Nothing usable was heard: say so and ask again, a few times, then offer a message."""
    attempt = as_int(attempt) + 1
    ctx.log("no_input", menu="ask", attempt=attempt)
    if attempt >= QUESTION_ATTEMPTS:
        return Turn(Say(ctx.t("didnt_catch")), Say(ctx.t("giving_up_offer_message")), goto("message"))
    return Turn(Say(ctx.t("didnt_catch")), goto("ask", attempt=attempt, again=1))


@state("question")
def question(ctx: CallContext, attempt: int | str = 0) -> Turn:
    if ctx.input.digits.strip() == "*":
        return Turn(goto("menu", name="main"))
    text = ctx.input.speech.strip()
    if not text:
        return Turn(goto("question_missed", attempt=attempt))
    ctx.log("speech", menu="ask", text=text, confidence=ctx.input.confidence)
    return answer_question(ctx, text)


@state("question_recorded")
def question_recorded(ctx: CallContext, attempt: int | str = 0) -> Turn:
    """The caller's recorded question: transcribe it with Vosk and answer.

    A transport that recognises speech itself delivers the words as `input.speech`; a recording
    (TwiML's <Record>) is fetched from Twilio's API and transcribed here.
    """
    if ctx.input.digits == "*":
        return Turn(goto("menu", name="main"))
    if ctx.input.speech.strip():
        return question(ctx, attempt=attempt)
    recording = ctx.input.recording
    engine = speech_engine(ctx)
    if recording is None or not recording.sid or engine is None:
        return Turn(goto("question_missed", attempt=attempt))
    from ...kb.service import search_engine
    from ...recordings.fetch import fetch_recording
    from ...speech.vocabulary import kb_phrases

    try:
        budget = float(ctx.settings.extra.get("IVR_RECORDING_FETCH_SECONDS") or 8)
        audio = fetch_recording(ctx.settings, recording.sid, timeout_seconds=budget)
        phrases = kb_phrases(search_engine(ctx.app, ctx.session).articles)
        transcript = engine.transcribe(audio, phrases=phrases)
    except Exception as exc:  # noqa: BLE001 - the caller hears "sorry" and tries again, never silence
        ctx.app.logger.warning("question recording %s not transcribed: %s", recording.sid, exc)
        ctx.log("speech_failed", recording_sid=recording.sid, error=f"{type(exc).__name__}: {exc}")
        return Turn(goto("question_missed", attempt=attempt))
    text = transcript.text.strip()
    ctx.log("speech", menu="ask", text=text, confidence=round(transcript.confidence, 3), engine="vosk",
            recording_sid=recording.sid, seconds=round(transcript.elapsed_seconds, 3))
    if not text:
        return Turn(goto("question_missed", attempt=attempt))
    return answer_question(ctx, text)


def answer_question(ctx: CallContext, text: str) -> Turn:
    """Search the knowledge base for `text` and answer, ask the caller to choose, or decline."""
    from ...kb.service import search_engine

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
        return Turn(goto("answer", q=asked.id, rank=0))
    if decision.kind == "choose":
        return menu_turn(ctx, "choose", {"q": asked.id})
    return menu_turn(ctx, "not_found", {"q": asked.id}, preface=[ctx.t("not_found")])


@state("answer")
def answer(ctx: CallContext, q: int | str = 0, rank: int | str = 0) -> Turn:
    asked = ctx.session.get(QuestionAsked, as_int(q))
    rank = as_int(rank)
    if asked is None or rank >= len(asked.candidates or []):
        return Turn(goto("menu", name="main"))
    hit = asked.candidates[rank]
    article = ctx.session.get(Article, hit["article_id"])
    if article is None:  # the knowledge base was reloaded mid-call
        return menu_turn(ctx, "not_found", {"q": asked.id}, preface=[ctx.t("not_found")])
    asked.article_id, asked.score, asked.outcome = article.id, hit["score"], "answered"
    ctx.log("article", article_id=article.id, question_id=asked.id, rank=rank, score=hit["score"])
    intro = ctx.t("answer_intro" if rank == 0 else "next_answer_intro", title=article.title)
    return menu_turn(ctx, "feedback", {"q": asked.id, "rank": rank}, preface=[intro, article.answer])


@menu("feedback")
def feedback_menu(ctx: CallContext, q: int | str = 0, rank: int | str = 0) -> Menu:
    return Menu(
        prompts=[ctx.t("did_that_help")],
        choices=[
            Choice("1", "helped", {"q": q}, words=("yes", "yeah", "it did", "that helped", "thanks")),
            Choice("2", "next_answer", {"q": q, "rank": as_int(rank) + 1},
                   words=("no", "another", "another answer", "next", "something else")),
            Choice("3", "ask", {"again": 1}, words=("ask", "different question", "another question")),
            Choice("4", "message_after_answer", {"q": q}, words=("message", "voicemail")),
        ],
    )


def _feedback(ctx: CallContext, q: int | str, helped: bool, *, keep_earlier: bool = False) -> QuestionAsked | None:
    """Store whether an answer helped (what `kb gaps` reads) and log it in the call's history."""
    asked = ctx.session.get(QuestionAsked, as_int(q))
    if asked is not None and not (keep_earlier and asked.helped is not None):
        asked.helped = helped
        ctx.log("feedback", question_id=asked.id, article_id=asked.article_id, helped=helped)
    return asked


@state("message_after_answer")
def message_after_answer(ctx: CallContext, q: int | str = 0) -> Turn:
    """Leaving a message right after an answer means it didn't help: count it as a gap."""
    _feedback(ctx, q, False, keep_earlier=True)
    return Turn(goto("message"))


@state("helped")
def helped(ctx: CallContext, q: int | str = 0) -> Turn:
    _feedback(ctx, q, True)
    # Silence here means the caller is done: end the call politely.
    return Turn(Listen(prompts=(Say(ctx.t("glad_to_help")), Say(ctx.t("anything_else"))),
                       on_input=input_step("after_help", {}), on_silence=Step("goodbye"),
                       keys=True, speech=True, num_digits=1, timeout_s=5))


@menu("after_help")
def after_help_menu(ctx: CallContext) -> Menu:
    return Menu(prompts=[ctx.t("anything_else")],
                choices=[Choice("1", "menu", {"name": "main"}, words=("yes", "more", "another question"))])


@state("next_answer")
def next_answer(ctx: CallContext, q: int | str = 0, rank: int | str = 1) -> Turn:
    asked = _feedback(ctx, q, False)
    rank = as_int(rank)
    if asked is None or rank >= len(asked.candidates or []):
        return menu_turn(ctx, "not_found", {"q": q}, preface=[ctx.t("no_more_answers")])
    return Turn(goto("answer", q=asked.id, rank=rank))


@menu("choose")
def choose_menu(ctx: CallContext, q: int | str = 0) -> Menu:
    asked = ctx.session.get(QuestionAsked, as_int(q))
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
def chosen(ctx: CallContext, q: int | str = 0, rank: int | str = 0) -> Turn:
    ctx.log("choice", question_id=as_int(q), rank=as_int(rank))
    return Turn(goto("answer", q=q, rank=rank))


@state("declined_choice")
def declined_choice(ctx: CallContext, q: int | str = 0) -> Turn:
    asked = ctx.session.get(QuestionAsked, as_int(q))
    if asked is not None:
        asked.helped, asked.outcome = False, "declined"
    return menu_turn(ctx, "not_found", {"q": q}, preface=[ctx.t("not_found")])


@menu("not_found")
def not_found_menu(ctx: CallContext, q: int | str = 0) -> Menu:
    return Menu(
        prompts=[ctx.t("not_found_menu")],
        choices=[
            Choice("1", "ask", {"again": 1}, words=("ask", "again", "try again", "rephrase")),
            Choice("2", "message", words=("message", "voicemail", "leave a message")),
        ],
    )
