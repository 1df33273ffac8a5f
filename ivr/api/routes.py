"""/api/tickets: list, read, update status/assignee, add a note. Bearer-token auth only."""
from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

from flask import Blueprint, g, jsonify, request

from ..db import get_session
from ..tickets.queries import (
    TicketError,
    TicketFilter,
    add_note,
    find_ticket,
    list_tickets,
    set_assignee,
    set_status,
    ticket_dict,
)
from ..users.service import user_for_token

bp = Blueprint("api", __name__, url_prefix="/api")


def error(status: int, message: str):
    return jsonify({"error": message}), status


def token_required(view: Callable) -> Callable:
    @functools.wraps(view)
    def wrapper(*args: Any, **kwargs: Any):
        header = request.headers.get("Authorization", "")
        if not header.startswith("Bearer "):
            return error(401, "send 'Authorization: Bearer <token>' (create one: python -m ivr users token EMAIL)")
        session = get_session()
        user = user_for_token(session, header[7:].strip())
        if user is None:
            return error(401, "invalid, revoked or expired token")
        session.commit()
        g.api_user = user
        return view(*args, **kwargs)

    return wrapper


def with_ticket(view: Callable) -> Callable:
    """Resolve the <ident> in the URL (id or reference) to a ticket, or answer 404."""

    @functools.wraps(view)
    def wrapper(ident: str):
        session = get_session()
        ticket = find_ticket(session, ident)
        if ticket is None:
            return error(404, f"no ticket {ident!r}")
        return view(session, ticket)

    return wrapper


@bp.get("/tickets")
@token_required
def list_():
    session = get_session()
    try:
        page = list_tickets(session, TicketFilter.from_args(request.args))
    except TicketError as exc:
        return error(400, str(exc))
    return jsonify({"tickets": [ticket_dict(t) for t in page.tickets], "total": page.total, "page": page.page,
                    "pages": page.pages, "counts": page.counts})


@bp.get("/tickets/<ident>")
@token_required
@with_ticket
def read(session, ticket):
    return jsonify(ticket_dict(ticket, session, full=True))


@bp.patch("/tickets/<ident>")
@token_required
@with_ticket
def update(session, ticket):
    body = request.get_json(silent=True)
    if not isinstance(body, dict) or not ({"status", "assignee_id"} & set(body)):
        return error(400, "send JSON with 'status' and/or 'assignee_id'")
    try:
        if "status" in body:
            set_status(session, ticket, str(body["status"]), g.api_user)
        if "assignee_id" in body:
            value = body["assignee_id"]
            if value is not None and not isinstance(value, int):
                return error(400, "assignee_id must be a user id or null")
            set_assignee(session, ticket, value, g.api_user)
        session.commit()
    except TicketError as exc:
        session.rollback()
        return error(400, str(exc))
    return jsonify(ticket_dict(ticket, session, full=True))


@bp.post("/tickets/<ident>/notes")
@token_required
@with_ticket
def note(session, ticket):
    body = request.get_json(silent=True) or {}
    try:
        created = add_note(session, ticket, str(body.get("body") or ""), g.api_user)
        session.commit()
    except TicketError as exc:
        session.rollback()
        return error(400, str(exc))
    return jsonify({"id": created.id, "body": created.body, "created_at": created.created_at.isoformat()}), 201
