"""Codec match: a version's frames through the plate's codec, before they are delivered.

The rule and the measurement are ml.composite.codec_match's; this is the workflow `vanelia run`
calls after the stages: decide the quality (``--codec-match auto``: measured from a video
plate's rate; a CRF: as given; ``off``), write the matched frames beside the version's own
(``vNNN/codec/``, ShotPaths.delivered_frame), and say what was done. The stages' frames are
never touched, so a re-run resumes from them and matches again from clean frames.
"""
from __future__ import annotations

import shutil
from fractions import Fraction
from typing import TYPE_CHECKING, Callable, Iterator

import numpy as np

from shotcache.errors import UsageError
from shotcache.layout import ShotPaths

from .preflight import PlateFacts

if TYPE_CHECKING:
    from ml.composite.codec_match import CodecQuality

MODES = ("auto", "off")


def parse_codec_match(text: str | float) -> str | float:
    """``auto``, ``off`` or an x264 CRF (0-51); UsageError names the value otherwise."""
    if isinstance(text, (int, float)):
        value = float(text)
    elif str(text).lower() in MODES:
        return str(text).lower()
    else:
        try:
            value = float(str(text))
        except ValueError:
            raise UsageError(f"--codec-match {text!r}: give auto (measured from the plate video), off, or an H.264 CRF "
                             "from 0 to 51 (cameras record at about 18-28)") from None
    if not 0 <= value <= 51:
        raise UsageError(f"--codec-match {text}: an H.264 CRF runs from 0 (lossless) to 51")
    return value


def plate_quality(mode: str | float, paths: ShotPaths, frames: list[int], plate: PlateFacts | None) -> "CodecQuality":
    """The quality to match: as given, or measured from a video plate's rate on the shot's
    decoded plate frames (its bits per pixel over the shot's frame size: a reduced
    ``--resolution`` is matched at the rate it would have had)."""
    from ml.composite.codec_match import CodecQuality, PROBE_FRAMES, equivalent_crf
    from ml.io.images import read_rgb8

    if mode == "off":
        return CodecQuality(None, "off (--codec-match off)")
    if not isinstance(mode, str):
        return CodecQuality(float(mode), f"x264 CRF {float(mode):g} as given")
    sample = [read_rgb8(paths.plate_frame(f)) for f in frames[:PROBE_FRAMES]]
    if plate is None or plate.bits_per_pixel is None or not sample:
        return equivalent_crf(sample, None, None)
    h, w = sample[0].shape[:2]
    return equivalent_crf(sample, plate.bits_per_pixel * w * h, plate.codec)


def match_version(paths: ShotPaths, version: str, frames: list[int], mode: str | float, plate: PlateFacts | None,
                  fps: Fraction | float, log: Callable[[str], None] = print) -> float | None:
    """Write the version's codec-matched frames (``vNNN/codec/``) and return the CRF used, or
    None (then the folder is removed: the version's own frames are delivered)."""
    from ml.composite.codec_match import match_sequence
    from ml.io.images import read_rgb8, write_rgb8

    out_dir = paths.codec_dir(version)
    have = [f for f in frames if paths.version_frame(version, f).is_file()]
    quality = plate_quality(mode, paths, frames, plate)
    if quality.crf is None or not have:
        shutil.rmtree(out_dir, ignore_errors=True)
        log(f"[vanelia] codec match: none ({quality.why})")
        return None

    def composites() -> Iterator[np.ndarray]:
        return (read_rgb8(paths.version_frame(version, f)) for f in have)

    def plates() -> Iterator[np.ndarray]:
        return (read_rgb8(paths.plate_frame(f)) for f in have)

    out_dir.mkdir(parents=True, exist_ok=True)
    for f, img in zip(have, match_sequence(composites, plates, quality.crf, fps)):
        write_rgb8(out_dir / paths.version_frame(version, f).name, img)
    log(f"[vanelia] codec match: the product through the plate's codec ({quality.why}), {len(have)} frames")
    return quality.crf
