"""What a call over a Media Stream waits on after its prompts: one object per kind of waiting action.

* `ListenWait` (`Listen`): a menu's choice, an order number, any answer by keys and/or speech,
  recognised with the vocabulary the Listen carries (a menu's closed set, or free-form).
* `QuestionWait` (`Record(purpose="question")`): a spoken question, recognised as it is said
  (biased toward the words the Record carries) and delivered as `Input.speech`.
* `MessageWait` (`Record(purpose="message")`): a voicemail, after a beep, onto our own disk.
* `HandOffWait` (`Transfer`, `Hangup`): the prompts play out, then TwiML carries on.

Every wait follows its prompts the same way (`Phase`): input is taken once the last prompt that
may not be interrupted has played (its mark came back), and the wait's own timers start when the
last prompt has played, as `<Gather>`'s do. Each returns what should happen next: `Next` (run the
flow with this Input) or `Leave` (hand the call to TwiML), or None to go on waiting.
"""
from __future__ import annotations

import enum
import logging
from dataclasses import dataclass
from typing import Protocol

from ..calls.events import Event
from ..flow.actions import Hangup, Input, Listen, Record, Recording, Step, Transfer, Turn, Vocabulary
from .audio import frames, tone, ulaw_to_pcm16
from .player import Player
from .protocol import FRAME_MS
from .recognizer import Heard
from .utterance import UtteranceAssembler
from .voicemail import MessageRecorder

log = logging.getLogger(__name__)

MARK_GRACE_S = 3.0  # a mark Twilio never returns: carry on this long after the audio should have ended


@dataclass(frozen=True)
class Next:
    """Run the flow's `step` with what the caller did."""

    step: Step
    input: Input


@dataclass(frozen=True)
class Leave:
    """Continue the call over TwiML with `turn`."""

    turn: Turn
    reason: str


Outcome = Next | Leave | None


class Line(Protocol):
    """What a wait needs of the call it belongs to (the session)."""

    settings: object
    call_sid: str
    player: Player

    def barge_in(self, by: str) -> bool: ...  # True when our audio was cut off

    def queue(self, chunked: list[bytes], prefix: str, text: str, interruptible: bool) -> str: ...  # -> its mark

    def note(self, kind: str, **detail: object) -> None: ...  # an event in the call's log


class Phase(enum.Enum):
    PROMPTS = "prompts"  # prompts playing; input not taken yet (a notice that may not be interrupted)
    OPEN = "open"        # prompts playing; input taken, and it cuts interruptible prompts off
    WAITING = "waiting"  # the prompts have been heard: the wait's own timers run


class Wait:
    listens = False  # takes the caller's words or keys (so its prompts may be barged into)

    def __init__(self, action: Listen | Record | Transfer | Hangup, line: Line, utterances: UtteranceAssembler):
        self.action, self.line, self.utterances = action, line, utterances
        self.phase = Phase.PROMPTS
        self.barrier: str | None = None  # mark of the last prompt that may not be interrupted
        self.end_mark: str | None = None  # mark of the last prompt
        self.end_expected_at = 0.0  # when the prompts should have played, with grace
        self.deadline: float | None = None
        utterances.reset(self.vocabulary)

    @property
    def vocabulary(self) -> Vocabulary:
        return Vocabulary()

    # ------------------------------------------------------------------ the prompts
    def prompts_queued(self, barrier: str | None, end_mark: str | None, expected_at: float, now: float) -> Outcome:
        self.barrier, self.end_mark, self.end_expected_at = barrier, end_mark, expected_at
        if self.listens and barrier is None:
            self.phase = Phase.OPEN
        return self._prompts_heard(now) if end_mark is None else None

    def on_mark(self, name: str, now: float) -> Outcome:
        if name == self.barrier and self.listens and self.phase is Phase.PROMPTS:
            self.phase = Phase.OPEN
        return self._prompts_heard(now) if name == self.end_mark else None

    def tick(self, now: float) -> Outcome:
        if (self.phase is not Phase.WAITING and self.end_mark is not None and now > self.end_expected_at
                and not self.line.player.busy):
            log.warning("call %s: mark %s never came back; carrying on", self.line.call_sid, self.end_mark)
            return self._prompts_heard(now)
        return self.on_tick(now)

    def _prompts_heard(self, now: float) -> Outcome:
        if self.phase is Phase.WAITING:
            return None
        self.phase, self.end_mark = Phase.WAITING, None
        return self.prompts_heard(now)

    def _barge_in(self, by: str) -> None:
        if self.line.barge_in(by):  # the prompts were cut off: heard, but the timers wait for the caller
            self.phase, self.end_mark = Phase.WAITING, None

    # ------------------------------------------------------------------ what each kind does
    def prompts_heard(self, now: float) -> Outcome:
        return None

    def on_frame(self, ulaw: bytes, now: float) -> Outcome:
        return None

    def on_key(self, digit: str, now: float) -> Outcome:
        return None

    def on_tick(self, now: float) -> Outcome:
        return None

    def salvage(self) -> Next | None:
        """The call ends without this wait finishing: what must still reach the flow (a message)."""
        return None


