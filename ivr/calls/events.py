"""Every kind of call-log event, named once for the code that writes them and the code that reads them.

`Event` is a `StrEnum`: a member *is* its stored string, so rows written before the names existed
read the same and nothing is migrated. Code never logs a bare string as a kind
(tests/test_call_events.py checks), and the dashboard says each one in words (`describe_event`).

The log is history, not state: what decides anything about the call (failed order checks, orders
proven, the TwiML a stream handed the call to) lives in columns of its own, written in the
turn's transaction (ivr/calls/models.py, ivr/orders/models.py), because a turn's events may be
written later from the spool when the database is busy (ivr/calls/journal.py).
"""
from __future__ import annotations

from enum import StrEnum


class Event(StrEnum):
    # The call
    CALL_STARTED = "call_started"  # the first turn: caller and number called
    RETURNING_CALLER = "returning_caller"  # the caller has an open ticket from an earlier call
    REQUEST_STATUS = "request_status"  # the caller was told where that ticket stands
    HANGUP = "hangup"  # Twilio said the call completed
    STATUS = "status"  # Twilio's final status when not completed (busy, no-answer, failed, ...)
    ERROR = "error"  # a webhook failed on our side; the caller heard an apology
    RATING = "rating"  # the caller's 1-5 rating at the end

    # Menus and input
    MENU = "menu"  # a menu was read (name, attempt)
    DIGITS = "digits"  # keys pressed in a menu
    SPEECH = "speech"  # words recognised in a menu or question (may carry the recording sid)
    SPEECH_FAILED = "speech_failed"  # a recorded question could not be transcribed
    NO_INPUT = "no_input"  # the caller said and pressed nothing
    INVALID = "invalid"  # an answer the menu didn't understand

    # Questions and answers
    SEARCH = "search"  # a question searched in the knowledge base, with the decision and hits
    ARTICLE = "article"  # an answer was read
    CHOICE = "choice"  # the caller picked one of the answers offered
    FEEDBACK = "feedback"  # the caller said whether the answer helped

    # People, messages, callbacks
    OPERATOR_REQUESTED = "operator_requested"  # asked for a person
    TRANSFER = "transfer"  # a transfer to staff was dialled
    TRANSFER_RESULT = "transfer_result"  # how that dial ended
    MESSAGE_PROMPT = "message_prompt"  # asked to leave a message (recording follows)
    MISSED_TRANSFER = "missed_transfer"  # the message was left because nobody answered a transfer
    TICKET = "ticket"  # a ticket was made from the call (message or callback)
    CALLBACK_REQUESTED = "callback_requested"  # asked to be called back
    CALLBACK_BAD_NUMBER = "callback_bad_number"  # keyed a callback number we can't use
    CALLBACK_TICKET = "callback_ticket"  # the callback ticket was made
    RECORDING_RECOVERED = "recording_recovered"  # a message cut off by a restart was recovered from disk

    # Orders (the lock-out count and the orders proven are columns: calls.order_failures, call_verified_orders)
    ORDER = "order"  # an order was looked up (its status, or None: not found)
    ORDER_CHECK_FAILED = "order_check_failed"  # a failed attempt (malformed, unknown, phone or postcode wrong)
    ORDER_LOCKED = "order_locked"  # too many failed attempts: no more look-ups in this call
    ORDER_VERIFIED = "order_verified"  # the caller may hear this order (and have it texted)
    ORDER_SOURCE_ERROR = "order_source_error"  # the order system could not be reached

    # Text messages
    SMS_REQUESTED = "sms_requested"  # a text was queued
    SMS_REFUSED = "sms_refused"  # a text was not allowed (why)
    SMS_SENT = "sms_sent"  # Twilio delivered the text
    SMS_NOT_SENT = "sms_not_sent"  # Twilio could not deliver it
    SMS_FAILED = "sms_failed"  # the sms job gave up on a text the caller asked for (they may have heard it was tried)

    # Media Streams
    STREAM_OFFERED = "stream_offered"  # the call was answered with a Media Stream
    STREAM_RECORDING = "stream_recording"  # a message recorded on the stream: ties the file to the call
    BARGE_IN = "barge_in"  # the caller spoke or pressed a key over our audio and cut it off
    STREAM_HANDOFF = "stream_handoff"  # the stream handed the call to TwiML (why; the TwiML is calls.handoff_twiml)
    STREAM_FAILED = "stream_failed"  # the stream broke (recogniser, audio, flow); TwiML took over
    STREAM_LOST = "stream_lost"  # the stream ended without deciding; the caller went to the main menu
