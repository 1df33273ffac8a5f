"""The call flow's states and menus, one module per area, declared in one table each.

A state is `(ctx, **params) -> Turn` (see ../actions.py); a menu builder is `(ctx, **params) -> Menu`
(see ../menus.py). To add one, write it in its area's module and name it here.
"""
from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import replace

from sqlalchemy import func, select

from ...kb.article import title_in_sentence
from ...kb.models import Article, Topic
from ..actions import Turn
from ..menus import MENU_INPUT, MESSAGE, PERSON, TEXT_ME, Menu, shared
from . import ask, main, messages, orders, people, sms

STATES: dict[str, Callable[..., Turn]] = {
    "ask": ask.ask,
    "question_missed": ask.question_missed,
    "question": ask.question,
    "question_recorded": ask.question_recorded,
    "answer": ask.answer,
    "message_after_answer": ask.message_after_answer,
    "helped": ask.helped,
    "next_answer": ask.next_answer,
    "chosen": ask.chosen,
    "declined_choice": ask.declined_choice,
    "start": main.start,
    "request_status": main.request_status,
    "menu": main.show_menu,
    "no_input": main.no_input,
    MENU_INPUT: main.menu_input,
    "article": main.browsed_article,
    "message": messages.message,
    "no_message": messages.no_message,
    "message_saved": messages.message_saved,
    "goodbye": messages.goodbye,
    "rating": messages.rating,
    "order": orders.order,
    "order_missed": orders.order_missed,
    "order_number": orders.order_number,
    "order_lookup": orders.order_lookup,
    "order_postcode": orders.order_postcode,
    "operator": people.operator,
    "transfer_done": people.transfer_done,
    "callback": people.callback,
    "callback_type": people.callback_type,
    "callback_typed": people.callback_typed,
    "callback_confirmed": people.callback_confirmed,
    "text_me": sms.text_me,
    "text_sent": sms.text_sent,
}

MENUS: dict[str, Callable[..., Menu]] = {
    "feedback": ask.feedback_menu,
    "after_help": ask.after_help_menu,
    "choose": ask.choose_menu,
    "not_found": ask.not_found_menu,
    "main": main.main_menu,
    "returning": main.returning_menu,
    "offer_message": main.offer_message_menu,
    "topics": main.topics_menu,
    "articles": main.articles_menu,
    "after_article": main.after_article_menu,
    "after_reference": messages.after_reference_menu,
    "order_confirm": orders.order_confirm_menu,
    "after_order": orders.after_order_menu,
    "order_failed": orders.order_failed_menu,
    "order_locked": orders.order_locked_menu,
    "after_hours": people.after_hours_menu,
    "callback_number": people.callback_number_menu,
    "callback_confirm": people.callback_confirm_menu,
}


def menu_variants(ctx) -> Iterator[tuple[str, str, Menu]]:
    """(menu, variant, built) for every form a call can meet: the main menu with and without the person
    key, the prompt after an answer with texting, each topic's pages, each article's menu, the choose menu
    with the two longest titles. `prompts check` measures them; warm-up renders them."""
    session = ctx.session
    for name, builder in MENUS.items():
        if name not in {"choose", "articles", "after_article"}:
            yield name, "", builder(ctx)
    main_built = main.main_menu(ctx)
    yield "main", "person", replace(main_built, read_universal=(PERSON,))
    yield "main", "no person", replace(main_built, read_universal=(MESSAGE,))
    yield "main", "brief", main.main_menu(ctx, brief=1)
    if ctx.settings.sms_enabled:
        built = ask.feedback_menu(ctx)
        yield "feedback", "texting", replace(built, choices=[*built.choices, shared(TEXT_ME, "text_me")])
    for topic in session.scalars(select(Topic)):
        count = len(session.scalars(select(Article.id).where(Article.topic_id == topic.id)).all())
        for page in range(max(1, -(-count // main.ARTICLES_PER_PAGE))):
            yield "articles", f"{topic.id} page {page + 1}", main.articles_menu(ctx, topic=topic.id, page=page)
    first = session.scalars(select(Article.id).limit(1)).first()
    if first:
        yield "after_article", "", main.after_article_menu(ctx, id=first)
    longest = session.scalars(select(Article.title).order_by(func.length(Article.title).desc()).limit(2)).all()
    if len(longest) == 2:
        yield "choose", "longest titles", ask.choose_between(ctx, 0, *(title_in_sentence(t) for t in longest))
