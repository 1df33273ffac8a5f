"""The start of a call, the main menu, browsing help topics, and what any menu does with input."""
from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import SQLAlchemyError

from ...calls.events import Event
from ...hours import business_tz
from ...kb.models import Article, Topic
from ...tickets.activity import TicketNote
from ...tickets.models import Ticket
from ...tts.spoken import spoken_reference
from ..actions import Say, Step, Turn, as_int, goto
from ..context import CallContext
from ..menus import (
    ASK_ANOTHER,
    INVALID_LIMIT,
    LIST_KEYS,
    MESSAGE,
    MESSAGE_WORDS,
    NO_INPUT_LIMIT,
    PERSON,
    TEXT_ME,
    Choice,
    Menu,
    all_choices,
    is_menu,
    listed,
    match_speech,
    menu_builder,
    menu_turn,
    option,
    shared,
    shared_keys_line,
    wants_main_menu,
)
from .desk import desk_now, spoken_day

TOPICS_SHOWN = len(LIST_KEYS)  # the list keys; the rest of the keypad means the same in every menu
ARTICLES_PER_PAGE = 3  # titles are long: three a page and "4 for more" stay within a menu's ten seconds


MAIN_MENU_DOES = {"ask": "asks a question", "menu": "browses help topics", "order": "checks an order",
                  "callback": "asks for a callback"}


def main_choices() -> list[Choice]:
    """The main menu's own list, most used first (the knowledge-base check reads it too)."""
    return listed(
        option("ask", words=("question", "ask", "ask a question", "help"), line="choice_ask"),
        option("menu", {"name": "topics"}, words=("browse", "topics", "topic", "help topics"), line="choice_topics"),
        option("order", words=("order", "check an order", "my order", "track", "tracking"), line="choice_order"),
        option("callback", words=("call back", "call me back", "callback", "call me", "call you back"),
               line="choice_callback"),
    )


def main_menu(ctx: CallContext, brief: int | str = 0) -> Menu:
    """The main menu; `brief` (after "I can help with ...") offers only asking, the rest still work.

    The person key is read only when someone can take the call now; otherwise the message key is.
    """
    from .people import can_transfer

    choices = main_choices()
    if as_int(brief):
        return Menu(choices=[c if c.key == "1" else replace(c, line="") for c in choices], repeat=Step("menu"))
    return Menu(read_universal=(PERSON,) if can_transfer(ctx) else (MESSAGE,), choices=choices,
                lead="menu_say_or_press")


def start(ctx: CallContext) -> Turn:
    # The call row is written with the turn's log (ctx.commit), so a locked database can't hold up the greeting.
    ctx.log(Event.CALL_STARTED, caller=ctx.caller, to=ctx.to)
    desk = desk_now(ctx)
    greeting = [ctx.t("greeting", business=ctx.settings.business_name), desk.closed_words]
    ticket = open_ticket(ctx)
    if ticket is not None:
        ctx.log(Event.RETURNING_CALLER, ticket_id=ticket.id)
        return menu_turn(ctx, "returning", {"ticket": ticket.id}, preface=greeting)
    # The keys every menu shares are said once, here, after the first choices.
    return menu_turn(ctx, "main", {}, preface=greeting, coda=[shared_keys_line(ctx)])


# --------------------------------------------------------------------------- returning callers

def open_ticket(ctx: CallContext) -> Ticket | None:
    """The caller's newest unresolved ticket, when the caller's number is known."""
    if not ctx.caller.startswith("+"):
        return None
    try:
        return ctx.session.scalars(
            select(Ticket).where(Ticket.caller == ctx.caller, Ticket.status != "resolved")
            .order_by(Ticket.created_at.desc(), Ticket.id.desc()).limit(1)
        ).first()
    except SQLAlchemyError:  # a nicety: never let it hold up or break the greeting
        ctx.session.rollback()
        return None


