"""Server-rendered pages for staff. Every page and every recording needs a logged-in user."""
from __future__ import annotations

import functools
import io
import threading
from collections.abc import Callable
from datetime import datetime
from typing import Any
from urllib.parse import urlencode, urlsplit

from flask import (
    Blueprint,
    Response,
    abort,
    current_app,
    flash,
    jsonify,
    redirect,
    render_template,
    request,
    send_file,
    url_for,
)
from flask_login import current_user, login_required, login_user, logout_user
from sqlalchemy import func, select
from werkzeug.security import check_password_hash, generate_password_hash

from ..clock import system_clock
from ..db import get_session, utcnow
from ..insights.clock import business_tz, format_duration, format_local
from ..recordings.store import get_store
from ..tickets.models import TICKET_STATUSES, Ticket
from ..tickets.queries import (
    KIND_LABELS,
    OPEN,
    STATUS_LABELS,
    TicketError,
    TicketFilter,
    add_note,
    call_log,
    export,
    list_tickets,
    set_assignee,
    set_status,
    ticket_history,
)
from ..users import throttle
from ..users.models import ROLES, User
from ..users.service import (
    UserError,
    change_password,
    create_user,
    issue_token,
    list_tokens,
    reset_password,
    revoke_token,
    set_active,
    set_role,
)
from .security import valid_id

bp = Blueprint("dashboard", __name__, template_folder="templates", static_folder="static",
               static_url_path="/dashboard-static")

# Password hashing is deliberately slow (~0.1 s of CPU). One hash at a time per process keeps a
# login flood from starving the voice webhooks of CPU; the throttle below stops most floods before it.
_hash_slot = threading.BoundedSemaphore(1)
HASH_WAIT_SECONDS = 3.0


@functools.cache
def _dummy_hash() -> str:
    """Checked for unknown accounts so they take as long to refuse as known ones."""
    return generate_password_hash("not-a-real-password-only-for-timing")


@bp.app_template_filter("localtime")
def localtime_filter(moment: datetime | None, fmt: str = "%Y-%m-%d %H:%M") -> str:
    return format_local(moment, business_tz(), fmt)


@bp.app_template_filter("since")
def since_filter(moment: datetime | None) -> str:
    return format_duration((utcnow() - moment).total_seconds()) if moment else ""


@bp.app_context_processor
def helpers() -> dict[str, Any]:
    return {"STATUS_LABELS": STATUS_LABELS, "TICKET_STATUSES": TICKET_STATUSES, "KIND_LABELS": KIND_LABELS,
            "business_zone": business_tz().key, "blueprints": current_app.blueprints}


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
    if target and target.startswith("/") and not target.startswith("//") and not urlsplit(target).netloc \
            and "\\" not in target:
        return target
    return url_for("dashboard.tickets")


def _login_rules() -> tuple[throttle.Rule, throttle.Rule]:
    s = current_app.config["IVR_SETTINGS"]
    from datetime import timedelta

    window = timedelta(seconds=s.login_window_seconds)
    return (throttle.Rule("login-account", s.login_max_failures, window),
            throttle.Rule("login-address", s.login_max_failures_per_address, window))


