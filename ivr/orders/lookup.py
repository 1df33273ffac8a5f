"""Order numbers as callers key them, and the orders table operators fill from CSV.

CSV columns: `number,status,detail` and, optionally, `phone,postcode` — when either is set the
caller must match it before the order's details are read (see verify.py).
"""
from __future__ import annotations

import csv
import re
from pathlib import Path

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from .models import Order

ORDER_NUMBER_RE = re.compile(r"^\d{4,10}$")
KNOWN_STATUSES = ("processing", "shipped", "out_for_delivery", "delivered", "cancelled", "returned", "on_hold")
_PHONE_RE = re.compile(r"^\+?[0-9 ()./-]{7,24}$")
_POSTCODE_RE = re.compile(r"^[A-Za-z0-9 -]{3,12}$")


class OrderImportError(Exception):
    """The CSV is unusable; the message names the file, line and problem."""


def is_order_number(digits: str) -> bool:
    return bool(ORDER_NUMBER_RE.match(digits or ""))


def find_order(session: Session, digits: str) -> Order | None:
    if not is_order_number(digits):
        return None
    return session.get(Order, digits)


def count_orders(session: Session) -> int:
    return session.scalar(select(func.count()).select_from(Order)) or 0


def list_orders(session: Session, *, status: str | None = None, limit: int | None = None) -> list[Order]:
    query = select(Order).order_by(Order.number)
    if status:
        query = query.where(Order.status == status)
    if limit:
        query = query.limit(limit)
    return list(session.scalars(query))


def delete_orders(session: Session, numbers: list[str]) -> list[str]:
    """Delete these orders; returns the numbers that were not there."""
    found = set(session.scalars(select(Order.number).where(Order.number.in_(numbers))))
    session.execute(delete(Order).where(Order.number.in_(found)))
    return [n for n in numbers if n not in found]


def read_orders_csv(path: Path) -> list[dict[str, str | None]]:
    """Parse and check every row first; OrderImportError names the file, line and problem."""
    try:
        fh = open(path, newline="", encoding="utf-8-sig")
    except OSError as exc:
        raise OrderImportError(f"{path}: cannot open ({exc.strerror})") from None
    rows: list[dict[str, str | None]] = []
    with fh:
        reader = csv.DictReader(fh)
        missing = {"number", "status"} - set(reader.fieldnames or [])
        if missing:
            raise OrderImportError(f"{path}: missing column(s) {', '.join(sorted(missing))}; "
                                   "expected number,status,detail[,phone,postcode]")
        seen: set[str] = set()
        try:
            for row in reader:
                line = reader.line_num
                number = (row.get("number") or "").strip()
                status = (row.get("status") or "").strip().lower().replace(" ", "_")
                phone = (row.get("phone") or "").strip() or None
                postcode = (row.get("postcode") or "").strip().upper() or None
                if not is_order_number(number):
                    raise OrderImportError(f"{path}:{line}: order number {number!r} must be 4 to 10 digits")
                if number in seen:
                    raise OrderImportError(f"{path}:{line}: order {number} appears twice")
                if not re.match(r"^[a-z_]{2,32}$", status):
                    raise OrderImportError(f"{path}:{line}: status {status!r} is not a word such as "
                                           f"{', '.join(KNOWN_STATUSES)}")
                if phone and not _PHONE_RE.match(phone):
                    raise OrderImportError(f"{path}:{line}: phone {phone!r} is not a phone number such as +12075550123")
                if postcode and not _POSTCODE_RE.match(postcode):
                    raise OrderImportError(f"{path}:{line}: postcode {postcode!r} is not a postcode such as 04101")
                seen.add(number)
                rows.append({"number": number, "status": status, "phone": phone, "postcode": postcode,
                             "detail": " ".join((row.get("detail") or "").split())})
        except (csv.Error, UnicodeDecodeError) as exc:
            raise OrderImportError(f"{path}: not a readable CSV file ({exc})") from None
    return rows


def import_orders(session: Session, path: Path, *, only_if_empty: bool = False) -> tuple[int, int]:
    """Insert or update orders from CSV; all rows or none. Returns (added, updated).

    `only_if_empty` (the sample data at set-up) imports nothing when the table has any order, so
    set-up never writes the samples over a shop's real orders with the same numbers.
    """
    rows = read_orders_csv(path)
    if only_if_empty and count_orders(session):
        return 0, 0
    added = updated = 0
    for row in rows:
        order = session.get(Order, row["number"])
        if order is None:
            session.add(Order(**row))
            added += 1
        else:
            for key, value in row.items():
                setattr(order, key, value)
            updated += 1
    session.flush()
    return added, updated