def returning_menu(ctx: CallContext, ticket: int | str = 0) -> Menu:
    found = ctx.session.get(Ticket, as_int(ticket))
    when = spoken_day(ctx, local_date(ctx, found.created_at)) if found is not None else ""
    return Menu(intro=[ctx.t("open_request", date=when)] if found is not None else [],
                choices=listed(option("request_status", {"ticket": as_int(ticket)}, words=("status", "yes"),
                                      line="choice_request_status")),
                on_silence=Step("menu", {"name": "main"}))


def local_date(ctx: CallContext, moment) -> date:
    """The business's calendar day of a stored (UTC) moment."""
    aware = moment if moment.tzinfo else moment.replace(tzinfo=UTC)
    return aware.astimezone(business_tz(ctx.app)).date()


def request_status(ctx: CallContext, ticket: int | str = 0) -> Turn:
    """Where the caller's own request stands, and the last note staff marked for the caller."""
    found = ctx.session.get(Ticket, as_int(ticket))
    if found is None or found.caller != ctx.caller:  # only the caller's own request, whatever the URL says
        return Turn(goto("menu", name="main"))
    ctx.log(Event.REQUEST_STATUS, ticket_id=found.id, status=found.status)
    status_id = f"request_status_{found.status}"
    status = ctx.t(status_id) if status_id in ctx.catalogue else found.status.replace("_", " ")
    words = [Say(ctx.t("request_status", reference=spoken_reference(found.reference or ""), status=status),
                 private=True)]
    note = note_for_caller(ctx, found)
    if note:
        words.append(Say(ctx.t("request_note", note=note), private=True))
    return menu_turn(ctx, "main", {}, preface=words)


def note_for_caller(ctx: CallContext, ticket: Ticket) -> str:
    """The newest staff note marked for the caller (notes are internal unless staff mark them)."""

    note = ctx.session.scalars(select(TicketNote)
                               .where(TicketNote.ticket_id == ticket.id, TicketNote.for_caller.is_(True))
                               .order_by(TicketNote.id.desc()).limit(1)).first()
    return note.body if note is not None else ""


# --------------------------------------------------------------------------- any menu

def show_menu(ctx: CallContext, name: str = "main", attempt: int | str = 0, **params: Any) -> Turn:
    if not is_menu(name):
        name, params = "main", {}
    return menu_turn(ctx, name, params, attempt=as_int(attempt))


def offer_message(ctx: CallContext) -> Turn:
    """After repeated trouble, ask whether to leave a message instead of starting a recording."""
    return menu_turn(ctx, "offer_message", {}, preface=[ctx.t("giving_up_offer_message")])


def offer_message_menu(ctx: CallContext) -> Menu:
    return Menu(intro=[ctx.t("offer_message")],
                choices=[shared(MESSAGE, "message", words=("yes", "yeah", "yes please", "ok", "okay", *MESSAGE_WORDS),
                                line="choice_leave_message_yes")],
                on_silence=Step("goodbye"), questions=False)


def no_input(ctx: CallContext, menu: str = "main", attempt: int | str = 0, **params: Any) -> Turn:
    attempt = as_int(attempt) + 1
    ctx.log(Event.NO_INPUT, menu=menu, attempt=attempt)
    if not is_menu(menu):
        menu, params = "main", {}
    if attempt > NO_INPUT_LIMIT:
        return offer_message(ctx)
    return menu_turn(ctx, menu, params, attempt=attempt, preface=[ctx.t("no_input")])


