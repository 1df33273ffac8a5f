"""The TwiML transport: a Turn becomes a TwiML document, and Twilio's webhook form an Input.

Each waiting action names the steps that follow; they become URLs (`/voice/state/<name>?...`,
or `/voice/input/<menu>?...` for a menu's answer) that Twilio requests next. Words are spoken
by the app's Speaker (our rendered clip with <Play>, or <Say>).
"""
from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from urllib.parse import urlencode

from twilio.twiml.voice_response import Dial, Gather, VoiceResponse

from ..flow.actions import Goto, Hangup, Input, Listen, Record, Recording, Say, Step, Transfer, Turn
from ..flow.menus import MENU_INPUT
from ..twilio import paths
from .speaker import Container, Speaker

RECORDING_STATUS_URL = paths.RECORDING_STATUS
DIAL_STATUSES = {"completed", "answered", "busy", "no-answer", "failed", "canceled"}


def step_url(step: Step) -> str:
    """Relative URL of a step; Twilio resolves it against the URL it just requested."""
    params = {k: v for k, v in step.params.items() if v is not None}
    if step.state == MENU_INPUT:
        path = f"/voice/input/{params.pop('menu', 'main')}"
    else:
        path = f"/voice/state/{step.state}"
    query = urlencode(params)
    return path + (f"?{query}" if query else "")


def input_from_form(form: Mapping[str, str]) -> Input:
    """What Twilio reported the caller did (Gather, Record and Dial action callbacks)."""
    confidence: float | None
    try:
        confidence = float(form["Confidence"]) if form.get("Confidence") else None
    except ValueError:
        confidence = None
    recording = None
    if form.get("RecordingSid"):
        try:
            duration = int(form.get("RecordingDuration") or 0)
        except ValueError:
            duration = 0
        recording = Recording(sid=form["RecordingSid"], url=form.get("RecordingUrl", ""), duration_s=duration)
    dial_status = form.get("DialCallStatus") or None
    if dial_status is not None and dial_status not in DIAL_STATUSES:
        dial_status = "failed"
    return Input(digits=(form.get("Digits") or "").strip(), speech=(form.get("SpeechResult") or "").strip(),
                 confidence=confidence, recording=recording, dial_status=dial_status)


class TwimlRenderer:
    """Renders turns for one app: the speaker and the Gather language come from it."""

    def __init__(self, speaker: Speaker, language: str, *, twilio_transcripts: bool = False):
        self.speaker = speaker
        self.language = language
        # No speech model of ours for this language: ask Twilio to transcribe messages instead.
        self.twilio_transcripts = twilio_transcripts

    def render(self, turn: Turn) -> VoiceResponse:
        resp = VoiceResponse()
        for action in turn:
            if isinstance(action, Say):
                self._say(resp, action)
            elif isinstance(action, Listen):
                self._listen(resp, action)
            elif isinstance(action, Record):
                self._record(resp, action)
            elif isinstance(action, Transfer):
                self._transfer(resp, action)
            elif isinstance(action, Hangup):
                resp.hangup()
            elif isinstance(action, Goto):  # the engine resolves these; a redirect is still correct
                resp.redirect(step_url(action.step), method="POST")
            else:
                raise TypeError(f"the TwiML transport cannot render {action!r}")
        return resp

    def _say(self, container: Container, say: Say) -> None:
        if say.text:
            self.speaker.speak(container, say.text, private=say.private)

    def _listen(self, resp: VoiceResponse, listen: Listen) -> None:
        # Prompts up to the last one that may not be interrupted go before the Gather: Twilio
        # stops everything inside a Gather at the first key or word.
        cut = max((i + 1 for i, p in enumerate(listen.prompts) if not p.interruptible), default=0)
        for prompt in listen.prompts[:cut]:
            self._say(resp, prompt)
        kinds = [k for k, on in (("dtmf", listen.keys), ("speech", listen.speech)) if on]
        options: dict[str, Any] = {}
        if listen.speech:
            options.update(speech_timeout="auto", language=self.language,
                           hints=", ".join(listen.hints)[:1000] or None)
        gather: Gather = resp.gather(
            input=" ".join(kinds or ["dtmf"]), action=step_url(listen.on_input), method="POST",
            num_digits=listen.num_digits, finish_on_key=listen.finish_on_key, timeout=listen.timeout_s,
            **options,
        )
        for prompt in listen.prompts[cut:]:
            self._say(gather, prompt)
        resp.redirect(step_url(listen.on_silence), method="POST")

    def _record(self, resp: VoiceResponse, record: Record) -> None:
        options: dict[str, Any] = {}
        if record.purpose == "message":
            # The status callback makes the ticket even when the caller hangs up mid-message.
            status_url = RECORDING_STATUS_URL + ("?missed_transfer=1" if record.missed_transfer else "")
            options.update(recording_status_callback=status_url, recording_status_callback_method="POST",
                           recording_status_callback_event="completed")
            if self.twilio_transcripts:
                options.update(transcribe=True, transcribe_callback=paths.TRANSCRIPTION)
        resp.record(action=step_url(record.on_done), method="POST", max_length=record.max_seconds,
                    timeout=record.silence_s, play_beep=record.beep, trim="trim-silence",
                    finish_on_key=record.finish_on_key, **options)
        # Twilio continues here only when nothing was recorded.
        resp.redirect(step_url(record.on_empty), method="POST")

    def _transfer(self, resp: VoiceResponse, transfer: Transfer) -> None:
        dial: Dial = resp.dial(action=step_url(transfer.on_done), method="POST", timeout=transfer.timeout_s,
                               answer_on_bridge=True, caller_id=transfer.caller_id or None)
        for destination in transfer.destinations:
            if destination.lower().startswith("sip:"):
                dial.sip(destination)
            else:
                dial.number(destination)
