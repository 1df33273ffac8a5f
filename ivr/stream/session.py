"""One call over a Media Stream: the Media Streams transport of the call flow.

The flow's states say what happens (ivr/voice/actions.py); this says how, on a live audio
socket: `Say` becomes paced clip audio followed by a mark; `Listen` takes keys from `dtmf`
events and speech from our own streaming recogniser, lets the caller barge into
interruptible prompts (`clear`), and starts its no-input timer when the last prompt's mark
comes back, as `<Gather>` does; `Record` records a message to our own disk, or recognises a
spoken question; `Transfer`, `Hangup` and any failure leave the stream for TwiML
(handoff.py).

Threads: the socket's handler thread runs this loop (receive, recognise, run the flow); the
player's thread keeps the 20 ms clock. Nothing here blocks another call.
"""
from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from typing import Any, Callable

from flask import Flask

from ..calls.log import log_event
from ..recordings.store import CAPTURE_EVENT
from ..speech.engine import SpeechEngine
from ..flow.actions import Hangup, Input, Listen, Record, Recording, Say, Step, Transfer, Turn
from ..flow.context import CallContext
from ..flow.engine import run_state, start_call
from ..flow.menus import MAIN_MENU_WORDS
from . import protocol
from .audio import frames, tone, ulaw_to_pcm16
from .clips import ClipSource
from .endpoint import Endpointer, EndpointSettings
from .handoff import HANDOFF_EVENT, HandoffError, render_turn, update_call
from .player import Clip, Player
from .recognizer import Heard, RecognizerError, StreamingRecognizer
from .voicemail import MessageRecorder
from ..services import services
from ..kb.service import search_engine
from ..speech.vocabulary import kb_phrases

log = logging.getLogger(__name__)

MAX_UTTERANCE_S = 20.0  # a caller who never pauses is cut here and heard
MARK_GRACE_S = 3.0
DECODE_TAIL_MS = 200  # trailing silence decoded before an utterance's words are finished (early)  # a mark Twilio never returns: carry on this long after the audio should have ended


class SocketGone(Exception):
    """The socket closed (caller hung up, Twilio stopped the stream, or the network dropped)."""


@dataclass
class Waiting:
    """What the call waits on after its prompts: the flow's waiting action and its progress."""

    action: Listen | Record | Transfer | Hangup
    accepting: bool = False  # input taken now (the last non-interruptible prompt has played)
    prompts_done: bool = False
    barrier_mark: str | None = None
    end_mark: str | None = None
    end_expected_at: float = 0.0  # when the prompts should have finished playing
    deadline: float | None = None
    digits: str = ""
    beeped: bool = False
    phrases: list[str] = field(default_factory=list)  # a question's knowledge-base words
    choices: list[str] = field(default_factory=list)  # a menu's phrases


@dataclass
class Metrics:
    """Timestamps the benchmark and the logs read (monotonic seconds)."""

    utterances: list[dict[str, Any]] = field(default_factory=list)
    barge_ins: int = 0