def menu_input(ctx: CallContext, menu: str = "main", attempt: int | str = 0, **params: Any) -> Turn:
    """A menu's answer: pick the choice, try words as a question, or say what went wrong."""
    name, attempt = menu, as_int(attempt)
    if not is_menu(name):
        return Turn(goto("menu", name="main"))
    digits, speech = ctx.input.digits.strip(), ctx.input.speech.strip()
    if digits:
        ctx.log(Event.DIGITS, menu=name, digits=digits)
    if speech:
        ctx.log(Event.SPEECH, menu=name, text=speech, confidence=ctx.input.confidence)
    if not digits and not speech:
        return Turn(goto("no_input", menu=name, attempt=attempt, **params))
    if wants_main_menu(digits, speech):
        return Turn(goto("menu", name="main"))
    built = menu_builder(name)(ctx, **params)
    choices = all_choices(name, built, params)
    choice = next((c for c in choices if c.key == digits), None) if digits else match_speech(choices, speech)
    if choice is not None:
        return Turn(goto(choice.target, **choice.params))
    attempt += 1
    ctx.log(Event.INVALID, menu=name, digits=digits, speech=speech, attempt=attempt)
    if speech and built.questions:
        from .ask import answer_question

        return answer_question(ctx, speech, at_menu=attempt)
    if attempt >= INVALID_LIMIT:
        return offer_message(ctx)
    return menu_turn(ctx, name, params, attempt=attempt, preface=[ctx.t("invalid_choice")])


# --------------------------------------------------------------------------- browse topics

def topics_menu(ctx: CallContext) -> Menu:
    topics = ctx.session.scalars(select(Topic).order_by(Topic.position)).all()
    return Menu(choices=listed(*(
        option("menu", {"name": "articles", "topic": topic.id, "page": 0},
               words=tuple({topic.name.lower(), topic.id.replace("-", " ")}), line="topic_choice",
               values={"name": topic.name.lower()})
        for topic in topics[:TOPICS_SHOWN])))


def articles_menu(ctx: CallContext, topic: str = "", page: int | str = 0) -> Menu:
    """A page of a topic's articles: up to three, and the next list key for the next page."""
    page = as_int(page)
    found = ctx.session.get(Topic, topic)
    if found is None:
        return topics_menu(ctx)
    articles = ctx.session.scalars(
        select(Article).where(Article.topic_id == topic).order_by(Article.position, Article.title)
    ).all()
    more = (page + 1) * ARTICLES_PER_PAGE < len(articles)
    shown = articles[page * ARTICLES_PER_PAGE:(page + 1) * ARTICLES_PER_PAGE]
    intro = [] if articles else [ctx.t("no_articles")]  # the caller just picked the topic: no header
    options = [option("article", {"id": article.id}, words=(article.title.lower(),),
                      line="article_choice", values={"title": spoken_title(article)})
               for article in shown]
    if more:
        options.append(option("menu", {"name": "articles", "topic": topic, "page": page + 1},
                              words=("more", "next"), line="choice_more_articles"))
    back = option("menu", {"name": "topics"}, words=("back", "topics", "other topics"))  # said, not keyed
    return Menu(intro=intro, choices=[*listed(*options), back])


def spoken_title(article: Article) -> str:
    """A title as it sounds inside a sentence (front matter `spoken_title`, else derived)."""
    return article.to_text().said_title


def browsed_article(ctx: CallContext, id: str = "") -> Turn:
    article = ctx.session.get(Article, id)
    if article is None:
        return Turn(goto("menu", name="topics"))
    ctx.log(Event.ARTICLE, article_id=article.id, via="browse")
    return menu_turn(ctx, "after_article", {"id": article.id},
                     preface=[ctx.t("article_title", title=article.title), article.answer])


def after_article_menu(ctx: CallContext, id: str = "") -> Menu:
    article = ctx.session.get(Article, id)
    topic = article.topic_id if article else ""
    texting = [shared(TEXT_ME, "text_me", {"what": "article", "about": id, "back": "after_article", "id": id})
               ] if ctx.settings.sms_enabled and article is not None else []
    return Menu(
        choices=[
            *listed(option("menu", {"name": "articles", "topic": topic, "page": 0},
                           words=("other articles", "more", "back"), line="choice_other_articles")),
            shared(ASK_ANOTHER, "ask", {"again": 1}),
            *texting,
        ],
        repeat=Step("article", {"id": id}),
    )