class SpeechWait(Wait):
    """Words (and keys) in answer to prompts; silence after them for `timeout_s` is no answer."""

    listens = True
    takes_speech = True
    timeout_s: float
    on_speech: Step

    @property
    def vocabulary(self) -> Vocabulary:
        return self.action.vocabulary

    def prompts_heard(self, now: float) -> Outcome:
        if not self.utterances.in_speech:
            self.deadline = now + self.timeout_s
        return None

    def on_frame(self, ulaw: bytes, now: float) -> Outcome:
        if self.phase is Phase.PROMPTS or not self.takes_speech:
            return None
        got = self.utterances.feed(ulaw_to_pcm16(ulaw), now)
        if isinstance(got, Heard):
            return self._heard(got, now)
        if got is not None:  # speech started
            self.deadline = None
            self._barge_in("speech")
        return None

    def on_tick(self, now: float) -> Outcome:
        if self.deadline is not None and now >= self.deadline:
            self.deadline = None
            return self.timed_out()
        if self.utterances.overlong(now):
            heard = self.utterances.finish(now)
            return self._heard(heard, now) if heard is not None else None
        return None

    def _heard(self, heard: Heard, now: float) -> Outcome:
        if not heard.text:  # noise, a cough: not an answer; the no-input timer runs again
            if self.phase is Phase.WAITING:
                self.deadline = now + self.timeout_s
            return None
        return Next(self.on_speech, Input(speech=heard.text, confidence=round(heard.confidence, 3)))

    def timed_out(self) -> Outcome:
        raise NotImplementedError


class ListenWait(SpeechWait):
    """`Listen`: keys up to `num_digits` or `finish_on_key`, or words, as `<Gather>` takes them."""

    def __init__(self, action: Listen, line: Line, utterances: UtteranceAssembler):
        super().__init__(action, line, utterances)
        self.takes_speech, self.timeout_s, self.on_speech = action.speech, action.timeout_s, action.on_input
        self.digits = ""

    def on_key(self, digit: str, now: float) -> Outcome:
        action = self.action
        if self.phase is Phase.PROMPTS or not action.keys:
            return None  # a key during a notice that may not be interrupted is ignored, as outside <Gather>
        self._barge_in("dtmf")
        self.utterances.reset()
        if action.finish_on_key and digit in action.finish_on_key:
            return Next(action.on_input, Input(digits=self.digits))
        self.digits += digit
        if action.num_digits and len(self.digits) >= action.num_digits:
            return Next(action.on_input, Input(digits=self.digits))
        self.deadline = now + action.timeout_s  # time to press the next key
        return None

    def timed_out(self) -> Outcome:
        if self.digits:  # keys pressed, then a pause: that was the answer (as <Gather>'s timeout)
            return Next(self.action.on_input, Input(digits=self.digits))
        return Next(self.action.on_silence, Input())


