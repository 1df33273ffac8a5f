"""The call flow's states, one module per area; importing this package registers them all."""
from . import ask, main, messages, orders, people, sms  # noqa: F401
