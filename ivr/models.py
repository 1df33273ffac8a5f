"""Imports every table so `Base.metadata` is complete (used by create_all and Alembic).

`ivr.db` knows no model: each area's models import the base from it, and this module gathers them.
"""
from sqlalchemy.engine import Connection, Engine

from .calls.models import Call, CallEvent  # noqa: F401
from .db import Base
from .jobs.models import Job  # noqa: F401
from .kb.models import Article, KBRevision, QuestionAsked, Topic  # noqa: F401
from .orders.models import Order, VerifiedOrder  # noqa: F401
from .recordings.models import RecordingBlob  # noqa: F401
from .sms.models import TextMessage  # noqa: F401
from .tickets.activity import TicketChange, TicketNote  # noqa: F401
from .tickets.models import Ticket  # noqa: F401
from .users.models import ApiToken, User  # noqa: F401
from .users.throttle import ThrottleEvent  # noqa: F401


def import_models() -> None:
    """Every model is imported with this module; a caller that needs the full metadata calls this to say so."""


def create_all(bind: Engine | Connection) -> None:
    Base.metadata.create_all(bind)
