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
constant rate factors (CRF), and the one whose rate equals the source's own (its predicted
frames' mean packet size, known without decoding; key frames left out on both sides, since
how often they come is the encoder's choice, not its quality) is the plate's quality in
x264's terms. A decoded plate
has already lost what its codec threw away, so the same CRF makes a little less rate from it
than from the original: the CRF found tends to the clean side (less degradation than the plate
had), the side that cannot add artefacts the plate lacks (x264-filmed plates at CRF 18-38:
0-2.3 under, 0.1 over at most; tests/ml/composite/test_codec_match.py, the benchmark). Codecs other than H.264 have their
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

from ml.io.video import X264_PRESET, inter_bits

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


def encode(frames: Iterable[np.ndarray], crf: float, fps: Fraction | float = 24) -> tuple[bytes, int, list[tuple[int, bool]]]:
    """H.264 (x264, 4:2:0) of uint8 RGB frames at ``crf`` in memory: (the MP4's bytes, frames,
    its video packets' sizes in bytes and whether each is a key frame)."""
    import av

    rate = fps if isinstance(fps, Fraction) else Fraction(fps).limit_denominator(1001)
    buf = io.BytesIO()
    n = 0
    packets: list[tuple[int, bool]] = []
    with av.open(buf, mode="w", format="mp4") as box:
        stream: Any = None
        for img in frames:
            img = _even(img)
            if stream is None:
                stream = box.add_stream("libx264", rate=rate)
                stream.height, stream.width = img.shape[:2]
                stream.pix_fmt = "yuv420p"
                stream.options = {"crf": f"{crf:.2f}", "preset": X264_PRESET}
            for pkt in stream.encode(av.VideoFrame.from_ndarray(img, format="rgb24")):
                packets.append((pkt.size, bool(pkt.is_keyframe)))
                box.mux(pkt)
            n += 1
        if stream is None:
            raise ValueError("no frames to encode")
        for pkt in stream.encode():
            packets.append((pkt.size, bool(pkt.is_keyframe)))
            box.mux(pkt)
    return buf.getvalue(), n, packets


def decode(data: bytes) -> Iterator[np.ndarray]:
    """The frames of an in-memory MP4 (uint8 RGB), in display order."""
    import av

    with av.open(io.BytesIO(data), mode="r") as box:
        for fr in box.decode(video=0):
            yield fr.to_ndarray(format="rgb24")


def bits_per_frame(frames: list[np.ndarray], crf: float) -> float:
    """Mean bits of a predicted frame of x264 at ``crf`` over these frames (``inter_bits``)."""
    return inter_bits(encode(frames, crf)[2])


def equivalent_crf(plate: list[np.ndarray], source_bits_per_frame: float | None, codec: str | None) -> CodecQuality:
    """The CRF at which x264 spends the source's rate on the decoded ``plate`` frames (a sample
    of the shot's, PROBE_FRAMES at most), or no match with the reason. Rates are those of the
    predicted frames on both sides (``inter_bits``; the source's from its container)."""
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
    # rate falls with CRF: interpolate in log rate; beyond the probes, the nearest probe's CRF
    order = np.argsort(logs)
    crf = float(np.interp(math.log(target), logs[order], crfs[order], left=np.nan, right=np.nan))
    kbit = source_bits_per_frame / 1e3
    if not np.isfinite(crf):
        crf = float(crfs[0] if math.log(target) > logs.max() else crfs[-1])
    if crf <= CLEAN_CRF:
        return CodecQuality(None, f"the plate is near lossless ({codec}, {kbit:.0f} kbit a frame: x264 CRF {crf:.1f} or better): nothing to match")
    crf = min(crf, MAX_CRF)
    return CodecQuality(crf, f"{codec} at {kbit:.1f} kbit a frame: x264 CRF {crf:.1f} on this plate")


def changed(composite: np.ndarray, plate: np.ndarray) -> np.ndarray:
    """HxW bool: where the composite changed the plate by more than CHANGED in any channel."""
    return np.abs(composite.astype(np.int16) - plate.astype(np.int16)).max(axis=-1) > CHANGED * 255


def changed_weight(mask: np.ndarray) -> np.ndarray:
    """HxW in 0..1: the ``changed`` mask grown by DILATE_PX and feathered, so the codec's pixels
    blend into the plate's."""
    k = 2 * DILATE_PX + 1
    grown = cv2.dilate(mask.astype(np.uint8), np.ones((k, k), np.uint8)).astype(np.float32)
    return cv2.GaussianBlur(grown, (0, 0), 1.0)


def _blend(comp: np.ndarray, plate: np.ndarray, coded: np.ndarray) -> np.ndarray:
    """``comp`` with ``coded`` where it changed ``plate`` (``changed_weight``), worked on the
    changed pixels' box only (a product is a small part of a frame)."""
    mask = changed(comp, plate)
    rows, cols = np.flatnonzero(mask.any(axis=1)), np.flatnonzero(mask.any(axis=0))
    if len(rows) == 0:
        return comp
    pad = DILATE_PX + 4
    y0, y1 = max(rows[0] - pad, 0), rows[-1] + pad + 1
    x0, x1 = max(cols[0] - pad, 0), cols[-1] + pad + 1
    h, w = comp.shape[:2]
    c, k = comp[y0:y1, x0:x1], coded[:h, :w][y0:y1, x0:x1]  # coded: padded to even sizes
    wgt = changed_weight(mask[y0:y1, x0:x1])[..., None]
    out = comp.copy()
    out[y0:y1, x0:x1] = np.clip(np.round(c.astype(np.float32) * (1 - wgt) + k.astype(np.float32) * wgt), 0, 255).astype(np.uint8)
    return out


def match_sequence(composites: Callable[[], Iterable[np.ndarray]], plates: Callable[[], Iterable[np.ndarray]], crf: float,
                   fps: Fraction | float = 24) -> Iterator[np.ndarray]:
    """The composite frames (uint8 RGB), each with the codec's version of what it changed.

    ``composites`` and ``plates`` are called to iterate the frames (twice for the composites:
    once to encode the whole sequence, as the codec's motion search sees it, once to blend), so
    no sequence is held in memory."""
    data, n, _packets = encode(composites(), crf, fps)
    count = 0
    for coded, comp, plate in zip(decode(data), composites(), plates()):
        count += 1
        yield _blend(comp, plate, coded)
    if count != n:
        raise RuntimeError(f"codec match: {count} frames decoded of {n} encoded")
