"""Knowledge-base pages: articles (create, edit, retire), gaps from callers, and "try a question".

Every change is written to the `kb_data/` files (reviewable in version control), checked exactly as
`kb load` checks them, and loaded in one transaction; the search index is rebuilt in the background.
"""
from __future__ import annotations

import logging
import re
import threading
from pathlib import Path

from flask import Flask, abort, current_app, flash, redirect, render_template, request, url_for
from flask_login import login_required
from sqlalchemy import case, func, or_, select

from ..db import get_session, session_scope
from ..kb.article import ArticleText
from ..kb.files import ID_RE, KBFormatError, add_sample_question, read_written_answer, retire_article, write_article
from ..kb.loader import load_knowledge_base
from ..kb.models import Article, QuestionAsked, Topic
from ..kb.service import search_engine
from ..services import services
from .routes import bp

log = logging.getLogger(__name__)


def kb_dir() -> Path:
    return current_app.config["IVR_SETTINGS"].kb_path


def _warm(app: Flask) -> None:
    """Build the new index (and let the speaker render new answers) off the request."""
    try:
        with app.app_context(), session_scope(services(app).sessionmaker) as session:
            search_engine(app, session)
    except Exception:
        log.exception("rebuilding the search index after a knowledge-base edit failed")


def publish(undo: dict[Path, str | None]) -> None:
    """Load the edited files into the database; on any problem put the files back as they were."""
    session = get_session()
    try:
        load_knowledge_base(session, kb_dir())
        session.commit()
    except KBFormatError:
        session.rollback()
        for path, text in undo.items():
            if text is None:
                path.unlink(missing_ok=True)
            else:
                path.write_text(text, encoding="utf-8")
        raise
    threading.Thread(target=_warm, args=(current_app._get_current_object(),), daemon=True,
                     name="kb-reload").start()


def _snapshot(*paths: Path) -> dict[Path, str | None]:
    return {p: (p.read_text(encoding="utf-8") if p.exists() else None) for p in paths}


def confidence_words(score: float) -> str:
    if score >= 0.8:
        return "very likely"
    if score >= 0.5:
        return "likely"
    if score >= 0.2:
        return "possible"
    return "unlikely"


def explain(question: str) -> dict:
    """What a caller asking `question` would get, and why, in words."""
    session = get_session()
    engine = search_engine(current_app, session)
    decision = engine.decide(question, limit=5)
    hits = [{"id": h.article_id, "title": h.title, "score": h.score, "percent": round(100 * h.score),
             "words": confidence_words(h.score)} for h in decision.hits]
    if decision.kind == "answer":
        verdict = (f"A caller would hear “{hits[0]['title']}”: it is {hits[0]['words']} to be right "
                   f"({hits[0]['percent']}% sure).")
    elif decision.kind == "choose":
        verdict = ("Two answers are close, so a caller would be asked to choose between "
                   f"“{hits[0]['title']}” and “{hits[1]['title']}”.")
    elif decision.signal == "off_topic":
        verdict = ("A caller would be told we have no answer and offered to leave a message: the question "
                   f"looks outside what the knowledge base covers (only {round(100 * decision.in_scope)}% "
                   "likely to be in scope).")
    else:
        best = f" The best match, “{hits[0]['title']}”, is only {hits[0]['percent']}% sure." if hits else ""
        verdict = "A caller would be told we have no answer and offered to leave a message." + best
    heard = engine.heard_as(question)
    return {"question": question, "kind": decision.kind, "verdict": verdict, "hits": hits,
            "heard_as": heard if heard.lower() != question.lower() else None}


@bp.get("/kb")
@login_required
def kb_articles():
    session = get_session()
    topics = session.scalars(select(Topic).order_by(Topic.position)).all()
    question = (request.args.get("q") or "").strip()[:300]
    tried = explain(question) if question else None
    return render_template("kb_articles.html", topics=topics, tried=tried, question=question)


def _form_article(article_id: str) -> tuple[ArticleText, str]:
    f = request.form

    def lines(name: str, sep: str) -> tuple[str, ...]:
        return tuple(x.strip() for x in re.split(sep, f.get(name) or "") if x.strip())

    article = ArticleText(id=article_id, title=" ".join((f.get("title") or "").split()),
                          topic=(f.get("topic") or "").strip(), answer=" ".join((f.get("answer") or "").split()),
                          questions=lines("questions", r"[\r\n]+"), keywords=lines("keywords", r"[,\r\n]+"),
                          spoken_title=" ".join((f.get("spoken_title") or "").split()))
    return article, f.get("written") or ""


def _slug(title: str) -> str:
    return re.sub(r"-+", "-", re.sub(r"[^a-z0-9]+", "-", title.lower())).strip("-")[:64].strip("-")


def _editor(article: ArticleText | None, written: str, new: bool, problems: list[str] | None = None, status=200):
    topics = get_session().scalars(select(Topic).order_by(Topic.position)).all()
    return render_template("kb_edit.html", a=article, written=written, new=new, topics=topics,
                           problems=problems or []), status


