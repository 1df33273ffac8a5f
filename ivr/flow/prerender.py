"""Every line the flow can speak that is known ahead, found by walking the flow itself.

The walk runs the real states from the start of a call and follows every step a turn can lead
to without the caller's own data: each choice a menu declares, silence, an unusable key, and the
steps a Record or a Transfer ends in. What each turn says (except `Say(private=True)`, a caller's
own data) is collected, so a line that a menu, a state or the catalogue gains is rendered ahead
with no list to keep: topic lists, article titles, "For X, press N", the sentences about hours.

Answers reached by a spoken question are walked from a stand-in question per article (first and
second candidate, so "For A, press 1. For B, press 2." and both intros are met); the hours are
walked at an open and a closed instant, and the closed-desk sentences sampled over the next days.
A menu that only a caller's own data leads to (an order number read back) has its choice lines
rendered from its declaration.

The walk never writes: it runs in a session that may not flush (a state that must write, such as
storing a callback, is skipped: what it says holds the caller's data) and is rolled back.
"""
from __future__ import annotations

import json
import logging
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import event, select
from sqlalchemy.orm import make_transient_to_detached

from ..kb.models import Article, QuestionAsked
from ..services import services
from .actions import Input, Listen, Record, Say, Step, Transfer, Turn
from .context import CallContext
from .engine import run_state
from .menus import MENU_INPUT, all_choices, is_menu, menu_builder, menu_says
from .states.desk import desk_now

log = logging.getLogger(__name__)

MAX_STEPS = 5000  # a bound on the walk; the sample knowledge base needs a few hundred
HOURS_DAYS = 8  # the closed-desk sentences are sampled this far ahead ("We open again Monday at 9 a m")
HOURS_STEP = timedelta(minutes=15)
NOTHING_WE_KNOW = "zebra crossing umbrella"  # a question the knowledge base can't answer
UNUSED_KEY = "#"  # a key no menu declares: walks the "that isn't one of the choices" path


class _NoWrites(RuntimeError):
    """A state tried to write during the walk; its turn holds a caller's data and is skipped."""


@dataclass
class WalkContext(CallContext):
    """A call with no caller, at a chosen instant."""

    at: datetime | None = field(default=None)

    def now(self) -> datetime:
        return self.at or super().now()


def _step_key(step: Step, inp: Input) -> str:
    return json.dumps([step.state, dict(step.params), inp.digits, inp.speech], sort_keys=True, default=str)


def _turn_texts(turn: Turn) -> Iterable[str]:
    for action in turn:
        says = action.prompts if isinstance(action, Listen) else (action,) if isinstance(action, Say) else ()
        for say in says:
            if not say.private and say.text.strip():
                yield say.text


def _next_steps(ctx: CallContext, turn: Turn) -> Iterable[tuple[Step, Input]]:
    """Where a turn can lead without the caller's own data."""
    for action in turn:
        if isinstance(action, Listen):
            yield action.on_silence, Input()
            step = action.on_input
            if step.state == MENU_INPUT and is_menu(step.params.get("menu")):
                params = {k: v for k, v in step.params.items() if k not in ("menu", "attempt")}
                name = str(step.params["menu"])
                for choice in all_choices(name, menu_builder(name)(ctx, **params), params):
                    yield choice.step, Input()
                yield step, Input(digits=UNUSED_KEY)
            else:
                yield step, Input()
        elif isinstance(action, Record):
            yield action.on_empty, Input()
        elif isinstance(action, Transfer):
            yield action.on_done, Input()


def _stand_in_questions(ctx: CallContext) -> tuple[list[Step], list[QuestionAsked]]:
    """Seeds for the answers a spoken question reaches: per article, it first and the next one second.

    Also returns the stand-ins: the session's identity map holds them weakly, the caller must keep them."""
    articles = ctx.session.scalars(select(Article).order_by(Article.id)).all()
    seeds: list[Step] = []
    stand_ins: list[QuestionAsked] = []
    for i, article in enumerate(articles):
        other = articles[(i + 1) % len(articles)]
        asked = QuestionAsked(id=-(i + 1), call_sid="", text="", outcome="choice_offered", asked_at=ctx.now(),
                              article_id=None, score=None, helped=None, candidates=[
            {"article_id": a.id, "title": a.title, "score": 1.0} for a in (article, other)])
        make_transient_to_detached(asked)
        ctx.session.add(asked)  # in the identity map only: never written (see _NoWrites)
        stand_ins.append(asked)
        seeds += [Step("answer", {"q": asked.id, "rank": 0}), Step("answer", {"q": asked.id, "rank": 1}),
                  Step("menu", {"name": "choose", "q": asked.id})]
    return seeds, stand_ins


