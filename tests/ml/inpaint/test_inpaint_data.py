"""The video-inpainting data engine: sources, holes, determinism, decode-once, loaders."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from ml.inpaint.data import (
    DataOptions, FrameStore, build_dataset, find_clips, make_loader, to_network,
)
from ml.inpaint.masks import moving_object_masks, training_masks
from ml.inpaint.synthetic import camera_path_clip
from ml.io.images import write_mask, write_rgb8

from conftest import panning_clip

SIZE = (32, 48)


@pytest.fixture()
def sources(tmp_path):
    """A clip folder with a masks/ folder beside its frames, and a folder of two stills."""
    clip = tmp_path / "clips" / "pan" / "frames"
    for i, f in enumerate(panning_clip(n=9, h=40, w=60)):
        write_rgb8(clip / f"{i:05d}.png", (f * 255 + 0.5).astype(np.uint8))
        write_mask(tmp_path / "clips" / "pan" / "masks" / f"{i:05d}.png", np.zeros((40, 60), np.float32))
    rng = np.random.default_rng(1)
    for k in range(2):
        write_rgb8(tmp_path / "stills" / f"photo{k}.jpg", (rng.random((120, 160, 3)) * 255).astype(np.uint8))
    return tmp_path / "clips", tmp_path / "stills"


def test_object_masks_move_and_stay_in_range() -> None:
    for seed in range(12):
        ms = moving_object_masks(5, 90, 160, np.random.default_rng(seed))
        assert len(ms) == 5 and all(m.shape == (90, 160) and m.any() for m in ms)
        assert 0.002 < np.mean([m.mean() for m in ms]) < 0.45
        assert not np.array_equal(ms[0], ms[-1]), "an object mask must move or change shape"
    a = training_masks(5, 40, 60, np.random.default_rng(3))
    b = training_masks(5, 40, 60, np.random.default_rng(3))
    assert all(np.array_equal(x, y) for x, y in zip(a, b))


def test_camera_path_clip_is_seeded_and_moves() -> None:
    still = (np.random.default_rng(0).random((200, 300, 3)) * 255).astype(np.uint8)
    a = camera_path_clip(still, 5, 36, 64, np.random.default_rng(4))
    b = camera_path_clip(still, 5, 36, 64, np.random.default_rng(4))
    c = camera_path_clip(still, 5, 36, 64, np.random.default_rng(5))
    assert all(f.shape == (36, 64, 3) and f.dtype == np.uint8 for f in a)
    assert all(np.array_equal(x, y) for x, y in zip(a, b))
    assert not np.array_equal(a[0], c[0])
    assert np.abs(a[0].astype(int) - a[-1].astype(int)).mean() > 5, "the camera must move"


def test_sources_decode_once_and_masks_folders_are_not_clips(sources, tmp_path) -> None:
    clips, stills = sources
    refs = find_clips(clips)
    assert [r.name.split("/")[-1] for r in refs] == ["frames"]
    store = FrameStore(tmp_path / "cache")
    opts = DataOptions(size=SIZE, synthetic_per_still=3)
    ds = build_dataset([clips], [stills], options=opts, store=store)
    assert len(ds.windows) == 5 and ds.n_synthetic == 6 and store.decoded == 3
    build_dataset([clips], [stills], options=opts, store=store)
    assert store.decoded == 3, "in-memory: nothing decoded twice"
    again = FrameStore(tmp_path / "cache")
    ds2 = build_dataset([clips], [stills], options=opts, store=again)
    assert again.decoded == 0, "the .npy cache serves a second run"
    for k in (0, 7, 13, 40):
        f1, m1 = ds[k]
        f2, m2 = ds2[k]
        assert torch.equal(f1, f2) and torch.equal(m1, m2)
    f, m = ds[3]
    assert f.shape == (5, 3, *SIZE) and f.dtype == torch.uint8 and m.shape == (5, 1, *SIZE)
    assert set(torch.unique(m).tolist()) <= {0, 1} and m.float().mean() > 0.01
    net_f, net_m = to_network(f[None], m[None], torch.device("cpu"))
    assert net_f.min() >= -1 and net_f.max() <= 1 and net_f.dtype == torch.float32


def test_stream_is_a_function_of_position(sources) -> None:
    """Workers or not, and a loader restarted at step 3, give the batches of an unbroken run."""
    clips, stills = sources
    ds = build_dataset([clips], [stills], options=DataOptions(size=SIZE, synthetic_per_still=2))
    n = ds.epoch_size  # 5 windows + 4 synthetic
    plain = list(make_loader(ds, 2, stop_step=7))
    assert len(plain) == 7  # 14 items: past the first epoch into the second
    restarted = list(make_loader(ds, 2, start_step=3, stop_step=7, workers=2))
    for a, b in zip(plain[3:], restarted):
        assert torch.equal(a[0], b[0]) and torch.equal(a[1], b[1])
    epoch0 = sorted(ds.locate(k)[1] for k in range(n))
    assert epoch0 == list(range(n)), "each epoch visits every item once"
    assert [ds.locate(k)[1] for k in range(n)] != [ds.locate(k)[1] for k in range(n, 2 * n)], "epochs reshuffle"


def test_no_data_is_a_clear_error(tmp_path) -> None:
    (tmp_path / "empty").mkdir()
    with pytest.raises(ValueError, match="no clip with at least 5 frames"):
        build_dataset([tmp_path / "empty"], options=DataOptions(size=SIZE))
    with pytest.raises(FileNotFoundError, match="missing"):
        build_dataset([tmp_path / "missing"], options=DataOptions(size=SIZE))
