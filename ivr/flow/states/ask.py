"""Asking a question: hear it, search the knowledge base, answer or offer a choice, learn from it."""
from __future__ import annotations

from sqlalchemy import select

from ...calls.events import Event
from ...kb.article import title_in_sentence
from ...kb.models import Article, QuestionAsked, Topic
from ...kb.service import search_engine
from ...recordings.fetch import fetch_recording
from ...services import services
from ...speech.vocabulary import kb_phrases
from ..actions import Listen, Record, Say, Step, Turn, Vocabulary, as_int, goto
from ..context import CallContext
from ..menus import (
    ASK_ANOTHER,
    INVALID_LIMIT,
    LIST_KEYS,
    MESSAGE,
    TEXT_ME,
    Menu,
    listed,
    menu_turn,
    option,
    shared,
)

QUESTION_ATTEMPTS = 3
# The choose menu's keys, from the list keys in the order read: the menu and the lines rendered ahead use them.
CHOOSE_KEYS = {"choice_first": LIST_KEYS[0], "choice_second": LIST_KEYS[1], "choice_neither": LIST_KEYS[2]}


def speech_engine(ctx: CallContext):
    """Our own recogniser (Vosk) when the speech policy says it serves the call, else None (Twilio's)."""
    return services(ctx.app).speech.engine(ctx.language)


# The vocabulary of the engine in use: computed once per knowledge-base revision, not per question.
_vocabulary: tuple[object, Vocabulary] | None = None


def question_vocabulary(ctx: CallContext) -> Vocabulary:
    """The words callers are likely to use in a question: the knowledge base's. `ask` puts them in
    its Record for a transport's own recogniser; `question_recorded` uses them for a recording it
    transcribes itself (a Step's parameters can't carry them there)."""
    global _vocabulary
    engine = search_engine(ctx.app, ctx.session)
    cached = _vocabulary
    if cached is not None and cached[0] is engine:
        return cached[1]
    vocabulary = Vocabulary(tuple(kb_phrases(engine.articles)))
    _vocabulary = (engine, vocabulary)
    return vocabulary


def ask(ctx: CallContext, attempt: int | str = 0, again: int | str = 0) -> Turn:
    attempt = as_int(attempt)
    prompt = Say(ctx.t("ask_again" if as_int(again) else "ask_question"))
    missed = Step("question_missed", {"attempt": attempt})
    if speech_engine(ctx) is not None:
        # Record the question ourselves: a short silence ends it, no beep, silence trimmed.
        return Turn(prompt, Record(purpose="question", on_done=Step("question_recorded", {"attempt": attempt}),
                                   on_empty=missed, max_seconds=20, silence_s=2, beep=False, finish_on_key="#*",
                                   vocabulary=question_vocabulary(ctx)))
    return Turn(Listen(prompts=(prompt,), on_input=Step("question", {"attempt": attempt}), on_silence=missed,
                       keys=True, speech=True, num_digits=1, timeout_s=6))


def question_missed(ctx: CallContext, attempt: int | str = 0) -> Turn:
    """Nothing usable was heard: say so and ask again, a few times, then offer a message."""
    attempt = as_int(attempt) + 1
    ctx.log(Event.NO_INPUT, menu="ask", attempt=attempt)
    if attempt >= QUESTION_ATTEMPTS:
        from .main import offer_message

        return Turn(Say(ctx.t("didnt_catch"))) + offer_message(ctx)
    return Turn(Say(ctx.t("didnt_catch")), goto("ask", attempt=attempt, again=1))


def question(ctx: CallContext, attempt: int | str = 0) -> Turn:
    if ctx.input.digits.strip() == "*":
        return Turn(goto("menu", name="main"))
    text = ctx.input.speech.strip()
    if not text:
        return Turn(goto("question_missed", attempt=attempt))
    ctx.log(Event.SPEECH, menu="ask", text=text, confidence=ctx.input.confidence)
    return answer_question(ctx, text)


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

    try:
        budget = ctx.settings.recording_fetch_seconds
        audio = fetch_recording(ctx.settings, recording.sid, timeout_seconds=budget)
        transcript = engine.transcribe(audio, phrases=list(question_vocabulary(ctx).phrases))
    except Exception as exc:  # noqa: BLE001 - the caller hears "sorry" and tries again, never silence
        ctx.app.logger.warning("question recording %s not transcribed: %s", recording.sid, exc)
        ctx.log(Event.SPEECH_FAILED, recording_sid=recording.sid, error=f"{type(exc).__name__}: {exc}")
        return Turn(goto("question_missed", attempt=attempt))
    text = transcript.text.strip()
    ctx.log(Event.SPEECH, menu="ask", text=text, confidence=round(transcript.confidence, 3), engine="vosk",
            recording_sid=recording.sid, seconds=round(transcript.elapsed_seconds, 3))
    if not text:
        return Turn(goto("question_missed", attempt=attempt))
    return answer_question(ctx, text)


