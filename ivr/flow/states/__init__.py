"""The call flow's states and menus, one module per area, declared in one table each.

A state is `(ctx, **params) -> Turn` (see ../actions.py); a menu builder is `(ctx, **params) -> Menu`
(see ../menus.py). To add one, write it in its area's module and name it here.
"""
from __future__ import annotations

from dataclasses import replace
from typing import Callable

from ..actions import Turn
from ..menus import MENU_INPUT, MESSAGE, PERSON, TEXT_ME, Menu, menu_choice_lines, shared, shared_keys_line
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


def prerender_menus(app) -> list[str]:
    """What every menu's choices sound like ("Press 1 for yes, 2 for another answer, or 7 for a text."),
    in each form a call can meet: with and without the person key, texting, each topic's pages."""
    from sqlalchemy import select

    from ...kb.models import Article, Topic
    from ...services import services
    from ..context import CallContext

    session = services(app).sessionmaker()
    texts: list[str] = []
    try:
        ctx = CallContext(app=app, session=session, call_sid="CA" + "0" * 32)

        def add(name: str, built: Menu) -> None:
            texts.extend(menu_choice_lines(ctx, name, built))
            if ctx.settings.sms_enabled and name in {"feedback"}:
                texting = shared(TEXT_ME, "text_me")
                texts.extend(menu_choice_lines(ctx, name, replace(built, choices=[*built.choices, texting])))

        for name, builder in MENUS.items():
            if name == "choose":  # a sentence per article: choice_lines_to_prerender
                continue
            add(name, builder(ctx))
        main_built = main.main_menu(ctx)
        for universal in ((PERSON,), (MESSAGE,)):
            add("main", replace(main_built, read_universal=universal))
        add("main", main.main_menu(ctx, brief=1))
        texts.append(shared_keys_line(ctx))
        topics = ask.topic_names(ctx)  # said when a question is off topic, or matches nothing at a menu
        texts += [ctx.t("off_topic", topics=topics), ctx.t("can_help_with", topics=topics)]
        for topic in session.scalars(select(Topic)):
            count = len(session.scalars(select(Article.id).where(Article.topic_id == topic.id)).all())
            for page in range(max(1, count)):
                add("articles", main.articles_menu(ctx, topic=topic.id, page=page))
        for article_id in session.scalars(select(Article.id)):
            add("after_article", main.after_article_menu(ctx, id=article_id))
    finally:
        session.close()
    return list(dict.fromkeys(texts))