class StreamCall:
    def __init__(self, app: Flask, send: Callable[[str], None], receive: Callable[[float], str | None],
                 start: protocol.Start, engine: SpeechEngine, base_url: str):
        self.app = app
        self.settings = app.config["IVR_SETTINGS"]
        self.send, self.receive = send, receive
        self.stream_sid, self.call_sid = start.stream_sid, start.call_sid
        self.caller = start.custom_parameters.get("From", "")
        self.to = start.custom_parameters.get("To", "")
        self.engine = engine
        self.base_url = base_url
        self.player = Player(send, self.stream_sid)
        self.clips = ClipSource(services(app).tts)
        self.endpointer = Endpointer(EndpointSettings(
            end_silence_ms=self.settings.stream_end_silence_ms, aggressiveness=self.settings.stream_vad_mode,
            start_voiced_ms=self.settings.stream_barge_in_ms))
        self.recognizer: StreamingRecognizer | None = None
        self.recorder: MessageRecorder | None = None
        self.waiting: Waiting | None = None
        self.turn: Turn | None = None
        self.turns = 0
        self.marks = 0
        self.finished = False
        self.metrics = Metrics()
        self._speech_started_at = 0.0
        self._held: list[bytes] = []
        self._segments: list[Heard] = []  # an utterance's finished parts (split at pauses)

    # ================================================================== the loop
    def run(self) -> None:
        try:
            self._play_turn(self._flow(None, None))
            while not self.finished:
                message = self.receive(0.05)
                if message is not None:
                    self._dispatch(protocol.parse(message))
                self._tick(time.monotonic())
                if self.player.failed is not None:
                    raise SocketGone(str(self.player.failed))
        except SocketGone:
            log.info("stream %s for call %s closed by the other side", self.stream_sid, self.call_sid)
            self._socket_gone()
        except Exception as exc:  # noqa: BLE001 - recogniser, audio or flow failure: TwiML takes over
            log.exception("stream for call %s failed; handing the call to TwiML", self.call_sid)
            self._fail_over(exc)
        finally:
            self._drop_recognizer()
            self.player.close()

    def _dispatch(self, event: protocol.Event | None) -> None:
        if isinstance(event, protocol.Media):
            self._on_audio(event.payload)
        elif isinstance(event, protocol.Dtmf):
            self._on_key(event.digit)
        elif isinstance(event, protocol.Mark):
            self._on_mark(event.name)
        elif isinstance(event, protocol.Stop):
            raise SocketGone("stop")

    # ================================================================== running the flow
    def _flow(self, step: Step | None, given: Input | None) -> Turn:
        """Run a step of the shared call flow in one transaction; commit before anything is played."""
        session = services(self.app).sessionmaker()
        ctx = CallContext(app=self.app, session=session, call_sid=self.call_sid, caller=self.caller, to=self.to)
        try:
            if step is None:
                turn = start_call(ctx)
            else:
                ctx.input = given or Input()
                turn = run_state(ctx, step)
            if not ctx.commit():  # the call log went to the spool; the caller still hears the turn
                log.warning("database busy: call %s goes on, its log kept in the spool", self.call_sid)
            return turn
        except Exception:
            session.rollback()
            ctx.journal()
            raise
        finally:
            session.close()

    def _log(self, kind: str, **detail: Any) -> None:
        session = services(self.app).sessionmaker()
        try:
            log_event(session, self.call_sid, kind, **detail)
            session.commit()
        finally:
            session.close()

    def _next(self, step: Step, given: Input) -> None:
        self.waiting = None
        started = time.monotonic()
        turn = self._flow(step, given)
        ran = time.monotonic()
        self._play_turn(turn)
        log.debug("call %s: %s ran in %.0f ms, its audio queued in %.0f ms", self.call_sid, step.state,
                  (ran - started) * 1000, (time.monotonic() - ran) * 1000)

    # ================================================================== playing a turn
    def _play_turn(self, turn: Turn) -> None:
        self.turns += 1
        says = [a for a in turn if isinstance(a, Say) and a.text]
        last = turn.last
        if isinstance(last, Listen):
            says += [p for p in last.prompts if p.text]
        if not isinstance(last, (Listen, Record, Transfer, Hangup)):
            raise RuntimeError(f"turn ends without a waiting action: {turn!r}")
        self.turn = turn
        payloads = self.clips.payloads([(s.text, s.private) for s in says])
        waiting = Waiting(action=last)
        if isinstance(last, Record) and last.purpose == "question":
            waiting.phrases = self._kb_phrases()
        elif isinstance(last, Listen):
            waiting.choices = [*last.hints, *MAIN_MENU_WORDS] if last.hints else []
        now = time.monotonic()
        seconds = 0.0
        # Input is taken once every prompt that may not be interrupted has played.
        barrier = max((i for i, s in enumerate(says) if not s.interruptible), default=-1)
        tap = services(self.app).stream_tap
        listens = isinstance(last, Listen) or (isinstance(last, Record) and last.purpose == "question")
        for i, (say, payload) in enumerate(zip(says, payloads)):
            self.marks += 1
            name = f"t{self.turns}-{i}-{self.marks}"
            chunked = frames(payload)
            seconds += len(chunked) * protocol.FRAME_MS / 1000
            self.player.play(Clip(chunked, name, interruptible=say.interruptible and listens, text=say.text))
            if tap is not None:  # an in-process listener (`simulate --stream`) shows the words
                tap(self.call_sid, name, say.text)
            if i == barrier:
                waiting.barrier_mark = name
            waiting.end_mark = name
        waiting.end_expected_at = now + seconds + MARK_GRACE_S
        waiting.accepting = listens and waiting.barrier_mark is None
        self.waiting = waiting
        self.endpointer.reset()
        self._drop_recognizer()
        if waiting.end_mark is None:
            self._prompts_done(now)

    def _on_mark(self, name: str) -> None:
        w = self.waiting
        if w is None:
            return
        if name == w.barrier_mark:
            w.accepting = isinstance(w.action, (Listen, Record)) and not self._records_message(w)
        if name == w.end_mark:
            self._prompts_done(time.monotonic())

    @staticmethod
    def _records_message(w: Waiting) -> bool:
        return isinstance(w.action, Record) and w.action.purpose == "message"

    def _prompts_done(self, now: float) -> None:
        """The caller has heard every prompt: start timers, the recording, or leave the stream."""
        w = self.waiting
        if w is None or w.prompts_done:
            return
        w.prompts_done = True
        w.end_mark = None
        action = w.action
        if isinstance(action, Listen):
            w.accepting = True
            if not self.endpointer.in_speech:
                w.deadline = now + action.timeout_s
        elif isinstance(action, Record) and action.purpose == "question":
            w.accepting = True
            if not self.endpointer.in_speech:
                w.deadline = now + action.silence_s
        elif isinstance(action, Record):
            if action.beep and not w.beeped:
                # The beep is one more prompt; recording starts when Twilio says it has played.
                w.prompts_done, w.beeped = False, True
                self.marks += 1
                w.end_mark = f"beep-{self.marks}"
                w.end_expected_at = now + 0.4 + MARK_GRACE_S
                self.player.play(Clip(frames(tone()), w.end_mark, interruptible=False))
                tap = services(self.app).stream_tap
                if tap is not None:
                    tap(self.call_sid, w.end_mark, "(beep)")
                return
            self._start_recording(now)
        elif isinstance(action, Transfer):
            self._leave(Turn(action), "transfer")
        elif isinstance(action, Hangup):
            self._leave(Turn(Hangup()), "hangup")

    def _tick(self, now: float) -> None:
        w = self.waiting
        if w is None:
            return
        if not w.prompts_done and w.end_mark is not None and now > w.end_expected_at and not self.player.busy:
            log.warning("call %s: mark %s never came back; carrying on", self.call_sid, w.end_mark)
            self._prompts_done(now)
            return
        if self.recorder is not None and self._records_message(w):
            action = w.action
            assert isinstance(action, Record)
            if self.recorder.seconds >= action.max_seconds:
                self._end_recording("")
            elif w.deadline is not None and now >= w.deadline:
                self._end_recording("")
            return
        if w.deadline is not None and now >= w.deadline:
            w.deadline = None
            self._on_silence()
        elif self.endpointer.in_speech and now - self._speech_started_at > MAX_UTTERANCE_S:
            self._utterance_ended(now)

    # ================================================================== caller input
    def _on_audio(self, ulaw: bytes) -> None:
        w = self.waiting
        if w is None:
            return
        pcm = ulaw_to_pcm16(ulaw)
        if self.recorder is not None:
            self.recorder.write(ulaw)
            change = self.endpointer.feed(pcm)
            if change == "started" or self.endpointer.in_speech:
                self.recorder.voiced_ms += protocol.FRAME_MS
                w.deadline = None
            if change == "ended":
                assert isinstance(w.action, Record)
                # The message ends after its own silence setting, longer than a turn's end of speech.
                w.deadline = time.monotonic() + max(0.0, w.action.silence_s - self.endpointer.settings.end_silence_ms / 1000)
            return
        takes_speech = (isinstance(w.action, Listen) and w.action.speech) or (
            isinstance(w.action, Record) and w.action.purpose == "question")
        if not (w.accepting and takes_speech):
            return
        was_in_speech = self.endpointer.in_speech
        change = self.endpointer.feed(pcm)
        now = time.monotonic()
        if change == "started":
            self._held, self._segments = [], []
            self._speech_started_at = now
            w.deadline = None
            self._drop_recognizer()
            self.recognizer = StreamingRecognizer(self.engine, w.phrases, choices=w.choices)
            for earlier in self.endpointer.pre_roll:
                self.recognizer.accept(earlier)
            self._barge_in(now, "speech")
        elif was_in_speech:
            if self.endpointer.silence_ms <= DECODE_TAIL_MS:
                if self.recognizer is None:  # the caller went on after a pause: a new segment
                    self.recognizer = StreamingRecognizer(self.engine, w.phrases, choices=w.choices)
                for held in self._held:
                    self.recognizer.accept(held)
                self._held.clear()
                self.recognizer.accept(pcm)
            else:
                # Probably the end. Finish this segment now, while the endpointer waits out the rest
                # of the trailing silence, so the words are ready the moment it decides; the silence
                # is held back in case the caller goes on.
                if self.recognizer is not None:
                    self._segments.append(self.recognizer.finish())
                    self.recognizer = None
                self._held.append(pcm)
        if change == "ended":
            self._utterance_ended(now)

    def _barge_in(self, now: float, by: str) -> None:
        if self.player.busy and self.player.interruptible():
            self.player.clear()
            self.metrics.barge_ins += 1
            self._log("barge_in", by=by)
            if self.waiting is not None:
                self.waiting.prompts_done = True
                self.waiting.end_mark = None

    def _utterance_ended(self, now: float) -> None:
        w = self.waiting
        recognizer, self.recognizer = self.recognizer, None
        segments, self._segments, self._held = self._segments, [], []
        self.endpointer.reset()
        if recognizer is not None:
            segments.append(recognizer.finish())
        if w is None or not segments:
            return
        heard = Heard.join(segments)
        finished_at = time.monotonic()
        self.metrics.utterances.append({"ended_at": now, "text": heard.text, "final_s": heard.final_seconds,
                                        "audio_s": heard.audio_seconds})
        if not heard.text:
            # Noise, a cough: not an answer. Keep listening; the no-input timer runs again.
            if w.prompts_done:
                action = w.action
                timeout = action.timeout_s if isinstance(action, Listen) else getattr(action, "silence_s", 5)
                w.deadline = now + timeout
            return
        given = Input(speech=heard.text, confidence=round(heard.confidence, 3))
        action = w.action
        if isinstance(action, Listen):
            self._next(action.on_input, given)
        elif isinstance(action, Record):
            self._next(action.on_done, given)
        log.debug("call %s: utterance of %.1f s ended -> final %.0f ms -> reply queued %.0f ms", self.call_sid,
                  heard.audio_seconds, (finished_at - now) * 1000, (time.monotonic() - now) * 1000)

    def _on_key(self, digit: str) -> None:
        w = self.waiting
        if w is None:
            return
        action = w.action
        if self.recorder is not None and isinstance(action, Record):
            if digit in action.finish_on_key:
                self._end_recording(digit)
            return
        if not w.accepting:
            return  # a key during a notice that may not be interrupted is ignored, as outside <Gather>
        if isinstance(action, Record) and action.purpose == "question":
            if digit in action.finish_on_key or digit in "*#":
                self._barge_in(time.monotonic(), "dtmf")
                self._next(action.on_done, Input(digits=digit))
            return
        if not isinstance(action, Listen) or not action.keys:
            return
        self._barge_in(time.monotonic(), "dtmf")
        self._drop_recognizer()
        self.endpointer.reset()
        if action.finish_on_key and digit in action.finish_on_key:
            self._next(action.on_input, Input(digits=w.digits))
            return
        w.digits += digit
        if action.num_digits and len(w.digits) >= action.num_digits:
            self._next(action.on_input, Input(digits=w.digits))
        else:
            w.deadline = time.monotonic() + action.timeout_s  # time to press the next key

    def _on_silence(self) -> None:
        w = self.waiting
        if w is None:
            return
        action = w.action
        if isinstance(action, Listen):
            if w.digits:  # keys pressed, then a pause: that was the answer (as <Gather>'s timeout)
                self._next(action.on_input, Input(digits=w.digits))
            else:
                self._next(action.on_silence, Input())
        elif isinstance(action, Record):
            self._next(action.on_empty, Input())

    # ================================================================== messages
    def _start_recording(self, now: float) -> None:
        w = self.waiting
        assert w is not None and isinstance(w.action, Record)
        self.recorder = MessageRecorder(self.settings)
        self.endpointer.reset()
        w.deadline = now + w.action.silence_s  # nothing said at all within the silence setting: no message
        self._log(CAPTURE_EVENT, recording_sid=self.recorder.recording_sid)  # ties the file to the call

    def _stop_recorder(self) -> tuple[Waiting, Recording | None] | None:
        """Stop the message being recorded: None if there was none, else the waiting Record and the
        message on disk (None when nothing was said: no file, no ticket)."""
        recorder, self.recorder = self.recorder, None
        w = self.waiting
        if recorder is None or w is None or not isinstance(w.action, Record):
            return None
        if recorder.voiced_ms == 0:
            recorder.discard()
            return w, None
        path = recorder.finish()
        return w, Recording(sid=recorder.recording_sid, url="", duration_s=max(1, round(recorder.seconds)),
                            path=str(path))

    def _end_recording(self, key: str) -> None:
        """The message is over: on disk, then the flow makes the ticket (exactly once)."""
        stopped = self._stop_recorder()
        if stopped is None:
            return
        w, recording = stopped
        if recording is None:
            self._next(w.action.on_empty, Input(digits=key))
            return
        self._next(w.action.on_done, Input(digits=key, recording=recording))

    # ================================================================== leaving the stream
    def _leave(self, turn: Turn, reason: str) -> None:
        """Continue the call with TwiML (REST update of the live call), then close the socket."""
        twiml = render_turn(self.app, turn, self.base_url)
        self._log(HANDOFF_EVENT, reason=reason, twiml=twiml)
        try:
            update_call(self.settings, self.call_sid, twiml)
        except HandoffError as exc:
            # The socket closes anyway; Twilio then requests the <Connect> action, which serves this TwiML.
            log.warning("call %s: %s; the <Connect> action will carry on", self.call_sid, exc)
        self.finished = True

    def _fail_over(self, exc: BaseException) -> None:
        """The stream broke (recogniser, audio, flow): the same waiting action, now over TwiML."""
        if self.recorder is not None:
            self._save_message_after_drop()
        w = self.waiting
        try:
            self._log("stream_failed", error=f"{type(exc).__name__}: {exc}"[:300])
        except Exception:  # noqa: BLE001
            log.exception("could not log the stream failure for %s", self.call_sid)
        if w is not None and w.prompts_done:
            turn = Turn(w.action)  # the caller heard the prompts: TwiML waits for the same input
        elif self.turn is not None and (w is None or w.action is self.turn.last):
            turn = self.turn  # the turn being played, from its start
        else:
            turn = self._safe_turn(Step("menu", {"name": "main"})) or Turn(Hangup())
        try:
            self._leave(turn, "stream_failed")
        except Exception:  # noqa: BLE001
            log.exception("could not hand call %s to TwiML", self.call_sid)
        self.finished = True

    def _safe_turn(self, step: Step) -> Turn | None:
        try:
            return self._flow(step, Input())
        except Exception:  # noqa: BLE001
            return None

    def _socket_gone(self) -> None:
        """The caller hung up or the socket dropped. A message being recorded is kept and becomes a ticket."""
        self.finished = True
        if self.recorder is not None:
            self._save_message_after_drop()

    def _save_message_after_drop(self) -> None:
        stopped = self._stop_recorder()
        if stopped is None or stopped[1] is None:
            return
        w, recording = stopped
        try:
            self._flow(w.action.on_done, Input(recording=recording))  # makes the ticket; nobody hears the turn
        except Exception:  # noqa: BLE001 - the audio is on disk; the spool/replay path is the flow's
            log.exception("call %s: message %s kept on disk but no ticket yet", self.call_sid, recording.sid)

    # ================================================================== helpers
    def _drop_recognizer(self) -> None:
        """The utterance is abandoned (a key, a new prompt, the call ended): pool its recogniser."""
        recognizer, self.recognizer = self.recognizer, None
        if recognizer is not None:
            recognizer.close()

    def _kb_phrases(self) -> list[str]:

        session = services(self.app).sessionmaker()
        try:
            return kb_phrases(search_engine(self.app, session).articles)
        finally:
            session.close()


__all__ = ["RecognizerError", "SocketGone", "StreamCall"]