def answer_question(ctx: CallContext, text: str, *, at_menu: int | None = None) -> Turn:
    """Search the knowledge base for `text` and answer, ask the caller to choose, or decline.

    `at_menu` is set (to the menu's count of unusable answers) when the words were said at a menu
    and matched none of its choices: then "nothing found" says what we can help with and goes
    back to the main menu, or asks about a message after repeated misses.
    """

    decision = search_engine(ctx.app, ctx.session).decide(text)
    hits = [{"article_id": h.article_id, "title": h.title, "score": round(float(h.score), 4)}
            for h in decision.hits]
    outcome = {"answer": "answered", "choose": "choice_offered", "none": "declined"}[decision.kind]
    asked = QuestionAsked(call_sid=ctx.call_sid, text=text, outcome=outcome, candidates=hits,
                          article_id=hits[0]["article_id"] if hits and decision.kind == "answer" else None,
                          score=hits[0]["score"] if hits else None)
    ctx.session.add(asked)
    ctx.session.flush()
    ctx.log(Event.SEARCH, question_id=asked.id, text=text, decision=decision.kind, hits=hits,
            **({"at_menu": True} if at_menu is not None else {}))
    if decision.kind == "answer":
        return Turn(goto("answer", q=asked.id, rank=0))
    if decision.kind == "choose":
        return menu_turn(ctx, "choose", {"q": asked.id})
    if at_menu is not None:
        if at_menu >= INVALID_LIMIT:
            from .main import offer_message

            return offer_message(ctx)
        return menu_turn(ctx, "main", {"brief": 1}, attempt=at_menu,
                         preface=[ctx.t("can_help_with", topics=topic_names(ctx))])
    # Not what this desk covers: say what it does cover, rather than only "no answer".
    preface = ([ctx.t("off_topic", topics=topic_names(ctx))] if decision.signal == "off_topic"
               else [ctx.t("not_found")])
    return menu_turn(ctx, "not_found", {"q": asked.id}, preface=preface)


def topic_names(ctx: CallContext) -> str:
    """'orders and shipping, returns and refunds, and your account': the first three, to keep it short."""
    names = [n.lower() for n in ctx.session.scalars(select(Topic.name).order_by(Topic.position)).all()][:3]
    if len(names) <= 2:
        return " and ".join(names)
    return ", ".join(names[:-1]) + ", and " + names[-1]


def answer(ctx: CallContext, q: int | str = 0, rank: int | str = 0, picked: int | str = 0) -> Turn:
    asked = ctx.session.get(QuestionAsked, as_int(q))
    rank = as_int(rank)
    if asked is None or rank >= len(asked.candidates or []):
        return Turn(goto("menu", name="main"))
    hit = asked.candidates[rank]
    article = ctx.session.get(Article, hit["article_id"])
    if article is None:  # the knowledge base was reloaded mid-call
        return menu_turn(ctx, "not_found", {"q": asked.id}, preface=[ctx.t("not_found")])
    asked.article_id, asked.score, asked.outcome = article.id, hit["score"], "answered"
    ctx.log(Event.ARTICLE, article_id=article.id, question_id=asked.id, rank=rank, score=hit["score"])
    # The caller's own pick is introduced as theirs, not as "another answer that might help".
    title = spoken_title(article)
    intro = (ctx.t("picked_answer_intro", title=title) if as_int(picked)
             else ctx.t("answer_intro" if rank == 0 else "next_answer_intro", title=title))
    return menu_turn(ctx, "feedback", {"q": asked.id, "rank": rank}, preface=[intro, article.answer])


def feedback_menu(ctx: CallContext, q: int | str = 0, rank: int | str = 0) -> Menu:
    texting = []
    asked = ctx.session.get(QuestionAsked, as_int(q))
    if ctx.settings.sms_enabled and asked is not None and as_int(rank) < len(asked.candidates or []):
        # "Text me that": the answer's written form, to the caller's own number only.
        article_id = asked.candidates[as_int(rank)]["article_id"]
        texting = [shared(TEXT_ME, "text_me", {"what": "article", "about": article_id, "back": "feedback",
                                               "q": q, "rank": rank})]
    return Menu(
        intro=[ctx.t("did_that_help")],
        choices=[
            *listed(
                option("helped", {"q": q}, words=("yes", "yeah", "it did", "that helped", "thanks"),
                       line="choice_helped"),
                option("next_answer", {"q": q, "rank": as_int(rank) + 1},
                       words=("no", "another", "another answer", "next"), line="choice_next_answer"),
            ),
            *texting,
            # Not read (the prompt after an answer is kept short): the caller can just ask, or press 6.
            shared(ASK_ANOTHER, "ask", {"again": 1}, line=""),
        ],
        repeat=Step("answer", {"q": q, "rank": rank}),
        # Leaving a message right after an answer means it didn't help: count it as a gap.
        message=Step("message_after_answer", {"q": q}),
    )


