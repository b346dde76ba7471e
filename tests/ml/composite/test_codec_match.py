"""The plate's codec given to the product (ml/composite/codec_match.py): real x264 through PyAV."""
from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

pytest.importorskip("av")

from app.preflight import probe_plate  # noqa: E402
from ml.composite.codec_match import equivalent_crf, match_sequence  # noqa: E402
from ml.io.video import iter_frames, write_mp4  # noqa: E402

W, H, N = 192, 112, 16


def _scene(n: int = N, seed: int = 0) -> list[np.ndarray]:
    """A panning textured ground (fine low-contrast detail, the kind a codec flattens) with a
    few edges: what a camera films."""
    rng = np.random.default_rng(seed)
    tex = cv2.GaussianBlur(rng.uniform(60, 190, (H, W * 2, 3)).astype(np.float32), (0, 0), 0.8)
    tex[:, ::37] = 40
    out = []
    for i in range(n):
        out.append(np.clip(tex[:, 2 * i : 2 * i + W], 0, 255).astype(np.uint8))
    return out


def _filmed(tmp_path: Path, crf: int) -> tuple[list[np.ndarray], float, str]:
    """The scene through x264 at ``crf``: (decoded frames, bits per frame, codec) as a run sees them."""
    video = write_mp4(tmp_path / f"plate{crf}.mp4", _scene(), 24, crf=crf)
    facts = probe_plate(video)
    assert facts.codec == "h264" and facts.bits_per_pixel
    return list(iter_frames(video)), facts.bits_per_pixel * W * H, facts.codec


def test_the_equivalent_crf_of_a_filmed_plate_is_found_on_its_clean_side(tmp_path: Path):
    """Filmed at CRF 30, the decoded plate re-encodes to the source's rate at about 30; never
    higher (that would add artefacts the plate lacks) by more than a step."""
    frames, bits, codec = _filmed(tmp_path, 30)
    q = equivalent_crf(frames, bits, codec)
    assert q.crf is not None and 24.0 <= q.crf <= 31.0, q
    assert "h264" in q.why and f"{q.crf:.1f}" in q.why
    worse = equivalent_crf(*_filmed(tmp_path, 38))
    assert worse.crf is not None and worse.crf > q.crf + 4  # a more compressed plate reads as one


def test_a_near_lossless_or_unknown_plate_matches_nothing(tmp_path: Path):
    frames, bits, codec = _filmed(tmp_path, 8)
    assert equivalent_crf(frames, bits, codec).crf is None and "lossless" in equivalent_crf(frames, bits, codec).why
    assert equivalent_crf(frames, None, None).crf is None  # an image sequence: no rate to go by
    q = equivalent_crf(frames, bits, "prores")
    assert q.crf is None and "prores" in q.why


def test_the_product_gets_the_codec_and_the_plate_stays_as_decoded(tmp_path: Path):
    frames, _bits, _codec = _filmed(tmp_path, 32)
    comps = []
    yy, xx = np.mgrid[0:H, 0:W]
    disc = (xx - 96) ** 2 + (yy - 56) ** 2 < 26**2
    fine = ((xx // 2 + yy // 2) % 2).astype(np.float32)  # a crisp, fine CG texture
    for f in frames:
        c = f.copy()
        c[disc] = np.stack([200 + 30 * fine, 170 + 30 * fine, 40 + 0 * fine], -1)[disc].astype(np.uint8)
        comps.append(c)
    out = list(match_sequence(lambda: iter(comps), lambda: iter(frames), 32.0, 24))
    assert len(out) == len(comps)
    far = cv2.dilate(disc.astype(np.uint8), np.ones((21, 21), np.uint8)) == 0
    for o, c in zip(out, comps):
        assert np.array_equal(o[far], c[far])  # the plate's pixels: compressed once, untouched
        inner = cv2.erode(disc.astype(np.uint8), np.ones((5, 5), np.uint8)) > 0
        detail = lambda img: float(np.abs(cv2.Laplacian(img[..., 0].astype(np.float32), cv2.CV_32F))[inner].mean())
        assert detail(o) < 0.8 * detail(c)  # the crisp texture lost what x264 at CRF 32 loses
        assert np.abs(o[disc].astype(float) - c[disc].astype(float)).mean() < 25  # still the product


def test_odd_sized_frames_and_a_product_at_the_edge(tmp_path: Path):
    """4:2:0 pads an odd frame; the match gives back the frame's own size, product at its edge."""
    frames = [f[:95, :171] for f in _scene(6)]
    comps = []
    for f in frames:
        c = f.copy()
        c[80:, 150:] = (250, 220, 30)
        comps.append(c)
    out = list(match_sequence(lambda: iter(comps), lambda: iter(frames), 30.0, 24))
    assert all(o.shape == (95, 171, 3) for o in out)
    assert all(np.array_equal(o[:60, :120], c[:60, :120]) for o, c in zip(out, comps))
