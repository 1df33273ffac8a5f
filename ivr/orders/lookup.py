"""Order numbers as callers key them, and the CSV import operators use."""
from __future__ import annotations

import csv
import re
from pathlib import Path

from sqlalchemy.orm import Session

from .models import Order

ORDER_NUMBER_RE = re.compile(r"^\d{4,10}$")
KNOWN_STATUSES = ("processing", "shipped", "out_for_delivery", "delivered", "cancelled", "returned", "on_hold")


class OrderImportError(Exception):
    """The CSV is unusable; the message names the file, line and problem."""


def is_order_number(digits: str) -> bool:
    return bool(ORDER_NUMBER_RE.match(digits))


def find_order(session: Session, digits: str) -> Order | None:
    if not is_order_number(digits):
        return None
    return session.get(Order, digits)


def import_orders(session: Session, path: Path) -> tuple[int, int]:
    """Insert or update orders from CSV (`number,status,detail`); all rows or none. Returns (added, updated)."""
    try:
        fh = open(path, newline="", encoding="utf-8-sig")
    except OSError as exc:
        raise OrderImportError(f"{path}: cannot open ({exc.strerror})") from None
    rows: list[tuple[str, str, str]] = []
    with fh:
        reader = csv.DictReader(fh)
        missing = {"number", "status"} - set(reader.fieldnames or [])
        if missing:
            raise OrderImportError(f"{path}: missing column(s) {', '.join(sorted(missing))}; expected number,status,detail")
        seen: set[str] = set()
        try:
            for row in reader:
                line = reader.line_num
                number = (row.get("number") or "").strip()
                status = (row.get("status") or "").strip().lower().replace(" ", "_")
                if not is_order_number(number):
                    raise OrderImportError(f"{path}:{line}: order number {number!r} must be 4 to 10 digits")
                if number in seen:
                    raise OrderImportError(f"{path}:{line}: order {number} appears twice")
                if not re.match(r"^[a-z_]{2,32}$", status):
                    raise OrderImportError(f"{path}:{line}: status {status!r} is not a word such as {', '.join(KNOWN_STATUSES)}")
                seen.add(number)
                rows.append((number, status, " ".join((row.get("detail") or "").split())))
        except (csv.Error, UnicodeDecodeError) as exc:
            raise OrderImportError(f"{path}: not a readable CSV file ({exc})") from None
    added = updated = 0
    for number, status, detail in rows:
        order = session.get(Order, number)
        if order is None:
            session.add(Order(number=number, status=status, detail=detail))
            added += 1
        else:
            order.status, order.detail = status, detail
            updated += 1
    session.flush()
    return added, updated