def _too_many(retry: int, email: str):
    minutes = max(1, -(-retry // 60))
    flash(f"Too many failed logins. Try again in {minutes} minute{'s' if minutes > 1 else ''}.", "error")
    resp = Response(render_template("login.html", email=email), 429)
    resp.headers["Retry-After"] = str(retry)
    return resp


@bp.route("/login", methods=["GET", "POST"])
def login():
    if current_user.is_authenticated:
        return redirect(url_for("dashboard.tickets"))
    if request.method != "POST":
        return render_template("login.html", email="")
    session = get_session()
    email = (request.form.get("email") or "").strip().lower()[:254]
    password = (request.form.get("password") or "")[:200]
    address = request.remote_addr or "unknown"
    account_rule, address_rule = _login_rules()
    checks = [(account_rule, email), (address_rule, address)]
    # Refuse throttled attempts before any hashing: a flood costs a cheap indexed query each.
    retry = throttle.retry_after(session, checks)
    if retry:
        session.rollback()
        return _too_many(retry, email)
    user = session.scalar(select(User).where(User.email == email))
    session.commit()  # no transaction stays open while we hash
    if not _hash_slot.acquire(timeout=HASH_WAIT_SECONDS):
        resp = Response(render_template("login.html", email=email), 429)
        resp.headers["Retry-After"] = "2"
        return resp
    try:
        # The same work for unknown, disabled and real accounts: no timing tells them apart.
        ok = check_password_hash(user.password_hash if user else _dummy_hash(), password)
    finally:
        _hash_slot.release()
    if user is None or not user.active or not ok:
        throttle.record(session, checks)
        session.commit()
        flash("That email and password don't match an active account.", "error")
        return render_template("login.html", email=email), 401
    throttle.clear(session, account_rule, email)
    user.last_login_at = utcnow()
    session.commit()
    login_user(user)
    return redirect(_safe_next(request.args.get("next")))


@bp.post("/logout")
@login_required
def logout():
    session = get_session()
    user = session.get(User, current_user.id)
    user.end_sessions()  # the cookie we issued (and any copy of it) no longer logs anyone in
    session.commit()
    logout_user()
    flash("You are logged out.", "info")
    return redirect(url_for("dashboard.login"))


@bp.route("/account", methods=["GET", "POST"])
@login_required
def account():
    if request.method == "POST":
        session = get_session()
        user = session.get(User, current_user.id)
        new = request.form.get("new_password") or ""
        if not user.check_password(request.form.get("current_password") or ""):
            flash("Your current password is not right.", "error")
        elif new != request.form.get("confirm_password"):
            flash("The new passwords don't match.", "error")
        else:
            try:
                change_password(user, new)
                session.commit()
                login_user(user)  # this session continues with the new version; others end
                flash("Password changed. You stay logged in here; other sessions were logged out.", "info")
                return redirect(url_for("dashboard.account"))
            except UserError as exc:
                session.rollback()
                flash(str(exc), "error")
        return render_template("account.html"), 400
    return render_template("account.html")


@bp.get("/")
@login_required
def home():
    return redirect(url_for("dashboard.tickets"))


# --------------------------------------------------------------------------- tickets

def _filter_from_request() -> TicketFilter:
    args = request.args.to_dict()
    if args.get("assignee") == "me" and current_user.is_authenticated:
        args["assignee"] = str(current_user.id)
    flt = TicketFilter.from_args(args, default_status=OPEN)
    flt.tz = business_tz()  # "From" and "To" are the business's days
    return flt


def _signature(session, flt: TicketFilter) -> str:
    """Changes whenever a ticket the list shows is added or changed: the page polls it."""
    sub = flt.query().subquery()
    count, latest, updated = session.execute(
        select(func.count(), func.max(sub.c.id), func.max(sub.c.updated_at))).one()
    return f"{count}:{latest or 0}:{updated.isoformat() if updated else ''}"


@bp.get("/tickets")
@login_required
def tickets():
    session = get_session()
    try:
        flt = _filter_from_request()
    except TicketError as exc:
        flash(str(exc), "error")
        return redirect(url_for("dashboard.tickets"))
    page = list_tickets(session, flt)
    users = session.scalars(select(User).order_by(User.email)).all()
    query = {k: v for k, v in request.args.items() if k != "page"}
    view = ("mine" if flt.assignee == str(current_user.id) else "unassigned" if flt.assignee == "none"
            else "all")
    return render_template("tickets.html", page=page, flt=flt, users=users, query=query, view=view,
                           users_by_id={u.id: u for u in users}, now=utcnow(), signature=_signature(session, flt),
                           page_url=lambda n: url_for("dashboard.tickets") + "?" + urlencode({**query, "page": n}),
                           feed_url=url_for("dashboard.tickets_feed") + "?" + urlencode(request.args),
                           export_url=url_for("dashboard.tickets_csv") + "?" + urlencode(query))


@bp.get("/tickets/feed.json")
@login_required
def tickets_feed():
    """What the ticket list polls to notice new or changed tickets without a reload."""
    try:
        flt = _filter_from_request()
    except TicketError as exc:
        return jsonify({"error": str(exc)}), 400
    session = get_session()
    newest = session.scalar(flt.query().with_only_columns(func.max(Ticket.id)))
    return jsonify({"signature": _signature(session, flt), "newest_id": newest})


@bp.post("/tickets/bulk")
@login_required
def tickets_bulk():
    session = get_session()
    ids = [i for i in (valid_id(v) for v in request.form.getlist("ids")) if i]
    action = request.form.get("action") or ""
    back = _safe_next(request.form.get("back"))
    if not ids:
        flash("Tick at least one ticket first.", "error")
        return redirect(back)
    rows = session.scalars(select(Ticket).where(Ticket.id.in_(ids))).all()
    try:
        changed = 0
        for t in rows:
            if action == "resolve":
                changed += set_status(session, t, "resolved", current_user)
            elif action == "assign_me":
                changed += set_assignee(session, t, current_user.id, current_user)
            elif action == "unassign":
                changed += set_assignee(session, t, None, current_user)
            elif action.startswith("assign:") and valid_id(action[7:]):
                changed += set_assignee(session, t, valid_id(action[7:]), current_user)
            else:
                raise TicketError("choose what to do with the ticked tickets")
        session.commit()
        flash(f"{changed} ticket{'s' if changed != 1 else ''} updated.", "info")
    except TicketError as exc:
        session.rollback()
        flash(str(exc), "error")
    return redirect(back)


@bp.get("/tickets.csv")
@login_required
def tickets_csv():
    session = get_session()
    try:
        flt = _filter_from_request()
    except TicketError as exc:
        abort(Response(str(exc), 400))
    rows = session.scalars(flt.query().order_by(Ticket.created_at.desc())).all()
    return Response(export(rows, "csv", session), mimetype="text/csv",
                    headers={"Content-Disposition": f"attachment; filename=tickets-{system_clock():%Y%m%d}.csv"})


def _ticket_or_404(ticket_id: int) -> Ticket:
    ticket = get_session().get(Ticket, ticket_id) if valid_id(ticket_id) else None
    if ticket is None:
        abort(404)
    return ticket


def _neighbours(session, t: Ticket) -> tuple[int | None, int | None]:
    """Previous (newer) and next (older) open tickets, in the list's default order."""
    base = select(Ticket.id).where(Ticket.status != "resolved")
    newer = session.scalar(base.where((Ticket.created_at > t.created_at) |
                                      ((Ticket.created_at == t.created_at) & (Ticket.id > t.id)))
                           .order_by(Ticket.created_at.asc(), Ticket.id.asc()).limit(1))
    older = session.scalar(base.where((Ticket.created_at < t.created_at) |
                                      ((Ticket.created_at == t.created_at) & (Ticket.id < t.id)))
                           .order_by(Ticket.created_at.desc(), Ticket.id.desc()).limit(1))
    return newer, older


@bp.get("/tickets/<int:ticket_id>")
@login_required
def ticket(ticket_id: int):
    session = get_session()
    t = _ticket_or_404(ticket_id)
    users = session.scalars(select(User).where(User.active).order_by(User.email)).all()
    assignee = session.get(User, t.assignee_id) if t.assignee_id else None
    has_audio = bool(t.recording_path and not t.recording_purged_at and get_store(current_app).exists(t.recording_path))
    previous, following = _neighbours(session, t)
    return render_template("ticket.html", t=t, h=ticket_history(session, t), users=users, assignee=assignee,
                           has_audio=has_audio, log=call_log(session, t.call_sid), previous=previous,
                           following=following, now=utcnow())


@bp.post("/tickets/<int:ticket_id>/note")
@login_required
def ticket_note(ticket_id: int):
    session = get_session()
    t = _ticket_or_404(ticket_id)
    try:
        add_note(session, t, request.form.get("body") or "", current_user,
                 for_caller=request.form.get("for_caller") == "1")
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
            if raw and not valid_id(raw):
                raise TicketError("choose an assignee from the list")
            changed |= set_assignee(session, t, valid_id(raw), current_user)
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


# --------------------------------------------------------------------------- users and tokens

def _render_users(status: int = 200, **extra: Any):
    session = get_session()
    return render_template("users.html", users=session.scalars(select(User).order_by(User.email)).all(),
                           roles=ROLES, tokens=list_tokens(session), now=utcnow(), **extra), status


def _user_or_404(user_id: int) -> User:
    user = get_session().get(User, user_id) if valid_id(user_id) else None
    if user is None:
        abort(404)
    return user


@bp.get("/users")
@admin_required
def users():
    return _render_users()


@bp.post("/users")
@admin_required
def users_add():
    session = get_session()
    try:
        user, password = create_user(session, request.form.get("email") or "", request.form.get("role") or "agent",
                                     request.form.get("password") or None)
        session.commit()
    except UserError as exc:
        session.rollback()
        flash(str(exc), "error")
        return redirect(url_for("dashboard.users"))
    if request.form.get("password"):
        flash("User added.", "info")
        return redirect(url_for("dashboard.users"))
    # Shown once, in this response only (never put in the session cookie).
    return _render_users(secret=(f"Password for {user.email}", password))


@bp.post("/users/<int:user_id>/active")
@admin_required
def users_toggle(user_id: int):
    session = get_session()
    user = _user_or_404(user_id)
    if user.id == current_user.id:
        flash("You can't disable your own account.", "error")
        return redirect(url_for("dashboard.users"))
    try:
        set_active(session, user, not user.active)
        session.commit()
        flash(f"{user.email} is now {'active' if user.active else 'disabled'}.", "info")
    except UserError as exc:
        session.rollback()
        flash(str(exc), "error")
    return redirect(url_for("dashboard.users"))


@bp.post("/users/<int:user_id>/role")
@admin_required
def users_role(user_id: int):
    session = get_session()
    user = _user_or_404(user_id)
    try:
        changed = set_role(session, user, request.form.get("role") or "")
        session.commit()
        flash(f"{user.email} is now {user.role}." if changed else "Nothing changed.", "info")
    except UserError as exc:
        session.rollback()
        flash(str(exc), "error")
    return redirect(url_for("dashboard.users"))


@bp.post("/users/<int:user_id>/password")
@admin_required
def users_reset_password(user_id: int):
    session = get_session()
    user = _user_or_404(user_id)
    try:
        password = reset_password(user, request.form.get("password") or None)
        session.commit()
    except UserError as exc:
        session.rollback()
        flash(str(exc), "error")
        return redirect(url_for("dashboard.users"))
    if user.id == current_user.id:
        login_user(user)
    return _render_users(secret=(f"New password for {user.email} (their sessions were logged out)", password))


@bp.post("/tokens")
@admin_required
def tokens_add():
    session = get_session()
    user = _user_or_404(valid_id(request.form.get("user_id")) or 0)
    days_raw = (request.form.get("days") or "").strip()
    try:
        if days_raw and not days_raw.isdigit():
            raise UserError("days must be a whole number (blank: never expires)")
        _, token = issue_token(session, user, request.form.get("name") or "api", int(days_raw) if days_raw else None)
        session.commit()
    except UserError as exc:
        session.rollback()
        flash(str(exc), "error")
        return redirect(url_for("dashboard.users"))
    return _render_users(secret=(f"API token for {user.email} (shown once: copy it now)", token))


@bp.post("/tokens/<int:token_id>/revoke")
@admin_required
def tokens_revoke(token_id: int):
    session = get_session()
    if not valid_id(token_id):
        abort(404)
    try:
        row = revoke_token(session, token_id)
        session.commit()
        flash(f"Token {row.name!r} revoked.", "info")
    except UserError:
        abort(404)
    return redirect(url_for("dashboard.users"))
