"""One call over a Media Stream: the Media Streams transport of the call flow.

The flow's states say what happens (ivr/flow/actions.py); this says how, on a live audio
socket. Each turn's `Say`s (and a `Listen`'s prompts) become paced clip audio, each followed by a
mark; what the turn then waits on is one of the waits in waits.py (a choice or answer, a spoken
question, a message, a hand-off), fed the caller's frames, keys and the marks coming back, with
utterances assembled by utterance.py. When a wait has the caller's answer the flow runs again with
it, is committed, and its turn is played. `Transfer`, `Hangup` and any failure leave the stream for
TwiML (handoff.py).

Threads: the socket's handler thread runs this loop (receive, recognise, run the flow); the
player's thread keeps the 20 ms clock. Nothing here blocks another call.
"""
from __future__ import annotations

import logging
import time
from collections.abc import Callable

from flask import Flask

from ..calls.events import Event
from ..flow.actions import WAITING, Hangup, Input, Listen, Record, Say, Step, Transfer, Turn
from ..services import services
from ..speech.engine import SpeechEngine
from . import protocol
from .audio import frames
from .clips import ClipSource
from .endpoint import EndpointSettings
from .flowrun import FlowRunner
from .handoff import HandoffError, render_turn, update_call
from .player import Clip, Player
from .recognizer import RecognizerError
from .utterance import Metrics, UtteranceAssembler
from .waits import MARK_GRACE_S, Leave, Next, Outcome, Phase, Wait, wait_for

log = logging.getLogger(__name__)


class SocketGone(Exception):
    """The socket closed (caller hung up, Twilio stopped the stream, or the network dropped)."""


def spoken(turn: Turn) -> tuple[list[Say], Listen | Record | Transfer | Hangup]:
    """What a turn says (its Says, then a Listen's prompts) and the action it then waits on."""
    last = turn.last
    says = [a for a in turn if isinstance(a, Say) and a.text]
    if isinstance(last, Listen):
        says += [p for p in last.prompts if p.text]
    if not isinstance(last, WAITING):
        raise RuntimeError(f"turn ends without a waiting action: {turn!r}")
    return says, last


