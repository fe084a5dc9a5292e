#!/usr/bin/env python3
"""Writes the hold sound QlooPhone plays while a tool works: `hold.wav`,
8 kHz mono G.711 mu-law, made here from sine tones (no recorded or
licensed audio).

One second, looped by the server: a soft two-note chime (C5 then G5, each
a short tone with a raised-cosine swell, a quiet octave above beneath it),
then silence. Quiet on purpose: peaks about 36 dB under full scale, so it
reads as "still working" and never as a voice.

    python3 adapters/assets/hold.py            # writes hold.wav beside this file
    python3 adapters/assets/hold.py -          # the WAV to standard output

The adapters' tests run this and check the shipped file is what it writes.
"""

import math
import struct
import sys
from pathlib import Path

RATE = 8000
SECONDS = 1.0
PEAK = 0.016  # of full scale
NOTES = [  # (start s, length s, frequency Hz)
    (0.00, 0.16, 523.25),
    (0.18, 0.22, 783.99),
]


def mulaw(sample: int) -> int:
    """G.711 mu-law encoding of one 16-bit sample."""
    bias, clip = 0x84, 32635
    sign = 0x80 if sample < 0 else 0
    magnitude = min(abs(sample), clip) + bias
    exponent = 7
    mask = 0x4000
    while exponent > 0 and not magnitude & mask:
        exponent -= 1
        mask >>= 1
    mantissa = (magnitude >> (exponent + 3)) & 0x0F
    return ~(sign | (exponent << 4) | mantissa) & 0xFF


def samples() -> list[int]:
    out = []
    for n in range(int(RATE * SECONDS)):
        t = n / RATE
        value = 0.0
        for start, length, freq in NOTES:
            if start <= t < start + length:
                phase = (t - start) / length
                swell = 0.5 - 0.5 * math.cos(2 * math.pi * phase)
                tone = 0.8 * math.sin(2 * math.pi * freq * t)
                tone += 0.2 * math.sin(2 * math.pi * 2 * freq * t)
                value += swell * tone
        out.append(round(value * PEAK * 32767))
    return out


def wav(data: bytes) -> bytes:
    """A WAVE file of mu-law `data` (format tag 7), with a fact chunk."""
    fmt = struct.pack("<HHIIHHH", 7, 1, RATE, RATE, 1, 8, 0)
    chunks = b"fmt " + struct.pack("<I", len(fmt)) + fmt
    chunks += b"fact" + struct.pack("<II", 4, len(data))
    chunks += b"data" + struct.pack("<I", len(data)) + data
    if len(data) % 2:
        chunks += b"\0"
    return b"RIFF" + struct.pack("<I", 4 + len(chunks)) + b"WAVE" + chunks


def main() -> None:
    body = wav(bytes(mulaw(s) for s in samples()))
    if sys.argv[1:] == ["-"]:
        sys.stdout.buffer.write(body)
    else:
        Path(__file__).with_name("hold.wav").write_bytes(body)


if __name__ == "__main__":
    main()
