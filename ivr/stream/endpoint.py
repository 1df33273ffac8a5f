"""Where an utterance starts and ends, from 20 ms frames: WebRTC's voice-activity detector.

Speech *starts* after a few voiced frames in a short window (line noise and clicks don't
reach that); it *ends* after a trailing silence (`end_silence_ms`, ~0.7 s). A short pre-roll
of frames before the start is kept so the recogniser hears the first syllable whole.
"""
from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from typing import Literal

import webrtcvad

from .protocol import FRAME_MS, SAMPLE_RATE

Change = Literal["started", "ended"] | None


@dataclass(frozen=True)
class EndpointSettings:
    end_silence_ms: int = 600   # trailing silence that ends an utterance
    start_voiced_ms: int = 100  # voiced audio within `start_window_ms` that counts as speech
    start_window_ms: int = 200
    aggressiveness: int = 2     # WebRTC VAD mode 0 (lenient) .. 3 (strict about what is speech)
    pre_roll_ms: int = 300


class Endpointer:
    """Feed 16-bit PCM frames of 20 ms; returns "started"/"ended" when that happens."""

    def __init__(self, settings: EndpointSettings | None = None):
        self.settings = settings or EndpointSettings()
        self._vad = webrtcvad.Vad(self.settings.aggressiveness)
        self._window: deque[bool] = deque(maxlen=max(1, self.settings.start_window_ms // FRAME_MS))
        self.pre_roll: deque[bytes] = deque(maxlen=max(1, self.settings.pre_roll_ms // FRAME_MS))
        self.in_speech = False
        self.silence_ms = 0
        self.speech_ms = 0

    def reset(self) -> None:
        self._window.clear()
        self.pre_roll.clear()
        self.in_speech = False
        self.silence_ms = self.speech_ms = 0

    def is_voiced(self, pcm16: bytes) -> bool:
        try:
            return self._vad.is_speech(pcm16, SAMPLE_RATE)
        except Exception:  # noqa: BLE001 - a short last frame is not speech
            return False

    def feed(self, pcm16: bytes) -> Change:
        voiced = self.is_voiced(pcm16)
        if not self.in_speech:
            self._window.append(voiced)
            self.pre_roll.append(pcm16)
            if sum(self._window) * FRAME_MS >= self.settings.start_voiced_ms:
                self.in_speech, self.silence_ms, self.speech_ms = True, 0, len(self._window) * FRAME_MS
                return "started"
            return None
        self.speech_ms += FRAME_MS
        self.silence_ms = 0 if voiced else self.silence_ms + FRAME_MS
        if self.silence_ms >= self.settings.end_silence_ms:
            self.in_speech = False
            self._window.clear()
            self.pre_roll.clear()
            return "ended"
        return None
