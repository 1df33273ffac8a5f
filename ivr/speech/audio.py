"""Read telephone audio: WAV with PCM (8/16-bit), mu-law or A-law samples, mono or stereo.

Twilio sends 8 kHz mono WAV; people testing send anything. The standard `wave` module
reads only PCM, so the RIFF chunks are parsed here and G.711 is decoded with numpy.
"""
from __future__ import annotations

import struct
from dataclasses import dataclass

import numpy as np


class AudioError(ValueError):
    """The bytes are not audio we can read; the message says why."""


@dataclass(frozen=True)
class PCM:
    samples: np.ndarray  # int16, mono
    rate: int

    @property
    def seconds(self) -> float:
        return len(self.samples) / self.rate if self.rate else 0.0

    def to_bytes(self) -> bytes:
        return self.samples.astype("<i2").tobytes()


def _ulaw_table() -> np.ndarray:
    codes = ~np.arange(256, dtype=np.uint8)
    sign = codes & 0x80
    exponent = (codes >> 4) & 0x07
    mantissa = codes & 0x0F
    magnitude = ((mantissa.astype(np.int32) << 3) + 0x84) << exponent
    return np.where(sign != 0, 0x84 - magnitude, magnitude - 0x84).astype(np.int16)


def _alaw_table() -> np.ndarray:
    codes = np.arange(256, dtype=np.uint8) ^ 0x55
    sign = codes & 0x80
    exponent = (codes >> 4) & 0x07
    mantissa = (codes & 0x0F).astype(np.int32)
    magnitude = np.where(exponent == 0, (mantissa << 4) + 8, ((mantissa << 4) + 0x108) << np.maximum(exponent - 1, 0))
    return np.where(sign != 0, magnitude, -magnitude).astype(np.int16)


ULAW = _ulaw_table()
ALAW = _alaw_table()


def read_wav(data: bytes) -> PCM:
    """Decode WAV bytes to 16-bit mono PCM; raise AudioError for anything else."""
    if len(data) < 12 or data[:4] != b"RIFF" or data[8:12] != b"WAVE":
        raise AudioError("not a WAV file (no RIFF/WAVE header)")
    pos, fmt, payload = 12, None, None
    while pos + 8 <= len(data):
        chunk_id, size = data[pos:pos + 4], struct.unpack("<I", data[pos + 4:pos + 8])[0]
        body = data[pos + 8:pos + 8 + size]
        if chunk_id == b"fmt ":
            if len(body) < 16:
                raise AudioError("WAV 'fmt ' chunk is truncated")
            fmt = struct.unpack("<HHIIHH", body[:16])
        elif chunk_id == b"data":
            payload = body
            break
        pos += 8 + size + (size & 1)
    if fmt is None or payload is None:
        raise AudioError("WAV file has no 'fmt ' or 'data' chunk")
    tag, channels, rate, _, _, bits = fmt
    if tag == 0xFFFE and len(data) > 0:  # WAVE_FORMAT_EXTENSIBLE: treat by bit depth as PCM
        tag = 1
    if channels < 1 or rate < 4000 or rate > 192000:
        raise AudioError(f"unsupported WAV: {channels} channel(s) at {rate} Hz")
    if tag == 7 and bits == 8:
        samples = ULAW[np.frombuffer(payload, dtype=np.uint8)]
    elif tag == 6 and bits == 8:
        samples = ALAW[np.frombuffer(payload, dtype=np.uint8)]
    elif tag == 1 and bits == 16:
        samples = np.frombuffer(payload[: len(payload) // 2 * 2], dtype="<i2")
    elif tag == 1 and bits == 8:
        samples = ((np.frombuffer(payload, dtype=np.uint8).astype(np.int16) - 128) << 8).astype(np.int16)
    else:
        raise AudioError(f"unsupported WAV encoding (format {tag}, {bits}-bit)")
    if channels > 1:
        usable = len(samples) // channels * channels
        samples = samples[:usable].reshape(-1, channels).mean(axis=1).astype(np.int16)
    if len(samples) == 0:
        raise AudioError("WAV file has no samples")
    return PCM(samples=np.ascontiguousarray(samples, dtype=np.int16), rate=int(rate))


TELEPHONE_RATE = 8000  # Hz: Twilio's recordings, Media Streams and our clips


def wav_header(data_bytes: int) -> bytes:
    """A 44-byte header for 8 kHz mono mu-law WAV (format 7), as Twilio's recordings and our clips."""
    return (b"RIFF" + struct.pack("<I", 36 + data_bytes) + b"WAVE"
            + b"fmt " + struct.pack("<IHHIIHH", 16, 7, 1, TELEPHONE_RATE, TELEPHONE_RATE, 1, 8)
            + b"data" + struct.pack("<I", data_bytes))
