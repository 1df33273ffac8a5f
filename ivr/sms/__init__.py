"""Text messages to the caller: an answer, an order's details or a ticket reference, by SMS.

The flow asks for a text with `request_text(...)` (service.py) naming only the call and what to
send; the number is always the one the call came from, read from the call log. Sending is a
durable job (jobs.py) that talks to Twilio's REST API after the webhook has answered.
"""
