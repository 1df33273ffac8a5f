"""Server-rendered pages for staff. Every page and every recording needs a logged-in user."""
from __future__ import annotations

import functools
import io
from datetime import datetime
from typing import Any, Callable
from urllib.parse import urlencode, urlsplit

from flask import (Blueprint, Response, abort, current_app, flash, redirect, render_template, request, send_file,
                   url_for)
from flask_login import current_user, login_required, login_user, logout_user
from sqlalchemy import select

from ..db import get_session, utcnow
from ..recordings.store import get_store
from ..tickets.models import TICKET_STATUSES, Ticket
from ..tickets.queries import (STATUS_LABELS, TicketError, TicketFilter, add_note, export, list_tickets,
                               set_assignee, set_status, ticket_history)
from ..users.models import ROLES, User

bp = Blueprint("dashboard", __name__, template_folder="templates", static_folder="static",
               static_url_path="/dashboard-static")


@bp.app_context_processor
def helpers() -> dict[str, Any]:
    return {"STATUS_LABELS": STATUS_LABELS, "TICKET_STATUSES": TICKET_STATUSES}


def admin_required(view: Callable) -> Callable:
    @functools.wraps(view)
    @login_required
    def wrapper(*args: Any, **kwargs: Any):
        if not current_user.is_admin:
            abort(403)
        return view(*args, **kwargs)

    return wrapper


def _safe_next(target: str | None) -> str:
    # Only same-site paths: never redirect to a host named in the request.
    if target and target.startswith("/") and not target.startswith("//") and not urlsplit(target).netloc:
        return target
    return url_for("dashboard.tickets")


@bp.route("/login", methods=["GET", "POST"])
def login():
    if current_user.is_authenticated:
        return redirect(url_for("dashboard.tickets"))
    if request.method == "POST":
        session = get_session()
        email = (request.form.get("email") or "").strip().lower()
        user = session.scalar(select(User).where(User.email == email))
        if user is None or not user.active or not user.check_password(request.form.get("password") or ""):
            flash("That email and password don't match an active account.", "error")
            return render_template("login.html", email=email), 401
        user.last_login_at = utcnow()
        session.commit()
        login_user(user)
        return redirect(_safe_next(request.args.get("next")))
    return render_template("login.html", email="")


@bp.post("/logout")
@login_required
def logout():
    logout_user()
    flash("You are logged out.", "info")
    return redirect(url_for("dashboard.login"))


@bp.get("/")
@login_required
def home():
    return redirect(url_for("dashboard.tickets"))


def _filter_from_request() -> TicketFilter:
    args = request.args.to_dict()
    if args.get("assignee") == "me" and current_user.is_authenticated:
        args["assignee"] = str(current_user.id)
    return TicketFilter.from_args(args)


@bp.get("/tickets")
@login_required
def tickets():
    session = get_session()
    try:
        flt = _filter_from_request()
    except TicketError as exc:
        flash(str(exc), "error")
        flt = TicketFilter()
    page = list_tickets(session, flt)
    users = session.scalars(select(User).order_by(User.email)).all()
    query = {k: v for k, v in request.args.items() if k != "page"}
    return render_template("tickets.html", page=page, flt=flt, users=users, query=query,
                           users_by_id={u.id: u for u in users},
                           page_url=lambda n: url_for("dashboard.tickets") + "?" + urlencode({**query, "page": n}),
                           export_url=url_for("dashboard.tickets_csv") + "?" + urlencode(query))


@bp.get("/tickets.csv")
@login_required
def tickets_csv():
    session = get_session()
    try:
        flt = _filter_from_request()
    except TicketError as exc:
        abort(Response(str(exc), 400))
    rows = session.scalars(flt.query().order_by(Ticket.created_at.desc())).all()
    return Response(export(rows, "csv"), mimetype="text/csv",
                    headers={"Content-Disposition": f"attachment; filename=tickets-{datetime.now():%Y%m%d}.csv"})


def _ticket_or_404(ticket_id: int) -> Ticket:
    ticket = get_session().get(Ticket, ticket_id)
    if ticket is None:
        abort(404)
    return ticket


@bp.get("/tickets/<int:ticket_id>")
@login_required
def ticket(ticket_id: int):
    session = get_session()
    t = _ticket_or_404(ticket_id)
    users = session.scalars(select(User).where(User.active).order_by(User.email)).all()
    assignee = session.get(User, t.assignee_id) if t.assignee_id else None
    has_audio = bool(t.recording_path and not t.recording_purged_at and get_store(current_app).exists(t.recording_path))
    return render_template("ticket.html", t=t, h=ticket_history(session, t), users=users, assignee=assignee,
                           has_audio=has_audio)


@bp.post("/tickets/<int:ticket_id>/note")
@login_required
def ticket_note(ticket_id: int):
    session = get_session()
    t = _ticket_or_404(ticket_id)
    try:
        add_note(session, t, request.form.get("body") or "", current_user)
        session.commit()
        flash("Note added.", "info")
    except TicketError as exc:
        flash(str(exc), "error")
    return redirect(url_for("dashboard.ticket", ticket_id=ticket_id))


@bp.post("/tickets/<int:ticket_id>/update")
@login_required
def ticket_update(ticket_id: int):
    session = get_session()
    t = _ticket_or_404(ticket_id)
    try:
        changed = False
        if "status" in request.form:
            changed |= set_status(session, t, request.form["status"], current_user)
        if "assignee" in request.form:
            raw = request.form["assignee"]
            changed |= set_assignee(session, t, int(raw) if raw.isdigit() else None, current_user)
        session.commit()
        flash("Ticket updated." if changed else "Nothing changed.", "info")
    except TicketError as exc:
        session.rollback()
        flash(str(exc), "error")
    return redirect(url_for("dashboard.ticket", ticket_id=ticket_id))


@bp.get("/tickets/<int:ticket_id>/audio")
@login_required
def ticket_audio(ticket_id: int):
    t = _ticket_or_404(ticket_id)
    if not t.recording_path or t.recording_purged_at:
        abort(404)
    store = get_store(current_app)
    try:
        path = store.local_path(t.recording_path)
        if path is None:  # stored in the database
            resp = send_file(io.BytesIO(store.read(t.recording_path)), mimetype="audio/wav", max_age=0)
        elif path.is_file():
            resp = send_file(path, mimetype="audio/wav", conditional=True, max_age=0)
        else:
            abort(404)
    except (ValueError, FileNotFoundError):
        abort(404)
    resp.headers["Cache-Control"] = "private, no-store"
    return resp


@bp.get("/users")
@admin_required
def users():
    session = get_session()
    return render_template("users.html", users=session.scalars(select(User).order_by(User.email)).all(), roles=ROLES)


@bp.post("/users")
@admin_required
def users_add():
    from ..users.service import UserError, create_user

    session = get_session()
    try:
        _, password = create_user(session, request.form.get("email") or "", request.form.get("role") or "agent",
                                  request.form.get("password") or None)
        session.commit()
        flash(f"User added. Their password: {password}" if not request.form.get("password") else "User added.", "info")
    except UserError as exc:
        session.rollback()
        flash(str(exc), "error")
    return redirect(url_for("dashboard.users"))


@bp.post("/users/<int:user_id>/active")
@admin_required
def users_toggle(user_id: int):
    session = get_session()
    user = session.get(User, user_id)
    if user is None:
        abort(404)
    if user.id == current_user.id:
        flash("You can't disable your own account.", "error")
    else:
        user.active = not user.active
        session.commit()
        flash(f"{user.email} is now {'active' if user.active else 'disabled'}.", "info")
    return redirect(url_for("dashboard.users"))
