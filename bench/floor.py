"""The load benchmark's floor: a bare Flask app that checks Twilio's signature and answers one
<Gather>. Served by the same gunicorn command and config as the service, it measures what the
server, the machine and the load generator cost by themselves (see bench/load.py)."""
from __future__ import annotations

from flask import Flask, Response, abort, request
from twilio.request_validator import RequestValidator
from twilio.twiml.voice_response import VoiceResponse

from ivr.config import load_settings

settings = load_settings()
validator = RequestValidator(settings.twilio_auth_token)
app = Flask(__name__)


@app.post("/", defaults={"path": ""})
@app.post("/<path:path>")
def answer(path: str) -> Response:
    if not validator.validate(request.url, request.form.to_dict(), request.headers.get("X-Twilio-Signature", "")):
        abort(403)
    resp = VoiceResponse()
    gather = resp.gather(input="dtmf speech", action="/voice/input/main", method="POST", num_digits=1, timeout=6)
    gather.say("Thank you for calling. Press 1 to ask a question.")
    return Response(str(resp), mimetype="text/xml")
