"""The paths Twilio requests on this service, named once for the routes and the TwiML that cites them."""
from __future__ import annotations

VOICE = "/voice"
RECORDING_STATUS = "/voice/recording-status"
TRANSCRIPTION = "/voice/transcription"
STREAM = "/voice/stream"
STREAM_ENDED = "/voice/stream/ended"
MESSAGE_SAVED = "/voice/state/message_saved"
