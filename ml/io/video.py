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

VIDEO_EXTS = (".mp4", ".mov", ".mkv", ".avi", ".webm", ".m4v", ".mxf")


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


def write_mp4(path: str | os.PathLike[str], frames: Iterable[np.ndarray], fps: float, crf: int = 18) -> Path:
    """Encode uint8 RGB frames as H.264 (yuv420p) MP4 at the plate frame rate, atomically."""
    av = _av(path)
    rate = Fraction(fps).limit_denominator(1001)

    def _w(tmp: Path) -> None:
        with av.open(str(tmp), mode="w", format="mp4") as box:
            stream = None
            for img in frames:
                img = np.ascontiguousarray(img[..., :3])
                if stream is None:
                    h, w = img.shape[:2]
                    stream = box.add_stream("libx264", rate=rate)
                    stream.width, stream.height = w - w % 2, h - h % 2
                    stream.pix_fmt = "yuv420p"
                    stream.options = {"crf": str(crf), "preset": "medium"}
                img = img[: stream.height, : stream.width]
                for packet in stream.encode(av.VideoFrame.from_ndarray(img, format="rgb24")):
                    box.mux(packet)
            if stream is None:
                raise ValueError(f"{path}: no frames to encode")
            for packet in stream.encode():
                box.mux(packet)

    return atomic_write(path, _w)
