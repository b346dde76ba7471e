"""Video files <-> frames with PyAV (FFmpeg libraries; no ffmpeg binary needed).

PyAV is imported when a video is actually opened (``_av``), not when this module is: folders
of PNG/JPEG frames (training, evaluation, a GPU machine without PyAV) never need it.
"""
from __future__ import annotations

import os
from fractions import Fraction
from pathlib import Path
from typing import Any, Iterable, Iterator

import numpy as np

from shotcache.layout import atomic_write


def _av(path: str | os.PathLike[str]) -> Any:
    """The PyAV module, or a clear error naming the video and the two ways out."""
    try:
        import av
    except ImportError as exc:
        raise ValueError(
            f"{path}: reading video needs PyAV, which is not installed here "
            "(pip install av, or give a folder of PNG/JPEG frames instead)"
        ) from exc
    return av


def probe(path: str | os.PathLike[str]) -> dict:
    """{'width','height','fps','frames'} or a clear error naming the file."""
    av = _av(path)
    try:
        with av.open(str(path)) as box:
            if not box.streams.video:
                raise ValueError(f"{path}: has no video stream")
            st = box.streams.video[0]
            fps = float(st.average_rate or st.guessed_rate or 24)
            n = st.frames or 0
            return {"width": st.codec_context.width, "height": st.codec_context.height, "fps": fps, "frames": int(n)}
    except (av.error.FFmpegError, OSError) as exc:
        raise ValueError(f"{path}: cannot decode this video ({exc}); give an MP4/MOV or a folder of images") from exc


def iter_frames(path: str | os.PathLike[str]) -> Iterator[np.ndarray]:
    """Yield HxWx3 uint8 RGB frames in display order."""
    av = _av(path)
    try:
        with av.open(str(path)) as box:
            stream = box.streams.video[0]
            stream.thread_type = "AUTO"
            for frame in box.decode(stream):
                yield frame.to_ndarray(format="rgb24")
    except (av.error.FFmpegError, OSError, IndexError) as exc:
        raise ValueError(f"{path}: cannot decode this video ({exc}); give an MP4/MOV or a folder of images") from exc


def frame_rate(path: str | os.PathLike[str]) -> Fraction:
    """The video's exact average frame rate as a fraction (frames / duration), e.g. 900000/29899.

    Why not a float: a plate at 30.10 fps written back at a rounded or nominal 30 (what a
    variable-rate phone clip announces) drifts a frame every few seconds against its sound."""
    av = _av(path)
    try:
        with av.open(str(path)) as box:
            st = box.streams.video[0]
            rate = st.average_rate or st.guessed_rate or st.base_rate
    except (av.error.FFmpegError, OSError, IndexError) as exc:
        raise ValueError(f"{path}: cannot decode this video ({exc}); give an MP4/MOV or a folder of images") from exc
    if not rate or rate <= 0:
        raise ValueError(f"{path}: the video states no frame rate; re-encode it with one (e.g. ffmpeg -r 30)")
    return Fraction(rate)


X264_PRESET = "medium"
"""x264 preset of every H.264 this project writes: the delivered MP4 and the codec match's
re-encode (ml/composite/codec_match.py), so the match sees the encoder the delivery uses."""


def inter_bits(packets: list[tuple[int, bool]]) -> float:
    """Mean bits of a stream's predicted frames (its key frames' when it has no others), from
    its packets (size in bytes, whether a key frame). Key frames cost many times a predicted one
    and come every few seconds or once per file, so the mean over all frames depends on the
    clip's length and the encoder's key interval more than on its quality; the predicted
    frames' does not."""
    inter = [size for size, key in packets if not key and size]
    return 8.0 * float(np.mean(inter if inter else [size for size, _key in packets]))


def write_mp4(path: str | os.PathLike[str], frames: Iterable[np.ndarray], fps: float | Fraction, crf: int = 18) -> Path:
    """Encode uint8 RGB frames as H.264 (yuv420p) MP4 at the plate frame rate, atomically.

    A Fraction ``fps`` is kept exactly: the stream's time base is 1/numerator and frame i
    has pts i * denominator, so frames / duration of the file is exactly ``fps``."""
    av = _av(path)
    rate = fps if isinstance(fps, Fraction) else Fraction(fps).limit_denominator(1001)
    tick = Fraction(1, rate.numerator)

    def _w(tmp: Path) -> None:
        with av.open(str(tmp), mode="w", format="mp4") as box:
            stream = None
            n = 0
            for img in frames:
                img = np.ascontiguousarray(img[..., :3])
                if stream is None:
                    h, w = img.shape[:2]
                    stream = box.add_stream("libx264", rate=rate)
                    stream.time_base = stream.codec_context.time_base = tick
                    stream.width, stream.height = w - w % 2, h - h % 2
                    stream.pix_fmt = "yuv420p"
                    stream.options = {"crf": str(crf), "preset": X264_PRESET}
                img = img[: stream.height, : stream.width]
                frame = av.VideoFrame.from_ndarray(img, format="rgb24")
                frame.pts, frame.time_base = n * rate.denominator, tick
                n += 1
                for packet in stream.encode(frame):
                    box.mux(packet)
            if stream is None:
                raise ValueError(f"{path}: no frames to encode")
            for packet in stream.encode():
                box.mux(packet)

    return atomic_write(path, _w)
