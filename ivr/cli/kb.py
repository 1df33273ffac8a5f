"""`kb load|gaps|add-sample|eval|ask`: keep the knowledge base right, and learn from callers."""
from __future__ import annotations

import json
from pathlib import Path

import click
from sqlalchemy import func, or_, select

from ..hours.kb import HoursError, publish_configured_hours
from ..kb.evaluate import evaluate_by_kind, read_labelled_kinds
from ..kb.files import KBFormatError, add_sample_question, read_knowledge_base
from ..kb.loader import load_knowledge_base
from ..kb.models import QuestionAsked
from ..kb.service import search_engine
from . import AreaGroup, CLIError
from .context import app_session, load_app


@click.group(cls=AreaGroup, help="knowledge base: load, find gaps, add caller phrasings, evaluate")
def kb() -> None:
    pass


def _kb_path(app, override: Path | None) -> Path:
    return override or app.config["IVR_SETTINGS"].kb_path


@kb.command("load", help="validate kb_data/ and load it (all or nothing)")
@click.option("--path", type=click.Path(path_type=Path),
              help="knowledge-base folder (default: IVR_KB_PATH or kb_data/)")
@click.option("--json", "as_json", is_flag=True)
def cmd_load(path: Path | None, as_json: bool) -> int:
    app = load_app()
    path = _kb_path(app, path)
    try:
        wrong_keys = key_problems(read_knowledge_base(path))
    except KBFormatError:
        wrong_keys = []  # the load below reports the files' own problems
    if wrong_keys:
        raise CLIError("knowledge base not loaded (nothing changed): " + " | ".join(wrong_keys))
    try:
        with app_session(app) as session:
            kb = load_knowledge_base(session, path)
            publish_configured_hours(app, session)  # hours.yaml is validated too, its article written
    except (KBFormatError, HoursError) as exc:
        raise CLIError(f"knowledge base not loaded (nothing changed): {len(exc.problems)} problem(s): "
                       + " | ".join(exc.problems)) from None
    summary = {"topics": len(kb.topics), "articles": len(kb.articles), "path": str(path)}
    if as_json:
        print(json.dumps(summary))
    else:
        print(f"loaded {summary['articles']} article(s) in {summary['topics']} topic(s) from {path}")
    return 0


def key_problems(kb) -> list[str]:
    """One line per article whose answer says "press N" for something key N doesn't do (the flow's key map)."""
    from ..flow.menus import key_mention_problems

    lines = []
    for article in kb.articles:
        problems = key_mention_problems(article.answer)
        if problems:
            lines.append(f'article "{article.title}" ({article.id}): ' + "; ".join(problems))
    return lines


def gap_rows(session, limit: int) -> list[dict]:
    text = func.lower(func.trim(QuestionAsked.text))
    rows = session.execute(
        select(text.label("q"), func.count(QuestionAsked.id).label("n"), func.max(QuestionAsked.asked_at),
               func.max(QuestionAsked.article_id))
        .where(or_(QuestionAsked.outcome == "declined", QuestionAsked.helped.is_(False)))
        .group_by(text).order_by(func.count(QuestionAsked.id).desc(), func.max(QuestionAsked.asked_at).desc())
        .limit(max(limit, 1))
    ).all()
    return [{"question": q, "count": n, "last_asked": last.isoformat() if last else None, "last_offered": art}
            for q, n, last, art in rows]


@kb.command("gaps", help="questions that found nothing or were rejected, most frequent first")
@click.option("--limit", type=int, default=30)
@click.option("--json", "as_json", is_flag=True)
def cmd_gaps(limit: int, as_json: bool) -> int:
    app = load_app()
    with app_session(app) as session:
        rows = gap_rows(session, limit)
    if as_json:
        print(json.dumps(rows, indent=2))
        return 0
    if not rows:
        print("no gaps: every question so far found an answer the caller accepted")
    for r in rows:
        offered = f"  (offered: {r['last_offered']})" if r["last_offered"] else ""
        print(f"{r['count']:>4}  {r['question']}{offered}")
    return 0


@kb.command("add-sample", help="add a caller's phrasing to an article (written to kb_data/)")
@click.argument("article_id")
@click.argument("question")
@click.option("--path", type=click.Path(path_type=Path))
@click.option("--no-reload", is_flag=True, help="only edit the file; don't reload the database")
def cmd_add_sample(article_id: str, question: str, path: Path | None, no_reload: bool) -> int:
    app = load_app()
    path = _kb_path(app, path)
    try:
        written = add_sample_question(path, article_id, question)
    except (ValueError, KBFormatError) as exc:
        raise CLIError(str(exc)) from None
    print(f"added to {written}")
    if not no_reload:
        try:
            with app_session(app) as session:
                load_knowledge_base(session, path)
                publish_configured_hours(app, session)
        except (KBFormatError, HoursError) as exc:
            raise CLIError(f"file updated but the knowledge base did not reload: {exc}") from None
        print("knowledge base reloaded")
    return 0


@kb.command("eval", help="accuracy of the loaded knowledge base on a labelled CSV (text,article_id; "
                        "an empty article_id means the question should be declined; an optional kind "
                        "column, e.g. plain / wrapped / ramble / off-topic, adds a report per kind)")