@bp.route("/kb/articles/new", methods=["GET", "POST"])
@login_required
def kb_new():
    if request.method == "GET":
        question = " ".join((request.args.get("question") or "").split())[:300]
        draft = ArticleText(id="", title="", topic="", answer="", questions=(question,) if question else ())
        return _editor(draft, "", True)
    article_id = (request.form.get("id") or "").strip().lower() or _slug(request.form.get("title") or "")
    article, written = _form_article(article_id)
    path = kb_dir() / "articles" / f"{article_id}.md"
    web = kb_dir() / "web" / f"{article_id}.md"
    try:
        if not ID_RE.match(article_id):
            raise KBFormatError([f"id {article_id!r} is invalid: lowercase letters, digits and dashes"])
        undo = _snapshot(path, web)
        write_article(kb_dir(), article, written, new=True)
        publish(undo)
    except KBFormatError as exc:
        return _editor(article, written, True, exc.problems, 400)
    flash(f"Article “{article.title}” created in {path.relative_to(kb_dir().parent)} and loaded.", "info")
    return redirect(url_for("dashboard.kb_edit", article_id=article_id))


def _article_or_404(article_id: str) -> Article:
    article = get_session().get(Article, article_id) if ID_RE.match(article_id) else None
    if article is None:
        abort(404)
    return article


@bp.route("/kb/articles/<article_id>", methods=["GET", "POST"])
@login_required
def kb_edit(article_id: str):
    stored = _article_or_404(article_id)
    if request.method == "GET":
        return _editor(stored.to_text(), read_written_answer(kb_dir(), article_id) or "", False)
    article, written = _form_article(article_id)
    path = kb_dir() / "articles" / f"{article_id}.md"
    web = kb_dir() / "web" / f"{article_id}.md"
    try:
        undo = _snapshot(path, web)
        write_article(kb_dir(), article, written)
        publish(undo)
    except KBFormatError as exc:
        return _editor(article, written, False, exc.problems, 400)
    flash(f"Saved to {path.relative_to(kb_dir().parent)} and loaded; callers hear the new answer now.", "info")
    return redirect(url_for("dashboard.kb_edit", article_id=article_id))


@bp.post("/kb/articles/<article_id>/retire")
@login_required
def kb_retire(article_id: str):
    stored = _article_or_404(article_id)
    path = kb_dir() / "articles" / f"{article_id}.md"
    undo = _snapshot(path)
    try:
        target = retire_article(kb_dir(), article_id)
        undo[target] = None
        publish(undo)
    except KBFormatError as exc:
        flash("Not retired: " + "; ".join(exc.problems), "error")
        return redirect(url_for("dashboard.kb_edit", article_id=article_id))
    flash(f"“{stored.title}” retired (moved to {target.relative_to(kb_dir().parent)}).", "info")
    return redirect(url_for("dashboard.kb_articles"))


# --------------------------------------------------------------------------- gaps

def gap_groups(session, limit: int = 50) -> list[dict]:
    """Declined and unhelpful questions grouped by wording, most frequent first, minus those now covered."""
    text = func.lower(func.trim(QuestionAsked.text))
    rows = session.execute(
        select(text.label("q"), func.count(QuestionAsked.id), func.max(QuestionAsked.asked_at),
               func.sum(case((QuestionAsked.outcome == "declined", 1), else_=0)))
        .where(or_(QuestionAsked.outcome == "declined", QuestionAsked.helped.is_(False)))
        .group_by(text).order_by(func.count(QuestionAsked.id).desc(), func.max(QuestionAsked.asked_at).desc())
        .limit(limit * 3)
    ).all()
    covered = {" ".join(q.lower().split()) for qs in session.scalars(select(Article.questions)) for q in qs or ()}
    groups = []
    for q, n, last, declined in rows:
        q = " ".join((q or "").split())
        if not q or q in covered:
            continue
        groups.append({"question": q, "count": n, "last_asked": last, "declined": int(declined or 0),
                       "unhelpful": n - int(declined or 0)})
        if len(groups) >= limit:
            break
    return groups


@bp.get("/kb/gaps")
@login_required
def kb_gaps():
    session = get_session()
    groups = gap_groups(session)
    if groups:
        engine = search_engine(current_app, session)
        for g in groups:
            hits = engine.search(g["question"], limit=1)
            g["suggested"] = hits[0] if hits else None
    articles = session.execute(select(Article.id, Article.title).order_by(Article.title)).all()
    return render_template("kb_gaps.html", groups=groups, articles=articles)


@bp.post("/kb/gaps/add")
@login_required
def kb_gaps_add():
    question = " ".join((request.form.get("question") or "").split())[:300]
    article_id = (request.form.get("article_id") or "").strip()
    stored = _article_or_404(article_id)
    path = kb_dir() / "articles" / f"{article_id}.md"
    undo = _snapshot(path)
    try:
        add_sample_question(kb_dir(), article_id, question)
        publish(undo)
    except (ValueError, KBFormatError) as exc:
        flash(f"Not added: {exc}", "error")
        return redirect(url_for("dashboard.kb_gaps"))
    flash(f"Added “{question}” to “{stored.title}”; callers asking that now get this answer.", "info")
    return redirect(url_for("dashboard.kb_gaps"))
