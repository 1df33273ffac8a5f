"""The start of a call, the main menu, browsing help topics, and what any menu does with input."""
from __future__ import annotations

from typing import Any

from sqlalchemy import select

from ...calls.log import ensure_call
from ...kb.models import Article, Topic
from ..actions import Say, Turn
from ..context import CallContext
from ..flow import as_int, goto, state
from ..menus import (INVALID_LIMIT, MENU_INPUT, MENUS, NO_INPUT_LIMIT, Choice, Menu, match_speech, menu,
                     menu_turn, wants_main_menu)

ARTICLES_PER_PAGE = 7


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
def start(ctx: CallContext) -> Turn:
    call = ensure_call(ctx.session, ctx.call_sid, ctx.caller, ctx.to)
    ctx.log("call_started", caller=call.from_number, to=call.to_number)
    return menu_turn(ctx, "main", {}, preface=[ctx.t("greeting", business=ctx.settings.business_name)])


@state("menu")
def show_menu(ctx: CallContext, name: str = "main", attempt: int | str = 0, **params: Any) -> Turn:
    if name not in MENUS:
        name, params = "main", {}
    return menu_turn(ctx, name, params, attempt=as_int(attempt))


@state("no_input")
def no_input(ctx: CallContext, menu: str = "main", attempt: int | str = 0, **params: Any) -> Turn:
    attempt = as_int(attempt) + 1
    ctx.log("no_input", menu=menu, attempt=attempt)
    if menu not in MENUS:
        menu, params = "main", {}
    if attempt > NO_INPUT_LIMIT:
        return Turn(Say(ctx.t("giving_up_offer_message")), goto("message"))
    return menu_turn(ctx, menu, params, attempt=attempt, preface=[ctx.t("no_input")])


@state(MENU_INPUT)
def menu_input(ctx: CallContext, menu: str = "main", attempt: int | str = 0, **params: Any) -> Turn:
    """A menu's answer: pick the choice, or say what went wrong and ask again."""
    name, attempt = menu, as_int(attempt)
    if name not in MENUS:
        return goto_turn("menu", name="main")
    digits, speech = ctx.input.digits.strip(), ctx.input.speech.strip()
    if digits:
        ctx.log("digits", menu=name, digits=digits)
    if speech:
        ctx.log("speech", menu=name, text=speech, confidence=ctx.input.confidence)
    if not digits and not speech:
        return goto_turn("no_input", menu=name, attempt=attempt, **params)
    if wants_main_menu(digits, speech):
        return goto_turn("menu", name="main")
    built = MENUS[name](ctx, **params)
    choice = built.by_key(digits) if digits else match_speech(built, speech)
    if choice is None:
        attempt += 1
        ctx.log("invalid", menu=name, digits=digits, speech=speech, attempt=attempt)
        if attempt >= INVALID_LIMIT:
            return Turn(Say(ctx.t("giving_up_offer_message")), goto("message"))
        return menu_turn(ctx, name, params, attempt=attempt, preface=[ctx.t("invalid_choice")])
    return Turn(goto(choice.target, **choice.params))


def goto_turn(state_name: str, /, **params: Any) -> Turn:
    return Turn(goto(state_name, **params))


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
    page = as_int(page)
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
def browsed_article(ctx: CallContext, id: str = "") -> Turn:
    article = ctx.session.get(Article, id)
    if article is None:
        return goto_turn("menu", name="topics")
    ctx.log("article", article_id=article.id, via="browse")
    return menu_turn(ctx, "after_article", {"id": article.id},
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
