"""The plate's compression, given to the product: its pixels go through the plate's codec.

A camera or phone records through a lossy codec: fine low-contrast texture is flattened, edges
ring, moving detail smears between the blocks of its motion search. A path-traced product
composited after the fact has none of it, and on a compressed plate (a phone's 4-5 Mbit/s
720p, a web clip) it reads as clean CG at the first look, whatever its light and blur. Noise
(grain) and chroma subsampling (chroma.py) are matched per frame; this is the rest.

How: the composite sequence is encoded with H.264 (x264, 4:2:0, the preset of the final
encode) at the *equivalent quality* of the plate, decoded, and taken where the composite
changed the plate (the product, its edge, its shadow; dilated a little, for the codec's ringing
around an edge); elsewhere the plate's own pixels stay as they were decoded, compressed once.

The equivalent quality is measured, not assumed: the decoded plate is encoded again at a few
constant rate factors (CRF), and the one whose rate equals the source's own (its video packets'
size per frame, known without decoding) is the plate's quality in x264's terms. A decoded plate
has already lost what its codec threw away, so the same CRF makes a little less rate from it
than from the original: the CRF found errs on the clean side (less degradation than the plate
had), the side that cannot add artefacts the plate lacks. Codecs other than H.264 have their
rate scaled by what they save against it (CODEC_EFFICIENCY); others (ProRes, DNxHD, MJPEG,
lossless) are no delivery codec, and nothing is matched.
"""
from __future__ import annotations

import io
import math
from dataclasses import dataclass
from fractions import Fraction
from typing import Any, Callable, Iterable, Iterator

import cv2
import numpy as np

CODEC_EFFICIENCY = {"h264": 1.0, "hevc": 1.6, "vp9": 1.5, "av1": 1.9, "mpeg4": 0.7, "mpeg2video": 0.5}
"""Rate H.264 needs for the same picture over what each codec needs (about: HEVC saves 35-40 %
at equal quality, AV1 about half): the source's rate times this is its H.264 equivalent."""
PROBE_CRFS = (14.0, 22.0, 30.0, 38.0)
"""CRFs the decoded plate is encoded at to find its equivalent (log rate is near linear in CRF
between them: about 8 % less rate per CRF step)."""
PROBE_FRAMES = 24
"""Plate frames encoded for the measurement: enough for the codec's P-frames to count."""
CLEAN_CRF = 16.0
"""At or under this the plate is near lossless: there is nothing to match."""
MAX_CRF = 40.0
PRESET = "medium"
"""x264 preset of the match: the final encode's (ml.io.video.write_mp4)."""
CHANGED = 2.0 / 255
"""A pixel the composite changed by more than this (any channel, display values) gets the codec."""
DILATE_PX = 3
"""The changed area is grown this far: the codec's ringing reaches past an edge into the plate."""


@dataclass
class CodecQuality:
    """The plate's quality in x264 terms (``crf`` None: nothing to match) and why."""

    crf: float | None
    why: str


def _even(img: np.ndarray) -> np.ndarray:
    """4:2:0 needs an even width and height: the last row / column repeated."""
    h, w = img.shape[:2]
    if h % 2 or w % 2:
        img = np.pad(img, ((0, h % 2), (0, w % 2), (0, 0)), mode="edge")
    return np.ascontiguousarray(img[..., :3])


def encode(frames: Iterable[np.ndarray], crf: float, fps: Fraction | float = 24) -> tuple[bytes, int, int]:
    """H.264 (x264, 4:2:0) of uint8 RGB frames at ``crf`` in memory: (the MP4's bytes, frames,
    bytes of its video packets - the rate without the container's own)."""
    import av

    rate = fps if isinstance(fps, Fraction) else Fraction(fps).limit_denominator(1001)
    buf = io.BytesIO()
    n = payload = 0
    with av.open(buf, mode="w", format="mp4") as box:
        stream: Any = None
        for img in frames:
            img = _even(img)
            if stream is None:
                stream = box.add_stream("libx264", rate=rate)
                stream.height, stream.width = img.shape[:2]
                stream.pix_fmt = "yuv420p"
                stream.options = {"crf": f"{crf:.2f}", "preset": PRESET}
            for pkt in stream.encode(av.VideoFrame.from_ndarray(img, format="rgb24")):
                payload += pkt.size
                box.mux(pkt)
            n += 1
        if stream is None:
            raise ValueError("no frames to encode")
        for pkt in stream.encode():
            payload += pkt.size
            box.mux(pkt)
    return buf.getvalue(), n, payload


