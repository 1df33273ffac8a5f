"""Every kind of call-log event, named once for the code that writes them and the code that reads them."""
from __future__ import annotations

# The TwiML a stream decided for the rest of the call (read by the `<Connect>` action's webhook).
HANDOFF_EVENT = "stream_handoff"
