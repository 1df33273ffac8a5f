"""Telephone audio for the stream: mu-law <-> 16-bit PCM, 20 ms frames, clips and tones."""
from __future__ import annotations

import struct

import numpy as np

from ..speech.audio import ULAW, AudioError, read_wav, wav_header  # noqa: F401 - wav_header: the stream's format too
from .protocol import FRAME_BYTES, SAMPLE_RATE, ULAW_SILENCE


def ulaw_to_pcm16(data: bytes) -> bytes:
    """Decode G.711 mu-law to little-endian 16-bit PCM (what Vosk and the VAD take)."""
    return ULAW[np.frombuffer(data, dtype=np.uint8)].astype("<i2").tobytes()


def pcm16_to_ulaw(samples: np.ndarray) -> bytes:
    """Encode 16-bit PCM samples to G.711 mu-law (the G.711 reference algorithm, vectorised)."""
    x = np.asarray(samples, dtype=np.int32)
    sign = np.where(x < 0, 0x80, 0x00)
    magnitude = np.minimum(np.abs(x), 32635) + 0x84
    exponent = np.floor(np.log2(magnitude)).astype(np.int32) - 7
    exponent = np.clip(exponent, 0, 7)
    mantissa = (magnitude >> (exponent + 3)) & 0x0F
    return (~(sign | (exponent << 4) | mantissa) & 0xFF).astype(np.uint8).tobytes()


def mulaw_payload(wav: bytes) -> bytes:
    """The raw mu-law samples of an 8 kHz mono mu-law WAV (our rendered clips), header removed.

    Anything else (PCM, another rate) is decoded and re-encoded, so any clip can be played.
    """
    if len(wav) >= 12 and wav[:4] == b"RIFF" and wav[8:12] == b"WAVE":
        pos = 12
        fmt = None
        while pos + 8 <= len(wav):
            chunk_id, size = wav[pos:pos + 4], struct.unpack("<I", wav[pos + 4:pos + 8])[0]
            body = wav[pos + 8:pos + 8 + size]
            if chunk_id == b"fmt ":
                fmt = struct.unpack("<HHI", body[:8])
            elif chunk_id == b"data" and fmt == (7, 1, SAMPLE_RATE):
                return bytes(body)
            pos += 8 + size + (size & 1)
    pcm = read_wav(wav)
    if pcm.rate != SAMPLE_RATE:
        raise AudioError(f"clip is {pcm.rate} Hz; the stream plays 8 kHz audio")
    return pcm16_to_ulaw(pcm.samples)


def frames(payload: bytes) -> list[bytes]:
    """Split mu-law audio into 20 ms frames; the last is padded with silence to full size."""
    out = [payload[i:i + FRAME_BYTES] for i in range(0, len(payload), FRAME_BYTES)]
    if out and len(out[-1]) < FRAME_BYTES:
        out[-1] = out[-1] + bytes([ULAW_SILENCE]) * (FRAME_BYTES - len(out[-1]))
    return out


def tone(hz: float = 1000.0, ms: int = 400, level: float = 0.3) -> bytes:
    """A beep in mu-law, e.g. before a message is recorded (as <Record playBeep>)."""
    t = np.arange(SAMPLE_RATE * ms // 1000) / SAMPLE_RATE
    return pcm16_to_ulaw((np.sin(2 * np.pi * hz * t) * 32767 * level).astype(np.int16))
