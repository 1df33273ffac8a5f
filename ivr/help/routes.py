"""The public help page: the same answers callers hear, written for the web, and a message form.

No login. The form is CSRF-protected and resists spam without third-party services: a hidden
field only bots fill in, a signed timestamp (sent too fast or too late is refused), and a
per-address limit kept in the database.
"""
from __future__ import annotations

import re
import secrets
from datetime import timedelta

from flask import Blueprint, abort, current_app, flash, redirect, render_template, request, url_for
from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer
from sqlalchemy import select

from ..clock import system_clock
from ..db import get_session
from ..jobs.queue import enqueue
from ..kb.files import ID_RE, read_written_answer
from ..kb.models import Article, Topic
from ..kb.service import search_engine
from ..tickets.models import Ticket
from ..tickets.service import new_reference
from ..users import throttle

bp = Blueprint("help", __name__, url_prefix="/help", template_folder="templates")

EMAIL_RE = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
FORM_MAX_AGE = 24 * 3600
SEARCH_RULE = throttle.Rule("help-search", 60, timedelta(minutes=1))


def _settings():
    return current_app.config["IVR_SETTINGS"]


def _stamp() -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(current_app.config["SECRET_KEY"], salt="help-form-time")


def written_answer(article: Article) -> list[str]:
    """The web answer as paragraphs: kb_data/web/<id>.md when written, else the spoken answer."""
    text = read_written_answer(_settings().kb_path, article.id) or article.answer
    return [" ".join(p.split()) for p in re.split(r"\n\s*\n", text) if p.strip()]


def _page(status: int = 200, **context):
    session = get_session()
    topics = session.scalars(select(Topic).order_by(Topic.position)).all()
    context.setdefault("form", {})
    return render_template("help/index.html", topics=topics, business=_settings().business_name,
                           form_stamp=_stamp().dumps(secrets.token_hex(4)), **context), status


@bp.get("")
def index():
    question = " ".join((request.args.get("q") or "").split())[:300]
    if not question:
        return _page()
    session = get_session()
    address = request.remote_addr or "unknown"
    wait = throttle.retry_after(session, [(SEARCH_RULE, address)])
    if wait:
        session.rollback()
        resp = _page(429, question=question, too_many=True)
        return resp[0], 429, {"Retry-After": str(wait)}
    throttle.record(session, [(SEARCH_RULE, address)])
    session.commit()
    decision = search_engine(current_app, session).decide(question, limit=3)
    articles = {a.id: a for a in session.scalars(select(Article).where(
        Article.id.in_([h.article_id for h in decision.hits])))}
    shown = decision.hits[:1] if decision.kind == "answer" else decision.hits[:2] if decision.kind == "choose" else []
    answers = [(articles[h.article_id], written_answer(articles[h.article_id]))
               for h in shown if h.article_id in articles]
    related = [articles[h.article_id] for h in decision.hits if h.article_id in articles
               and h not in shown and h.score >= 0.1]
    return _page(question=question, answers=answers, related=related, kind=decision.kind,
                 form={"message": question} if decision.kind == "none" else {})


@bp.get("/a/<article_id>")
def article(article_id: str):
    found = get_session().get(Article, article_id) if ID_RE.match(article_id) else None
    if found is None:
        abort(404)
    return render_template("help/article.html", a=found, paragraphs=written_answer(found),
                           business=_settings().business_name)


@bp.post("/message")
def message():
    session = get_session()
    form = {k: (request.form.get(k) or "").strip() for k in ("name", "email", "message")}
    if request.form.get("website"):
        # Only bots fill the hidden field: look successful so they learn nothing, store nothing.
        flash("Thanks, your message was sent.", "info")
        return redirect(url_for("help.index") + "#message")
    try:
        issued = _stamp().loads(request.form.get("stamp") or "", max_age=FORM_MAX_AGE, return_timestamp=True)[1]
    except SignatureExpired:
        return _page(400, form=form, form_error="The form was open too long. Please send it again.")
    except BadSignature:
        return _page(400, form=form, form_error="The form was damaged. Please send it again.")
    age = (system_clock() - issued).total_seconds()
    if age < _settings().web_message_min_seconds:
        return _page(400, form=form, form_error="That was very quick. Please check your message and send it again.")
    problems = []
    if not form["name"] or len(form["name"]) > 200:
        problems.append("Please tell us your name (up to 200 characters).")
    if not EMAIL_RE.match(form["email"]) or len(form["email"]) > 254:
        problems.append("Please give an email address we can answer to.")
    if len(form["message"]) < 5 or len(form["message"]) > 5000:
        problems.append("Please write your message (5 to 5,000 characters).")
    if problems:
        return _page(400, form=form, form_error=" ".join(problems))
    address = request.remote_addr or "unknown"
    rule = throttle.Rule("web-message", _settings().web_messages_per_hour, timedelta(hours=1))
    wait = throttle.retry_after(session, [(rule, address)])
    if wait:
        session.rollback()
        minutes = max(1, -(-wait // 60))
        body, status = _page(429, form=form, form_error=f"We already have several messages from you. "
                                                        f"Please try again in {minutes} minutes.")
        return body, status, {"Retry-After": str(wait)}

    throttle.record(session, [(rule, address)])
    ticket = Ticket(kind="web", call_sid="web-" + secrets.token_hex(12), caller="", status="new",
                    contact_name=form["name"], contact_email=form["email"].lower(), message=form["message"])
    session.add(ticket)
    session.flush()
    ticket.reference = new_reference(ticket.id)
    _notify(session, ticket)
    session.commit()
    flash(f"Thanks, {form['name']}: your message was sent. Your reference is {ticket.reference}; "
          "we answer by email in business hours.", "info")
    return redirect(url_for("help.index") + "#message")


def _notify(session, ticket: Ticket) -> None:
    """Tell staff the same way as for voicemail, when notifications are set up."""
    enqueue(session, "ticket.notify", {"ticket_id": ticket.id})