@click.argument("file", type=click.Path(path_type=Path))
@click.option("--misses", "show_misses", is_flag=True, help="also list the rows that went wrong")
@click.option("--json", "as_json", is_flag=True)
def cmd_eval(file: Path, show_misses: bool, as_json: bool) -> int:
    app = load_app()
    try:
        rows = read_labelled_kinds(file)
    except (OSError, ValueError) as exc:
        raise CLIError(str(exc)) from None
    with app_session(app) as session:
        engine = search_engine(app, session)
    unknown = sorted({aid for _, aid, _ in rows if aid} - {a.id for a in engine.articles})
    if unknown:
        raise CLIError(f"{file}: article id(s) not in the loaded knowledge base: {', '.join(unknown[:5])}")
    misses: list[dict] = []
    report, by_kind = evaluate_by_kind(engine, rows, misses if show_misses else None)
    data = report.as_dict()
    if as_json:
        out = {**data, **({"by_kind": {k: r.as_dict() for k, r in by_kind.items()}} if by_kind else {})}
        print(json.dumps({**out, "misses": misses} if show_misses else out, indent=2))
        return 0
    for key, value in data.items():
        print(f"{key}={value:.4f}" if isinstance(value, float) else f"{key}={value}")
    for kind, r in by_kind.items():
        # The figures that matter per kind: right / wrong / declined for questions the knowledge
        # base covers, answered / offered a choice for those it doesn't.
        if r.in_scope:
            print(f"[{kind}] n={r.in_scope} right={r.in_scope_right:.4f} wrong={r.in_scope_wrong:.4f} "
                  f"declined={r.in_scope_declined:.4f} answered={r.answered_share:.4f} "
                  f"choice={r.choice_share:.4f} top1={r.top1:.4f}")
        if r.out_of_scope:
            print(f"[{kind}] n={r.out_of_scope} off_topic_answered={r.oos_answered:.4f} "
                  f"off_topic_choice={r.oos_choice:.4f} off_topic_declined={r.oos_declined:.4f}")
    if show_misses:
        print(f"misses ({len(misses)}):")
        for m in misses:
            want = m["expected"] or "(decline)"
            got = {"answer": "answered ", "choose": "offered "}.get(m["outcome"], "declined") + " / ".join(m["offered"])
            kind = f" ({m['kind']})" if m.get("kind") else ""
            print(f"  {m['text']!r}{kind}: expected {want}, {got} [{m['signal']}]")
    return 0


SIGNALS = {
    "confident": "the leading article is likely enough, and far enough ahead of the runner-up, to answer",
    "listed": "the question is one of the leading article's own sample questions, said again",
    "close_call": "two articles are plausible and neither clearly wins: the caller picks",
    "unsure": "the question looks covered, but no article is likely enough to read out",
    "off_topic": "the question is unlike anything the knowledge base covers",
    "empty": "nothing was asked",
}


@kb.command("ask", help="what a caller asking this would get (answer, choice or decline), and why")
@click.argument("question")
@click.option("--limit", type=int, default=3, help="candidates to show (default 3)")
@click.option("--json", "as_json", is_flag=True)
def cmd_ask(question: str, limit: int, as_json: bool) -> int:
    question = " ".join(question.split())
    if not question:
        raise CLIError("the question is empty")
    app = load_app()
    with app_session(app) as session:
        engine = search_engine(app, session)
    if not engine.articles:
        raise CLIError("no knowledge base is loaded (run: python -m ivr kb load)")
    decision = engine.decide(question, limit=max(limit, 2))
    heard = engine.heard_as(question)
    t = engine.thresholds
    outcome = {"answer": "answer", "choose": "choice", "none": "decline"}[decision.kind]
    data = {
        "question": question,
        "heard_as": heard,
        "asked": decision.asked,
        "outcome": outcome,
        "signal": decision.signal,
        "explanation": SIGNALS.get(decision.signal, ""),
        "in_scope": decision.in_scope,
        "offered": [h.article_id for h in decision.hits[: {"answer": 1, "choose": 2}.get(decision.kind, 0)]],
        "candidates": [{"article_id": h.article_id, "title": h.title, "score": h.score}
                       for h in decision.hits[: limit]],
        "thresholds": {"in_scope": t.in_scope, "answer": t.answer, "lead_ratio": t.lead_ratio,
                       "choose_floor": t.choose_floor},
        "semantic": engine.embedder is not None,
    }
    if as_json:
        print(json.dumps(data, indent=2))
        return 0
    print(f"question: {question}")
    if heard != question:
        print(f"heard as: {heard}")
    if decision.asked and decision.asked != heard:
        print(f"taken as: {decision.asked}  (fillers and wrappers dropped, or a ramble's clause)")
    if outcome == "answer":
        print(f"caller gets: the answer from {data['offered'][0]} ({decision.hits[0].title})")
    elif outcome == "choice":
        print(f"caller gets: a choice between {data['offered'][0]} and {data['offered'][1]}")
    else:
        print("caller gets: a decline (sorry, no good answer; ask again or leave a message)")
    scope = "n/a (keywords only)" if decision.in_scope is None else f"{decision.in_scope:.4f}"
    print(f"decided by: {decision.signal} - {data['explanation']}")
    print(f"in scope: {scope} (decline below {t.in_scope})")
    print(f"candidates (probability each is the right article, if the knowledge base covers the question; "
          f"answer at {t.answer}+ and {t.lead_ratio:g}x the runner-up, choice if the runner-up is {t.choose_floor}+):")
    for i, h in enumerate(data["candidates"], 1):
        print(f"  {i}. {h['article_id']:<28} {h['score']:.4f}  {h['title']}")
    return 0