def walk(ctx: CallContext, seeds: Iterable[Step | tuple[Step, Input]], menus: set[str] | None = None) -> list[str]:
    """Run every step reachable from `seeds`; returns what the turns say, in the order first met.
    The names of the menus met are added to `menus`."""
    texts: dict[str, None] = {}
    queue = deque(s if isinstance(s, tuple) else (s, Input()) for s in seeds)
    seen: set[str] = set()
    while queue and len(seen) < MAX_STEPS:
        step, inp = queue.popleft()
        key = _step_key(step, inp)
        if key in seen:
            continue
        seen.add(key)
        ctx.input = inp
        try:
            turn = run_state(ctx, step)
        except _NoWrites:
            continue
        except Exception:
            log.warning("prerender walk: step %s failed", step, exc_info=True)
            continue
        texts.update(dict.fromkeys(_turn_texts(turn)))
        if menus is not None:
            menus.update(str(a.on_input.params.get("menu")) for a in turn
                         if isinstance(a, Listen) and a.on_input.state == MENU_INPUT)
        queue.extend(_next_steps(ctx, turn))
    if queue:
        log.warning("prerender walk stopped after %d steps", len(seen))
    return list(texts)


def _desk_instants(ctx: WalkContext, start: datetime) -> tuple[list[datetime], list[str]]:
    """An instant of each kind (open, closed) over the coming days, and every closed-desk sentence met."""
    instants: dict[bool, datetime] = {}
    sentences: dict[str, None] = {}
    at = start
    while at < start + timedelta(days=HOURS_DAYS):
        ctx.at = at
        desk = desk_now(ctx)
        instants.setdefault(desk.open, at)
        if desk.closed_words:
            sentences[desk.closed_words] = None
        at += HOURS_STEP
    ctx.at = None
    return [start, *(t for t in instants.values() if t != start)], list(sentences)


def _menu_lines(ctx: CallContext, names: Iterable[str]) -> list[str]:
    """The choice lines of menus the walk could not reach (only a caller's own data leads there, such
    as an order number read back): built with their default parameters, without the intro, which
    would be about that data."""
    from dataclasses import replace

    texts: list[str] = []
    for name in names:
        try:
            built = menu_builder(name)(ctx)
        except Exception:
            log.warning("prerender walk: menu %s needs parameters", name, exc_info=True)
            continue
        texts += menu_says(ctx, name, replace(built, intro=[]))
    return texts


def _heard_questions(app, at: datetime) -> tuple[list[str], list[tuple[Step, Input]]]:
    """Words at a menu that match no choice are searched as a question, which is stored: these few
    turns run in a session of their own, rolled back at once. Returns what they say and where they lead."""
    session = services(app).sessionmaker()
    texts: list[str] = []
    follow: list[tuple[Step, Input]] = []
    try:
        ctx = WalkContext(app, session, call_sid="", at=at)
        for step, inp in ((Step(MENU_INPUT, {"menu": "main", "attempt": 0}), Input(speech=NOTHING_WE_KNOW)),
                          (Step("question", {}), Input(speech=NOTHING_WE_KNOW))):
            ctx.input = inp
            try:
                turn = run_state(ctx, step)
            except Exception:
                log.warning("prerender walk: step %s failed", step, exc_info=True)
                continue
            texts += _turn_texts(turn)
            follow += _next_steps(ctx, turn)
    finally:
        session.rollback()
        session.close()
    return texts, follow


def lines_to_prerender(app) -> list[str]:
    """What the flow can say that is known ahead (a `services(app).prerender` source)."""
    session = services(app).sessionmaker()

    def refuse(*_args) -> None:
        raise _NoWrites()

    event.listen(session, "before_flush", refuse)
    try:
        with session.no_autoflush:
            ctx = WalkContext(app, session, call_sid="")
            start = services(app).now()
            instants, texts = _desk_instants(ctx, start)
            questions, _keep = _stand_in_questions(ctx)
            seeds = [Step("start"), *questions]
            met: set[str] = set()
            for at in instants:
                heard, follow = _heard_questions(app, at)
                ctx.at = at
                texts += heard + walk(ctx, [*seeds, *follow], met)
            from .states import MENUS

            texts += _menu_lines(ctx, [name for name in MENUS if name not in met])
        return list(dict.fromkeys(texts))
    finally:
        session.rollback()
        session.close()