class StreamCall:
    def __init__(self, app: Flask, send: Callable[[str], None], receive: Callable[[float], str | None],
                 start: protocol.Start, engine: SpeechEngine, base_url: str):
        self.app, self.settings = app, app.config["IVR_SETTINGS"]
        self.receive = receive
        self.stream_sid, self.call_sid = start.stream_sid, start.call_sid
        self.caller, self.to = start.custom_parameters.get("From", ""), start.custom_parameters.get("To", "")
        self.base_url = base_url
        self.flow = FlowRunner(app, self.call_sid, self.caller, self.to)
        self.note = self.flow.note  # an event in the call's log
        self.player = Player(send, self.stream_sid)
        self.clips = ClipSource(services(app).tts)
        self.metrics = Metrics()
        self.utterances = UtteranceAssembler(engine, EndpointSettings(
            end_silence_ms=self.settings.stream_end_silence_ms, aggressiveness=self.settings.stream_vad_mode,
            start_voiced_ms=self.settings.stream_barge_in_ms), self.metrics)
        self.wait: Wait | None = None  # None: between turns, or the call has left the stream
        self.turn: Turn | None = None
        self.turns = self.marks = 0

    # ================================================================== the loop
    def run(self) -> None:
        try:
            self._play_turn(self.flow.run(None, None))
            while self.wait is not None:
                message = self.receive(0.05)
                if message is not None:
                    self._dispatch(protocol.parse(message))
                if self.wait is not None:
                    self._act(self.wait.tick(time.monotonic()))
                if self.player.failed is not None:
                    raise SocketGone(str(self.player.failed))
        except SocketGone:
            log.info("stream %s for call %s closed by the other side", self.stream_sid, self.call_sid)
            self._socket_gone()
        except Exception as exc:
            log.exception("stream for call %s failed; handing the call to TwiML", self.call_sid)
            self._fail_over(exc)
        finally:
            self.utterances.drop()
            self.player.close()

    def fail_over_now(self, exc: BaseException) -> None:
        """The stream can't serve this call at all (no speech model): TwiML from the start."""
        try:
            self._fail_over(exc)
        finally:
            self.player.close()

    def _dispatch(self, event: protocol.Event | None) -> None:
        wait, now = self.wait, time.monotonic()
        if isinstance(event, protocol.Stop):
            raise SocketGone("stop")
        if wait is None:
            return
        if isinstance(event, protocol.Media):
            self._act(wait.on_frame(event.payload, now))
        elif isinstance(event, protocol.Dtmf):
            self._act(wait.on_key(event.digit, now))
        elif isinstance(event, protocol.Mark):
            self._act(wait.on_mark(event.name, now))

    def _act(self, outcome: Outcome) -> None:
        """Do what the wait decided: run the flow with the caller's input and play its turn, or leave."""
        if isinstance(outcome, Leave):
            self._leave(outcome.turn, outcome.reason)
        elif isinstance(outcome, Next):
            self.wait, started = None, time.monotonic()
            turn = self.flow.run(outcome.step, outcome.input)
            ran = time.monotonic()
            self._play_turn(turn)
            log.debug("call %s: %s ran in %.0f ms, its audio queued in %.0f ms", self.call_sid, outcome.step.state,
                      (ran - started) * 1000, (time.monotonic() - ran) * 1000)

    # ================================================================== playing a turn
    def _play_turn(self, turn: Turn) -> None:
        self.turns += 1
        says, last = spoken(turn)
        self.turn = turn
        payloads = self.clips.payloads([(s.text, s.private) for s in says])
        wait = wait_for(last, self, self.utterances)
        now, seconds, barrier, end = time.monotonic(), 0.0, None, None
        # Input is taken once every prompt that may not be interrupted has played.
        last_notice = max((i for i, s in enumerate(says) if not s.interruptible), default=-1)
        for i, (say, payload) in enumerate(zip(says, payloads)):
            chunked = frames(payload)
            seconds += len(chunked) * protocol.FRAME_MS / 1000
            end = self.queue(chunked, f"t{self.turns}-{i}", say.text, say.interruptible and wait.listens)
            barrier = end if i == last_notice else barrier
        self.wait = wait
        self._act(wait.prompts_queued(barrier, end, now + seconds + MARK_GRACE_S, now))

    def queue(self, chunked: list[bytes], prefix: str, text: str, interruptible: bool) -> str:
        """Play audio (after what is queued); returns the mark that says it has played."""
        self.marks += 1
        name = f"{prefix}-{self.marks}"
        self.player.play(Clip(chunked, name, interruptible=interruptible, text=text))
        tap = services(self.app).stream_tap
        if tap is not None:  # an in-process listener (`simulate --stream`) shows the words
            tap(self.call_sid, name, text)
        return name

    def barge_in(self, by: str) -> bool:
        """The caller spoke or pressed a key over our audio: cut it off if it may be."""
        if not (self.player.busy and self.player.interruptible()):
            return False
        self.player.clear()
        self.metrics.barge_ins += 1
        self.note(Event.BARGE_IN, by=by)
        return True

    # ================================================================== leaving the stream
    def _leave(self, turn: Turn, reason: str) -> None:
        """Continue the call with TwiML (REST update of the live call), then close the socket."""
        twiml = render_turn(self.app, turn, self.base_url)
        self.flow.hand_off(twiml, reason=reason)
        try:
            update_call(self.settings, self.call_sid, twiml)
        except HandoffError as exc:
            # The socket closes anyway; Twilio then requests the <Connect> action, which serves this TwiML.
            log.warning("call %s: %s; the <Connect> action will carry on", self.call_sid, exc)
        self.wait = None

    def _fail_over(self, exc: BaseException) -> None:
        """The stream broke (recogniser, audio, flow): the same waiting action, now over TwiML."""
        wait, self.wait = self.wait, None
        self._salvage(wait)
        try:
            self.note(Event.STREAM_FAILED, error=f"{type(exc).__name__}: {exc}"[:300])
        except Exception:
            log.exception("could not log the stream failure for %s", self.call_sid)
        if wait is not None and wait.phase is Phase.WAITING:
            turn = Turn(wait.action)  # the caller heard the prompts: TwiML waits for the same input
        elif self.turn is not None and (wait is None or wait.action is self.turn.last):
            turn = self.turn  # the turn being played, from its start
        else:
            try:
                turn = self.flow.run(Step("menu", {"name": "main"}), Input())
            except Exception:  # noqa: BLE001
                turn = Turn(Hangup())
        try:
            self._leave(turn, "stream_failed")
        except Exception:
            log.exception("could not hand call %s to TwiML", self.call_sid)

    def _socket_gone(self) -> None:
        """The caller hung up or the socket dropped. A message being recorded is kept and becomes a ticket."""
        wait, self.wait = self.wait, None
        self._salvage(wait)

    def _salvage(self, wait: Wait | None) -> None:
        """What an unfinished wait still owes the flow (a message on disk makes its ticket); nobody hears the turn."""
        left = wait.salvage() if wait is not None else None
        if left is None:
            return
        try:
            self.flow.run(left.step, left.input)
        except Exception:
            log.exception("call %s: message %s kept on disk but no ticket yet", self.call_sid,
                          left.input.recording.sid if left.input.recording else "")


__all__ = ["RecognizerError", "SocketGone", "StreamCall"]