def _feedback(ctx: CallContext, q: int | str, helped: bool, *, keep_earlier: bool = False) -> QuestionAsked | None:
    """Store whether an answer helped (what `kb gaps` reads) and log it in the call's history."""
    asked = ctx.session.get(QuestionAsked, as_int(q))
    if asked is not None and not (keep_earlier and asked.helped is not None):
        asked.helped = helped
        ctx.log(Event.FEEDBACK, question_id=asked.id, article_id=asked.article_id, helped=helped)
    return asked


def message_after_answer(ctx: CallContext, q: int | str = 0) -> Turn:
    """Leaving a message right after an answer means it didn't help: count it as a gap."""
    _feedback(ctx, q, False, keep_earlier=True)
    return Turn(goto("message"))


def helped(ctx: CallContext, q: int | str = 0) -> Turn:
    _feedback(ctx, q, True)
    return menu_turn(ctx, "after_help", {}, preface=[ctx.t("glad_to_help")])


def after_help_menu(ctx: CallContext) -> Menu:
    # Silence here means the caller is done: end the call politely.
    return Menu(intro=[ctx.t("anything_else")],
                choices=[*listed(option("menu", {"name": "main"}, words=("yes", "more", "menu"),
                                        line="choice_main_menu")),
                         shared(ASK_ANOTHER, "ask", {"again": 1}, line="")],
                on_silence=Step("goodbye"))


def next_answer(ctx: CallContext, q: int | str = 0, rank: int | str = 1) -> Turn:
    asked = _feedback(ctx, q, False)
    rank = as_int(rank)
    if asked is None or rank >= len(asked.candidates or []):
        return menu_turn(ctx, "not_found", {"q": q}, preface=[ctx.t("no_more_answers")])
    return Turn(goto("answer", q=asked.id, rank=rank))


def choose_menu(ctx: CallContext, q: int | str = 0) -> Menu:
    asked = ctx.session.get(QuestionAsked, as_int(q))
    first, second = (asked.candidates[:2] if asked and len(asked.candidates) >= 2
                     else [{"title": "", "article_id": ""}] * 2)
    return choose_between(ctx, q, said_title(ctx, first), said_title(ctx, second))


def said_title(ctx: CallContext, candidate: dict) -> str:
    """A search hit's title as said in a sentence (the article's own spoken title when it's still loaded)."""
    article = ctx.session.get(Article, candidate.get("article_id") or "")
    return spoken_title(article) if article is not None else title_in_sentence(candidate.get("title", ""))


def choose_between(ctx: CallContext, q: int | str, first_title: str, second_title: str) -> Menu:
    first, second = {"title": first_title}, {"title": second_title}
    return Menu(
        intro=[ctx.t("choose_between")],
        choices=listed(
            option("chosen", {"q": q, "rank": 0}, words=(first["title"].lower(), "first", "the first one"),
                   line="choice_first", values={"title": first["title"]}),
            option("chosen", {"q": q, "rank": 1}, words=(second["title"].lower(), "second", "the second one"),
                   line="choice_second", values={"title": second["title"]}),
            option("declined_choice", {"q": q}, words=("neither", "none", "none of them"), line="choice_neither"),
        ),
        questions=False,
        one_line=False,  # a sentence per article, each rendered ahead (flow/prerender.py)
    )


def spoken_title(article: Article) -> str:
    """The article's spoken title (front matter `spoken_title`, else its title as heard in a sentence)."""
    return article.to_text().said_title


def chosen(ctx: CallContext, q: int | str = 0, rank: int | str = 0) -> Turn:
    ctx.log(Event.CHOICE, question_id=as_int(q), rank=as_int(rank))
    return Turn(goto("answer", q=q, rank=rank, picked=1))


def declined_choice(ctx: CallContext, q: int | str = 0) -> Turn:
    asked = ctx.session.get(QuestionAsked, as_int(q))
    if asked is not None:
        asked.helped, asked.outcome = False, "declined"
    return menu_turn(ctx, "not_found", {"q": q}, preface=[ctx.t("not_found")])


def not_found_menu(ctx: CallContext, q: int | str = 0) -> Menu:
    return Menu(
        choices=[shared(ASK_ANOTHER, "ask", {"again": 1}, words=("ask", "again", "try again", "rephrase"),
                        line="choice_ask_again")],
        read_universal=(MESSAGE,),
    )
