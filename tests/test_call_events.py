"""Every call-log event kind is declared once (ivr/calls/events.py) and staff can read each one."""
from __future__ import annotations

import ast
import re

from ivr.calls.events import Event
from ivr.tickets.queries import describe_event

from .conftest import ROOT

IVR = ROOT / "ivr"
# A writer of the call log, and where its kind is: (positional index, keyword name).
WRITERS = {"log": (0, "kind"), "note": (0, "kind"), "_log": (0, "kind"), "log_event": (2, "kind"),
           "PendingEvent": (0, "kind"), "CallEvent": (None, "kind"), "record_handoff": (None, None)}
LOGGERS = {"log", "logger", "logging", "math"}  # `log.warning(...)`, `math.log(x)` are not the call log


def _kind_arg(call: ast.Call) -> ast.expr | None:
    func = call.func
    if isinstance(func, ast.Attribute):
        name = func.attr
        receiver = func.value
        if isinstance(receiver, ast.Name) and receiver.id in LOGGERS:
            return None
        if isinstance(receiver, ast.Attribute) and receiver.attr == "logger":
            return None
    elif isinstance(func, ast.Name):
        name = func.id
    else:
        return None
    if name not in WRITERS:
        return None
    index, keyword = WRITERS[name]
    for kw in call.keywords:
        if kw.arg == keyword:
            return kw.value
    if index is not None and len(call.args) > index:
        return call.args[index]
    return None


def _literals(node: ast.expr) -> list[str]:
    """String constants an expression can evaluate to (`"a" if x else "b"` has two)."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return [node.value]
    if isinstance(node, ast.IfExp):
        return _literals(node.body) + _literals(node.orelse)
    if isinstance(node, ast.JoinedStr):
        return ["<f-string>"]
    return []


def _sources():
    for path in sorted(IVR.rglob("*.py")):
        if "migrations" not in path.parts:
            yield path, ast.parse(path.read_text(), filename=str(path))


def test_no_code_logs_a_kind_by_a_bare_string():
    found = []
    for path, tree in _sources():
        for node in ast.walk(tree):
            if isinstance(node, ast.Call) and (kind := _kind_arg(node)) is not None:
                found += [f"{path.relative_to(ROOT)}:{node.lineno}: {text!r}" for text in _literals(kind)]
    assert not found, "log an `Event` (ivr/calls/events.py), not a string:\n" + "\n".join(found)


def test_every_event_named_in_the_code_is_declared():
    unknown = []
    for path, tree in _sources():
        for node in ast.walk(tree):
            if (isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id == "Event"
                    and node.attr.isupper() and node.attr not in Event.__members__):
                unknown.append(f"{path.relative_to(ROOT)}:{node.lineno}: Event.{node.attr}")
    assert not unknown, "\n".join(unknown)


def _is_event_kind(node: ast.expr) -> bool:
    """`CallEvent.kind`, or the `kind` of a loaded or pending event (`e.kind`, `event.kind`)."""
    return (isinstance(node, ast.Attribute) and node.attr == "kind" and isinstance(node.value, ast.Name)
            and node.value.id in {"CallEvent", "e", "event"})


def test_readers_match_kinds_by_name():
    """A reader matching `CallEvent.kind == "..."` would silently miss a kind renamed where it is written."""
    literal = []
    for path, tree in _sources():
        for node in ast.walk(tree):
            if isinstance(node, ast.Compare) and _is_event_kind(node.left):
                values = [text for right in node.comparators for text in _literals(right)]
            elif (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "in_"
                  and _is_event_kind(node.func.value)):
                values = [text for arg in node.args for elt in getattr(arg, "elts", [arg]) for text in _literals(elt)]
            else:
                continue
            literal += [f"{path.relative_to(ROOT)}:{node.lineno}: {text!r}" for text in values]
    assert not literal, "match an `Event`, not a string:\n" + "\n".join(literal)


def test_each_kind_is_declared_once_with_its_meaning():
    values = [e.value for e in Event]
    assert len(values) == len(set(values))
    source = (IVR / "calls" / "events.py").read_text()
    for event in Event:
        line = next(line for line in source.splitlines() if re.match(rf"\s+{event.name} = ", line))
        assert "#" in line and len(line.split("#", 1)[1].strip()) > 10, f"{event.name} has no meaning said"
    # Stored strings stay what they were: no migration of the rows already written.
    assert Event.STREAM_HANDOFF == "stream_handoff" and Event.ORDER_CHECK_FAILED == "order_check_failed"


def test_the_dashboard_says_every_kind_in_words():
    for event in Event:
        sentence = describe_event(event, {}, {})
        assert sentence and sentence != event.value.replace("_", " ").capitalize(), event
        assert event.value not in sentence or "_" not in event.value, sentence
        assert describe_event(event.value, {}, {}) == sentence  # a stored row reads the same
    # A kind no longer written (an old row) still reads as something.
    assert describe_event("long_gone", {"x": 1}, {}) == "Long gone (x 1)"


def test_the_dashboard_sentences_use_the_details():
    assert describe_event("order_check_failed", {"reason": "postcode", "number": "4512"}, {}) == \
        "An order check failed (wrong postcode)"
    assert describe_event("stream_handoff", {"reason": "transfer"}, {}) == "The live audio handed the call on (transfer)"
    assert describe_event("barge_in", {"by": "dtmf"}, {}) == "Pressed a key before a prompt had finished"
    assert describe_event("article", {"article_id": "returns"}, {"returns": "Returning an item"}) == \
        "Heard the answer “Returning an item”"
