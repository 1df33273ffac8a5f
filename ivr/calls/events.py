"""Every kind of call-log event, named once for the code that writes them and the code that reads them."""
from __future__ import annotations

# The TwiML a stream decided for the rest of the call (read by the `<Connect>` action's webhook).
HANDOFF_EVENT = "stream_handoff"

# A text the caller asked for that could not be sent, written by the sms job when it gives up (perhaps after
# the caller heard it was still being tried): staff see it in the call's history.
SMS_FAILED_EVENT = "sms_failed"