class QuestionWait(SpeechWait):
    """`Record(purpose="question")`: the question recognised as it is said; a key ends it."""

    def __init__(self, action: Record, line: Line, utterances: UtteranceAssembler):
        super().__init__(action, line, utterances)
        self.timeout_s, self.on_speech = action.silence_s, action.on_done

    def on_key(self, digit: str, now: float) -> Outcome:
        if self.phase is Phase.PROMPTS or not (digit in self.action.finish_on_key or digit in "*#"):
            return None
        self._barge_in("dtmf")
        return Next(self.action.on_done, Input(digits=digit))

    def timed_out(self) -> Outcome:
        return Next(self.action.on_empty, Input())


class MessageWait(Wait):
    """`Record(purpose="message")`: after the prompts and a beep, frames go to a `MessageRecorder`;
    the message ends at a finishing key, `max_seconds`, or `silence_s` after the caller stops."""

    def __init__(self, action: Record, line: Line, utterances: UtteranceAssembler):
        super().__init__(action, line, utterances)
        self.beeped = False
        self.recorder: MessageRecorder | None = None
        self.vad = utterances.endpointer

    def prompts_heard(self, now: float) -> Outcome:
        if self.action.beep and not self.beeped:
            # The beep is one more prompt; recording starts when Twilio says it has played.
            self.beeped, self.phase = True, Phase.PROMPTS
            self.end_mark = self.line.queue(frames(tone()), "beep", "(beep)", False)
            self.end_expected_at = now + 0.4 + MARK_GRACE_S
            return None
        self.recorder = MessageRecorder(self.line.settings)
        self.vad.reset()
        self.deadline = now + self.action.silence_s  # nothing said at all within the silence setting: no message
        self.line.note(Event.STREAM_RECORDING, recording_sid=self.recorder.recording_sid)  # ties the file to the call
        return None

    def on_frame(self, ulaw: bytes, now: float) -> Outcome:
        if self.recorder is None:
            return None
        self.recorder.write(ulaw)
        change = self.vad.feed(ulaw_to_pcm16(ulaw))
        if change == "started" or self.vad.in_speech:
            self.recorder.voiced_ms += FRAME_MS
            self.deadline = None
        if change == "ended":
            # The message ends after its own silence setting, longer than a turn's end of speech.
            self.deadline = now + max(0.0, self.action.silence_s - self.vad.settings.end_silence_ms / 1000)
        return None

    def on_key(self, digit: str, now: float) -> Outcome:
        if self.recorder is not None and digit in self.action.finish_on_key:
            return self._end(digit)
        return None

    def on_tick(self, now: float) -> Outcome:
        if self.recorder is None:
            return None
        if self.recorder.seconds >= self.action.max_seconds or (self.deadline is not None and now >= self.deadline):
            return self._end("")
        return None

    def salvage(self) -> Next | None:
        if self.recorder is None:
            return None
        recording = self._stop()
        return Next(self.action.on_done, Input(recording=recording)) if recording is not None else None

    def _end(self, key: str) -> Outcome:
        """The message is over: on disk, then the flow makes the ticket (exactly once)."""
        recording = self._stop()
        if recording is None:
            return Next(self.action.on_empty, Input(digits=key))
        return Next(self.action.on_done, Input(digits=key, recording=recording))

    def _stop(self) -> Recording | None:
        """Stop recording: the message on disk, or None (and no file) when nothing was said."""
        recorder, self.recorder = self.recorder, None
        assert recorder is not None
        if recorder.voiced_ms == 0:
            recorder.discard()
            return None
        path = recorder.finish()
        return Recording(sid=recorder.recording_sid, url="", duration_s=max(1, round(recorder.seconds)), path=str(path))


class HandOffWait(Wait):
    """`Transfer` or `Hangup`: once the prompts have played, TwiML carries on."""

    def prompts_heard(self, now: float) -> Outcome:
        return Leave(Turn(self.action), "transfer" if isinstance(self.action, Transfer) else "hangup")


def wait_for(action: Listen | Record | Transfer | Hangup, line: Line, utterances: UtteranceAssembler) -> Wait:
    if isinstance(action, Listen):
        return ListenWait(action, line, utterances)
    if isinstance(action, Record):
        return (QuestionWait if action.purpose == "question" else MessageWait)(action, line, utterances)
    return HandOffWait(action, line, utterances)
