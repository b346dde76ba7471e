"""`vanelia eval insert` on one tiny generated set: truth rendered with Cycles, Vanelia's insert scored."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[2]


def vanelia(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", "import sys; from cli.main import main; sys.exit(main())", *args],
                          cwd=ROOT, capture_output=True, text=True, timeout=600)


def empty_glb(path: Path) -> Path:
    """A valid glTF binary with an empty scene: a --model that exists wherever the shared data
    does not (the refusals below must not hinge on the Duck GLB's presence)."""
    import struct

    doc = json.dumps({"asset": {"version": "2.0"}, "scenes": [{"nodes": []}], "scene": 0}).encode()
    doc += b" " * (-len(doc) % 4)
    path.write_bytes(b"glTF" + struct.pack("<II", 2, 12 + 8 + len(doc)) + struct.pack("<I", len(doc)) + b"JSON" + doc)
    return path


def test_bad_set_name_is_refused_before_rendering(tmp_path: Path):
    r = vanelia("eval", "insert", "--sets", "moon_base", "--cache", str(tmp_path / "c"))
    assert r.returncode == 2 and "moon_base" in r.stderr and "sun_high_tiles_diffuse" in r.stderr
    assert not (tmp_path / "c").exists()


def _report(seed: int, product_db: float) -> dict:
    scores = {"psnr_insert": 20.0, "psnr_product": product_db, "psnr_shadow": 25.0}
    return {"seed": seed, "frames": 6, "resolution": "320x180", "truth_samples": 24, "render_samples": 16,
            "sets": {f"interior_wood_diffuse-s{seed}": {"scores": {"paste": dict(scores, psnr_product=18.0), "classical|plate-light": scores}}}}


def test_a_baseline_of_another_protocol_is_refused_before_rendering(tmp_path: Path):
    base = tmp_path / "old.json"
    base.write_text(json.dumps(_report(seed=3, product_db=17.0)))
    model = empty_glb(tmp_path / "product.glb")
    r = vanelia("eval", "insert", "--seed", "5", "--baseline", str(base), "--cache", str(tmp_path / "c"), "--model", str(model))
    assert r.returncode == 2 and "seed 3" in r.stderr and "here 5" in r.stderr
    assert not (tmp_path / "c").exists()
    base.write_text("{not json")
    r = vanelia("eval", "insert", "--seed", "3", "--baseline", str(base), "--cache", str(tmp_path / "c"), "--model", str(model))
    assert r.returncode == 2 and "not a readable" in r.stderr and not (tmp_path / "c").exists()


def test_each_set_is_compared_with_the_baseline():
    from cli.eval_insert import compare, compare_table

    new, old = _report(seed=3, product_db=19.5), _report(seed=3, product_db=17.0)
    new["sets"]["night_asphalt_metal-s3"] = new["sets"]["interior_wood_diffuse-s3"]  # not in the baseline: left out
    delta = compare(new, old)
    assert list(delta) == ["interior_wood_diffuse-s3"]
    assert delta["interior_wood_diffuse-s3"]["classical|plate-light"] == {"insert": 0.0, "product": 2.5, "shadow": 0.0}
    assert delta["interior_wood_diffuse-s3"]["paste"]["product"] == 0.0
    assert "+2.50" in compare_table(delta)


@pytest.mark.slow
def test_eval_insert_on_one_tiny_set(shared_data: Path, tmp_path: Path):
    from ml.io.images import read_rgb8

    cache, out = tmp_path / "sets", tmp_path / "eval.json"
    args = ["eval", "insert", "--sets", "sun_high_tiles_diffuse", "--frames", "2", "--resolution", "96x54", "--samples", "4",
            "--render-samples", "4", "--cache", str(cache), "--json", str(out), "--model", str(shared_data / "models" / "Duck.glb"),
            "--variants", "paste,classical,classical|plate-light,classical|given-key,classical|truth-light,classical|plate-light|cover"]
    r = vanelia(*args)
    assert r.returncode == 0, r.stderr[-3000:]
    rep = json.loads(out.read_text())
    assert set(rep["mean"]) == {"paste", "classical", "classical|plate-light", "classical|given-key", "classical|truth-light",
                                "classical|plate-light|cover"}
    assert rep["mean"]["classical|plate-light|cover"] == rep["mean"]["classical|plate-light"]  # no grass in this set
    for v in rep["mean"].values():
        assert np.isfinite(v["psnr_insert"]) and np.isfinite(v["psnr_product"]) and 0 < v["ssim_insert"] <= 1
    assert rep["mean"]["paste"]["gain_insert_db"] == 0.0
    s = cache / "sun_high_tiles_diffuse-s1"
    plate, truth = read_rgb8(s / "plate" / "000001.png"), read_rgb8(s / "truth" / "000001.png")
    assert plate.shape == (54, 96, 3) and np.abs(plate.astype(int) - truth.astype(int)).max() > 40  # the product is in the truth only
    meta = json.loads((s / "set.json").read_text())
    assert meta["light"]["hard_key"] and len(meta["product_matrix"]) == 4
    est = rep["sets"]["sun_high_tiles_diffuse-s1"]["estimated_light"]
    assert est["method"] == "plate" and est["environment"]
    given = json.loads((tmp_path / "insert_work" / "sun_high_tiles_diffuse-s1" / "given-key" / "shot.json").read_text())["lighting"]
    sun = meta["light"]["lights"][0]["direction"]  # the truth's sun, given as an artist gives one
    assert "key direction as given" in given["notes"] and given["lights"][0]["direction"] == pytest.approx(sun, abs=1e-6)
    truth_lit = json.loads((tmp_path / "insert_work" / "sun_high_tiles_diffuse-s1" / "truth-light" / "shot.json").read_text())["lighting"]
    assert meta["light"]["world"]["zenith"] and truth_lit["notes"].startswith("the truth's light")  # the generator records its sky
    assert [l["intensity"] for l in truth_lit["lights"]] == [l["energy"] for l in meta["light"]["lights"]]
    blur = rep["sets"]["sun_high_tiles_diffuse-s1"]["motion_blur"]  # auto: 2 frames have no neighbours on both sides
    assert blur["true"] == 0.0 and blur["used"] == 0.0 and blur["note"].startswith("auto, not measurable: fewer than 3 frames")
    assert (tmp_path / "eval_sun_high_tiles_diffuse-s1.png").is_file()
    from ml.composite.insert_data import iter_insert_samples

    samples = list(iter_insert_samples(cache))  # the same sets as training data
    assert [x.frame for x in samples] == [1, 2] and samples[0].alpha.max() > 0.9 and samples[0].truth.shape == (54, 96, 3)
    out2 = tmp_path / "again.json"
    again = [out2 if x == str(out) else x for x in args]
    pairs = tmp_path / "pairs.npz"
    r = vanelia(*map(str, again), "--baseline", str(out), "--pairs-out", str(pairs))  # the sets are cached: nothing rendered again
    assert r.returncode == 0 and "cached" in r.stdout and "against --baseline" in r.stdout
    delta = json.loads(out2.read_text())["against_baseline"]["psnr_db"]["sun_high_tiles_diffuse-s1"]
    assert set(delta) == {"paste", "classical", "classical|plate-light", "classical|given-key", "classical|truth-light",
                          "classical|plate-light|cover"}
    assert all(abs(d) < 0.5 for row in delta.values() for d in row.values())  # the same protocol twice: the same pictures
    _learned_variant_on_its_own_pairs(args, pairs, tmp_path)


def _learned_variant_on_its_own_pairs(args: list[str], pairs: Path, tmp_path: Path) -> None:
    """The run's pairs (its three light modes, both frames) train the learned compositor, which the
    'learned' variant then scores on the same set; without a checkpoint it is refused first."""
    from ml.composite.insert_data import load_pairs
    from ml.composite.train import main as train

    got = load_pairs(pairs)
    assert sorted(p.name for p in got) == [f"sun_high_tiles_diffuse-s1/{m}/{f}" for m in ("given-key", "plate", "truth-light") for f in (1, 2)]
    assert all(p.comp.shape == p.real.shape and p.mask.sum() > 0 for p in got)
    assert train(["--insert-pairs", str(pairs), "--cnum", "8", "--size", "32", "--batch", "2", "--coarse-steps", "2",
                  "--fine-steps", "1", "--out", str(tmp_path / "run")]) == 0
    learned = list(args)
    learned[learned.index("--variants") + 1] = "classical|plate-light,learned|plate-light"
    learned[learned.index("--json") + 1] = str(tmp_path / "learned.json")
    r = vanelia(*learned, "--composite-checkpoint", str(tmp_path / "none.safetensors"))
    assert r.returncode == 2 and "none.safetensors" in r.stderr and not (tmp_path / "learned.json").exists()
    r = vanelia(*learned, "--composite-checkpoint", str(tmp_path / "run" / "last.safetensors"))
    assert r.returncode == 0, r.stderr[-3000:]
    mean = json.loads((tmp_path / "learned.json").read_text())["mean"]
    assert np.isfinite(mean["learned|plate-light"]["psnr_product"])
    assert mean["learned|plate-light"]["psnr_shadow"] == pytest.approx(mean["classical|plate-light"]["psnr_shadow"], abs=1e-6)


@pytest.mark.slow
def test_the_meadow_hides_the_base_in_its_truth_and_the_cover_variant_hides_it_too(shared_data: Path, tmp_path: Path):
    """The meadow set grows blades round the product: in its truth the product's lowest rows are
    mostly grass, its upper rows product. Its |cover variant loads the frames with the set's
    cover, so its composite shows the plate there, where the plain variant shows the product."""
    from cli.eval_insert import read_rgb8_alpha, set_cover
    from ml.io.images import read_rgb8

    cache, out = tmp_path / "sets", tmp_path / "eval.json"
    r = vanelia("eval", "insert", "--sets", "overcast_meadow_diffuse", "--frames", "1", "--resolution", "320x180", "--samples", "8",
                "--render-samples", "4", "--cache", str(cache), "--json", str(out), "--model", str(shared_data / "models" / "Duck.glb"),
                "--variants", "classical|plate-light,classical|plate-light|cover")
    assert r.returncode == 0, r.stderr[-3000:]
    s = cache / "overcast_meadow_diffuse-s1"
    assert set_cover(json.loads((s / "set.json").read_text())) == 0.08
    plate, truth = (read_rgb8(s / part / "000001.png").astype(float) for part in ("plate", "truth"))
    alpha = read_rgb8_alpha(s / "mask" / "000001.png")
    rows = np.nonzero((alpha > 0.5).any(axis=1))[0]
    low, mid = rows[-2:], rows[len(rows) // 2 - 1 : len(rows) // 2 + 1]
    def changed(band):  # how far the truth is from the plate there: the product shows
        m = np.zeros_like(alpha, bool)
        m[band] = alpha[band] > 0.5
        return np.abs(truth - plate)[m].mean()
    assert changed(low) < 0.5 * changed(mid)
    mean = json.loads(out.read_text())["mean"]
    assert mean["classical|plate-light|cover"]["psnr_product"] != mean["classical|plate-light"]["psnr_product"]


def test_only_a_true_sun_is_given_as_the_key_direction():
    from cli.eval_insert import true_key_direction

    sun = {"type": "sun", "direction": [0.1, 0.4, 0.9]}
    assert true_key_direction({"lights": [{"type": "point", "position": [1, 0, 2]}, sun]}) == [0.1, 0.4, 0.9]
    assert true_key_direction({"lights": [{"type": "area", "direction": [0, 0, -1]}]}) is None  # a window: no one direction
    assert true_key_direction({"lights": []}) is None


def test_a_crf_out_of_range_is_refused_before_rendering(tmp_path: Path):
    r = vanelia("eval", "insert", "--film-crf", "60", "--cache", str(tmp_path / "c"), "--model", str(empty_glb(tmp_path / "product.glb")))
    assert r.returncode == 2 and "--film-crf 60" in r.stderr and not (tmp_path / "c").exists()


def _fake_set(root: Path) -> Path:
    """A set folder as the generator leaves it, with textured 8-bit plate and truth frames."""
    from ml.io.images import write_rgb8

    s = root / "sun_high_tiles_diffuse-s9"
    for part in ("plate", "truth", "mask"):
        (s / part).mkdir(parents=True)
    rng = np.random.default_rng(9)
    yy, xx = np.mgrid[0:48, 0:64]
    for f in (1, 2, 3):
        img = np.stack([120 + 60 * np.sin(xx / (3.0 + c) + f) * np.cos(yy / 4.0) for c in range(3)], -1) + rng.normal(0, 6, (48, 64, 3))
        img = np.clip(img, 10, 245).astype(np.uint8)
        write_rgb8(s / "plate" / f"{f:06d}.png", img)
        truth = img.copy()
        truth[20:30, 25:40] = (230, 200, 20)  # the product
        write_rgb8(s / "truth" / f"{f:06d}.png", truth)
        write_rgb8(s / "mask" / f"{f:06d}.png", np.zeros((48, 64, 3), np.uint8))
    (s / "set.json").write_text(json.dumps({"recipe": {"light": "sun_high"}}))
    (s / "transforms.json").write_text("{}")
    (s / "product.glb").write_bytes(b"glTF")
    return s


def test_a_set_is_filmed_through_h264_once(tmp_path: Path):
    """The filmed set: the same frames, names and product, its plate and truth 4:2:0 as a camera
    records them (the chroma test reads them so), not re-encoded while its source is unchanged,
    re-encoded when the source changes."""
    from cli.eval_insert import filmed_set
    from ml.composite.chroma import is_subsampled
    from ml.io.colour import srgb_to_linear
    from ml.io.images import read_rgb8

    src = _fake_set(tmp_path)
    out = filmed_set(src, 23)
    assert out.name == "sun_high_tiles_diffuse-s9-h264crf23" and (out / "product.glb").read_bytes() == b"glTF"
    for part in ("plate", "truth"):
        assert sorted(p.name for p in (out / part).iterdir()) == ["000001.png", "000002.png", "000003.png"]
        a, b = read_rgb8(src / part / "000002.png"), read_rgb8(out / part / "000002.png")
        assert a.shape == b.shape and 0 < np.abs(a.astype(int) - b.astype(int)).mean() < 12  # coded, not another picture
        assert is_subsampled(srgb_to_linear(b.astype(np.float32) / 255))
        assert not is_subsampled(srgb_to_linear(a.astype(np.float32) / 255))
    from cli.eval_insert import region_source

    assert region_source(out) == src and region_source(src) == src  # where the product changed the picture: the source says
    before = (out / "plate" / "000001.png").stat().st_mtime_ns
    assert filmed_set(src, 23) == out and (out / "plate" / "000001.png").stat().st_mtime_ns == before
    (src / "set.json").write_text(json.dumps({"recipe": {"light": "sun_low"}}))
    filmed_set(src, 23)
    assert json.loads((out / "set.json").read_text())["recipe"]["light"] == "sun_low"
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no temporary folder left


def test_a_set_is_filmed_through_a_soft_lens(tmp_path: Path):
    """``--film-soft``: plate and truth alike through a Gaussian lens of the given width, in
    linear light, without a codec unless one is asked for; a step edge comes out as wide as the
    lens makes it, and the set is filmed once."""
    from cli.eval_insert import filmed_set
    from ml.io.colour import srgb_to_linear
    from ml.io.images import read_rgb8, write_rgb8

    src = _fake_set(tmp_path)
    step = np.zeros((64, 96, 3), np.uint8)
    step[:, 48:] = 200
    for part in ("plate", "truth"):
        write_rgb8(src / part / "000002.png", step)
    out = filmed_set(src, None, 1.5)
    assert out.name == "sun_high_tiles_diffuse-s9-soft1.5" and (out / "mask").is_dir()
    for part in ("plate", "truth"):
        assert sorted(p.name for p in (out / part).iterdir()) == ["000001.png", "000002.png", "000003.png"]
        row = srgb_to_linear(read_rgb8(out / part / "000002.png")[32, :, 1].astype(np.float32) / 255)
        top = float(srgb_to_linear(np.float32(200 / 255)))
        ramp = np.nonzero((row > 0.1 * top) & (row < 0.9 * top))[0]
        assert 2 <= len(ramp) <= 5, row[40:56]  # 10-90% of a 1.5 px Gaussian edge: 3.8 px
    before = (out / "plate" / "000001.png").stat().st_mtime_ns
    assert filmed_set(src, None, 1.5) == out and (out / "plate" / "000001.png").stat().st_mtime_ns == before
    assert filmed_set(src, 23, 1.5).name == "sun_high_tiles_diffuse-s9-soft1.5-h264crf23"


def test_a_set_is_filmed_by_a_shaking_hand(tmp_path: Path):
    """``--film-shake``: odd frames blurred by their own kernel, the same on plate and truth,
    even frames as they were; the kernel is the frame number's, so two runs film alike."""
    from cli.eval_insert import filmed_set, shake_kernel
    from ml.io.images import read_rgb8, write_rgb8

    src = _fake_set(tmp_path)
    rng = np.random.default_rng(0)
    tex = (rng.random((64, 96, 3)) * 255).astype(np.uint8)
    for part in ("plate", "truth"):
        for f in (1, 2, 3):
            write_rgb8(src / part / f"{f:06d}.png", tex)
    out = filmed_set(src, None, None, 2.0)
    assert out.name == "sun_high_tiles_diffuse-s9-shake2"
    assert shake_kernel(2, 2.0) is None and shake_kernel(1, 2.0) is not None
    assert np.allclose(shake_kernel(3, 2.0), shake_kernel(3, 2.0)) and 1.0 <= np.sqrt(np.linalg.eigvalsh(shake_kernel(3, 2.0))[-1]) <= 2.0
    for part in ("plate", "truth"):
        assert np.array_equal(read_rgb8(out / part / "000002.png"), tex)
        for f in (1, 3):
            blurred = read_rgb8(out / part / f"{f:06d}.png").astype(np.float32)
            assert np.abs(np.diff(blurred, axis=1)).mean() < 0.7 * np.abs(np.diff(tex.astype(np.float32), axis=1)).mean()
    assert np.array_equal(read_rgb8(out / "plate" / "000003.png"), read_rgb8(out / "truth" / "000003.png"))


def test_default_variants_hold_the_learned_ones_only_with_a_checkpoint(tmp_path: Path):
    from cli.eval_insert import VARIANTS, default_variants, variant_engine

    assert default_variants(tmp_path / "missing.safetensors") == [v for v in VARIANTS if variant_engine(v) == "classical"]
    (tmp_path / "c.safetensors").write_bytes(b"x")
    assert default_variants(tmp_path / "c.safetensors") == list(VARIANTS)


def test_the_truths_light_replaces_the_estimates_lights_and_sky_but_not_its_ground():
    """The truth-light bound: the set's own lights (as rendered) and its sky gradient above the
    horizon; below it the estimate's ground stays, and so does what the composite reads off
    the plate (the shadows' density)."""
    from shotcache.latlong import directions
    from shotcache.schema import Light, Lighting

    from cli.eval_insert import truth_lighting

    est = Lighting(lights=[Light()], estimated=True, method="plate", environment="light/env.exr", shadow_ratio=[0.4, 0.45, 0.6],
                   key_shadow={"file": "light/key_shadow.npz"}, unplaced_key={"ratio": [2.0, 2.0, 2.0]})
    env = np.full((32, 64, 3), 0.3, np.float32)
    truth = {"kind": "sun_low", "hard_key": True, "world": {"horizon": [0.6, 0.6, 0.7], "zenith": [0.2, 0.3, 0.7], "strength": 2.0},
             "lights": [{"type": "sun", "direction": [0.0, 0.9, 0.43], "position": [0, 0, 0], "color": [1.0, 0.9, 0.8], "energy": 2.6,
                         "angle_deg": 1.5, "size": 0.0},
                        {"type": "area", "direction": [0.0, 0.0, 1.0], "position": [1.0, 0.0, 2.5], "color": [1.0, 1.0, 1.0], "energy": 25.0,
                         "angle_deg": 0.0, "size": 0.6}]}
    lit, out = truth_lighting(est, truth, env)
    assert [(l.type, l.intensity, l.angle_deg) for l in lit.lights] == [("sun", 2.6, 1.5), ("area", 25.0, 0.6)]
    assert lit.lights[1].position == [1.0, 0.0, 2.5] and lit.shadow_ratio == [0.4, 0.45, 0.6] and lit.environment == "light/env.exr"
    assert lit.key_shadow == {} and lit.unplaced_key == {}
    z = directions(64, 32)[..., 2]
    top, low = np.unravel_index(np.argmax(z), z.shape), z < 0
    assert np.allclose(out[top], np.array([0.2, 0.3, 0.7]) * 2.0, atol=0.1)  # the zenith's colour overhead
    assert np.allclose(out[low], 0.3)  # the estimate's ground below the horizon


def test_the_truth_light_variants_refuse_sets_that_do_not_record_the_sky(tmp_path: Path):
    from cli.eval_insert import CLIError, check_truth_world

    for name, light in (("new", {"kind": "overcast", "lights": [], "world": {}}), ("old", {"kind": "overcast", "lights": []})):
        (tmp_path / name).mkdir()
        (tmp_path / name / "set.json").write_text(json.dumps({"light": light}))
    check_truth_world([tmp_path / "new"])
    with pytest.raises(CLIError, match="old.*delete their folders"):
        check_truth_world([tmp_path / "new", tmp_path / "old"])


def test_the_table_says_na_against_a_paste_that_was_not_scored():
    from cli.eval_insert import table

    row = {"psnr_insert": 20.0, "psnr_product": 19.0, "psnr_shadow": 30.0, "ssim_insert": 0.9, "ssim_product": 0.8, "ssim_shadow": 0.95}
    assert table({"mean": {"classical|plate-light": dict(row)}}).splitlines()[1].endswith("n/a")
    assert table({"mean": {"paste": {**row, "gain_insert_db": 0.0}, "classical": {**row, "gain_insert_db": 1.5}}}).splitlines()[2].endswith("+1.50")