def decode(data: bytes) -> Iterator[np.ndarray]:
    """The frames of an in-memory MP4 (uint8 RGB), in display order."""
    import av

    with av.open(io.BytesIO(data), mode="r") as box:
        for fr in box.decode(video=0):
            yield fr.to_ndarray(format="rgb24")


def bits_per_frame(frames: list[np.ndarray], crf: float) -> float:
    _data, n, payload = encode(frames, crf)
    return 8.0 * payload / max(n, 1)


def equivalent_crf(plate: list[np.ndarray], source_bits_per_frame: float | None, codec: str | None) -> CodecQuality:
    """The CRF at which x264 spends the source's rate on the decoded ``plate`` frames (a sample
    of the shot's, PROBE_FRAMES at most), or no match with the reason."""
    if not source_bits_per_frame or not codec:
        return CodecQuality(None, "the plate is an image sequence: its codec is unknown, nothing to match")
    if codec not in CODEC_EFFICIENCY:
        return CodecQuality(None, f"the plate's codec ({codec}) is no delivery codec: nothing to match")
    if not plate:
        return CodecQuality(None, "no plate frames to measure")
    target = source_bits_per_frame * CODEC_EFFICIENCY[codec]
    sample = plate[:PROBE_FRAMES]
    crfs = np.array(PROBE_CRFS)
    logs = np.array([math.log(bits_per_frame(sample, c)) for c in crfs])
    # rate falls with CRF: interpolate log rate, extrapolating a little past the probes
    order = np.argsort(logs)
    crf = float(np.interp(math.log(target), logs[order], crfs[order], left=np.nan, right=np.nan))
    mbit = source_bits_per_frame / 1e6
    if not np.isfinite(crf):
        crf = float(crfs[0] if math.log(target) > logs.max() else crfs[-1])
    if crf <= CLEAN_CRF:
        return CodecQuality(None, f"the plate is near lossless ({codec}, {mbit:.2f} Mbit a frame: x264 CRF {crf:.1f} or better): nothing to match")
    crf = min(crf, MAX_CRF)
    return CodecQuality(crf, f"{codec} at {mbit:.3f} Mbit a frame: x264 CRF {crf:.1f} on this plate")


def changed_weight(composite: np.ndarray, plate: np.ndarray) -> np.ndarray:
    """HxW in 0..1: where the composite changed the plate (CHANGED), grown by DILATE_PX and
    feathered, so the codec's pixels blend into the plate's."""
    diff = np.abs(composite.astype(np.int16) - plate.astype(np.int16)).max(axis=-1) > CHANGED * 255
    k = 2 * DILATE_PX + 1
    grown = cv2.dilate(diff.astype(np.uint8), np.ones((k, k), np.uint8)).astype(np.float32)
    return cv2.GaussianBlur(grown, (0, 0), 1.0)


def match_sequence(composites: Callable[[], Iterable[np.ndarray]], plates: Callable[[], Iterable[np.ndarray]], crf: float,
                   fps: Fraction | float = 24) -> Iterator[np.ndarray]:
    """The composite frames (uint8 RGB), each with the codec's version of what it changed.

    ``composites`` and ``plates`` are called to iterate the frames (twice for the composites:
    once to encode the whole sequence, as the codec's motion search sees it, once to blend), so
    no sequence is held in memory."""
    data, n, _payload = encode(composites(), crf, fps)
    count = 0
    for coded, comp, plate in zip(decode(data), composites(), plates()):
        h, w = comp.shape[:2]
        coded = coded[:h, :w]
        wgt = changed_weight(comp, plate)[..., None]
        out = comp.astype(np.float32) * (1 - wgt) + coded.astype(np.float32) * wgt
        count += 1
        yield np.clip(np.round(out), 0, 255).astype(np.uint8)
    if count != n:
        raise RuntimeError(f"codec match: {count} frames decoded of {n} encoded")
