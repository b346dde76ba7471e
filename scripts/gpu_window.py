"""One GPU window, end to end: train DSTT within a time budget, evaluate it against the
classical engine on held-out clips, benchmark the fast paths, and leave what must come back
under ``--out`` (at most 8 files, each under 16 MiB: the device tool's limits).

Runs on a fresh machine that has torch, numpy, OpenCV, safetensors and matplotlib but none
of the project's other packages (scripts/gpu_window.sh installs carried wheels first);
the data comes from ``scripts/pack_gpu_window.py`` (``.carry/data``). docs/TRAINING.md is
the runbook. Dry run on a CPU:

    OUT=/tmp/gw PY=.venv/bin/python bash scripts/gpu_window.sh --device cpu --size tiny \\
        --budget-minutes 1 --eval-frames 8 --batch 1 --workers 0

Files in ``--out``: ``report.json`` (environment, training summary, evaluation, verdict,
benchmarks), ``dstt_fp16.safetensors`` (weights, half precision), ``history.json`` and
``loss.png`` (curves), ``bench_composite.json`` (on CUDA) and ``log.txt`` (written by the
shell script): 6 files.
The resumable state (``state.pt``) stays in ``--run-dir`` on the machine: a second call on the
still-warm machine with ``--resume`` continues it to the step.
"""
from __future__ import annotations

import argparse
import json
import platform
import shutil
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402
import torch  # noqa: E402

T0 = time.perf_counter()


def elapsed_min() -> float:
    return (time.perf_counter() - T0) / 60.0


def environment() -> dict[str, Any]:
    env: dict[str, Any] = {"python": platform.python_version(), "torch": torch.__version__,
                           "cuda": torch.version.cuda, "device": None, "packages": {}}
    if torch.cuda.is_available():
        p = torch.cuda.get_device_properties(0)
        env["device"] = {"name": p.name, "memory_gib": round(p.total_memory / 2**30, 1), "sms": p.multi_processor_count}
    for name in ("numpy", "cv2", "safetensors", "matplotlib", "onnxruntime", "av", "OpenEXR"):
        try:
            mod = __import__(name)
            env["packages"][name] = getattr(mod, "__version__", "present")
        except ImportError:
            env["packages"][name] = None
    return env


def train_phase(a: argparse.Namespace, pack: Path, minutes: float) -> dict[str, Any]:
    from ml.inpaint.dstt import SIZES
    from ml.inpaint.train import TrainConfig, run_paths, train

    data = sorted(str(p) for p in (pack / "train").iterdir() if p.is_dir())
    data += sorted(str(p) for p in (pack / "renders").iterdir() if p.is_dir()) if (pack / "renders").is_dir() else []
    stills = [str(pack / "stills")] if (pack / "stills").is_dir() and any((pack / "stills").iterdir()) else []
    val = sorted(str(p) for p in (pack / "heldout").iterdir() if p.is_dir())
    cfg = TrainConfig(
        data=data, stills=stills, val_data=val, init=a.init, out=a.run_dir, model=SIZES[a.size], steps=a.steps,
        minutes=minutes, batch=a.batch, lr=a.lr, warmup=min(200, a.steps // 10), val_every=a.val_every,
        val_sequences=a.val_sequences, save_every=a.save_every, device=a.device, amp=a.amp, compile=a.compile,
        workers=a.workers, cache_dir=str(Path(a.run_dir) / "decoded"), seed=a.seed, resume=a.resume,
        overwrite=not a.resume, synthetic_per_still=4, log_every=25,
    )
    t = time.perf_counter()
    hist = train(cfg)
    secs = time.perf_counter() - t
    done = [s for s in hist["steps"]]
    return {
        "config": cfg.to_json(), "steps_done": done[-1]["step"] if done else 0, "seconds": round(secs, 1),
        "steps_per_second": round(len(done) / secs, 3) if secs else None,
        "final_loss_mean_last_50": round(float(np.mean([s["loss"] for s in done[-50:]])), 5) if done else None,
        "val": hist["val"], "paths": {k: str(v) for k, v in run_paths(a.run_dir).items()},
    }


def eval_phase(a: argparse.Namespace, pack: Path, weights: Path) -> dict[str, Any]:
    """The stage's learned default (propagate+dstt) against its classical engine (propagate),
    plus every other weight-free engine for reference, in the hole of every held-out clip.
    Names come from the engine catalogue (shotcache.engines), the one list of them."""
    from ml.inpaint.evaluate import evaluate
    from shotcache.engines import CATALOGUE, CLASSICAL, LEARNED_DEFAULT

    classical, learned = CLASSICAL["inpaint"], LEARNED_DEFAULT["inpaint"]
    engines = [e.name for e in CATALOGUE if e.stage == "inpaint" and (not e.learned or e.name == learned)]
    clips = sorted(p for p in (pack / "heldout").iterdir() if p.is_dir())
    per_clip, deltas = {}, []
    for clip in clips:
        rep = evaluate(str(clip), engines=engines, seed=a.seed, sets=a.eval_sets, max_frames=a.eval_frames, width=640,
                       checkpoint=str(weights), device=a.device)
        eng = rep["engines"]
        row: dict[str, Any] = {name: m for name, m in eng.items() if name != "ground truth"}
        row["skipped"] = rep["skipped"]
        if learned in eng and classical in eng:
            row["delta_psnr_hole_db"] = round(eng[learned]["psnr_hole"] - eng[classical]["psnr_hole"], 3)
            deltas.append(row["delta_psnr_hole_db"])
        per_clip[clip.name] = row
        print(f"eval {clip.name}: " + ", ".join(f"{k} {v['psnr_hole']:.2f} dB" for k, v in row.items()
                                                if isinstance(v, dict) and "psnr_hole" in v), flush=True)
    verdict = bool(deltas) and all(d > 0 for d in deltas)
    return {"learned": learned, "classical": classical, "clips": per_clip,
            "mean_delta_psnr_hole_db": round(float(np.mean(deltas)), 3) if deltas else None,
            "beats_classical_on_every_heldout_clip": verdict,
            "rule": f"ship only if {learned} beats {classical} in the hole on clips it never saw (issue 16)"}


def bench_phase(a: argparse.Namespace, weights: Path, out: Path) -> dict[str, Any]:
    """Correctness of the fast paths (max difference from eager fp32), their speed (trained
    model and the default 26 M size), and the compositor's frame (bench_composite.json)."""
    from ml.composite import bench as composite_bench
    from ml.inpaint.bench import path_agreement, stream_paths
    from ml.inpaint.checkpoint import load_checkpoint
    from ml.inpaint.dstt import DSTT, SIZES

    cuda = a.device.startswith("cuda")
    model, _ = load_checkpoint(weights)
    res: dict[str, Any] = {"agreement_with_eager_fp32": path_agreement(model, a.device)}
    res["trained"] = stream_paths(model, a.device, frames=a.bench_frames, batches=(1, 16) if cuda else (1,))
    if cuda:
        torch.manual_seed(0)
        res["default_26m"] = stream_paths(DSTT(SIZES["default"]), a.device, frames=a.bench_frames, batches=(1, 16))
        composite_bench.main(["--device", a.device, "--no-onnx", "--reps", "5", "--out", str(out / "bench_composite.json")])
    return res


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--pack", default=str(ROOT / ".carry" / "data"))
    p.add_argument("--out", required=True)
    p.add_argument("--run-dir", default=str(ROOT / "runs" / "gpu_window"))
    p.add_argument("--budget-minutes", type=float, default=9.0, help="this whole script, start to finish")
    p.add_argument("--eval-minutes", type=float, default=2.0, help="kept back from training for the evaluation")
    p.add_argument("--bench-minutes", type=float, default=1.0, help="kept back for the benchmarks (0 = no benchmarks)")
    p.add_argument("--size", default="medium")
    p.add_argument("--steps", type=int, default=4000, help="schedule length (training stops earlier at the budget)")
    p.add_argument("--batch", type=int, default=8)
    p.add_argument("--lr", type=float, default=2e-4)
    p.add_argument("--amp", default="auto")
    p.add_argument("--compile", action="store_true")
    p.add_argument("--workers", type=int, default=8)
    p.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    p.add_argument("--val-every", type=int, default=250)
    p.add_argument("--val-sequences", type=int, default=16)
    p.add_argument("--save-every", type=int, default=200)
    p.add_argument("--eval-frames", type=int, default=40)
    p.add_argument("--eval-sets", type=int, default=2)
    p.add_argument("--bench-frames", type=int, default=50)
    p.add_argument("--init", help="start from these weights (a checkpoint brought back from an earlier window)")
    p.add_argument("--resume", action="store_true", help="continue --run-dir's state.pt (same machine, still warm)")
    p.add_argument("--seed", type=int, default=0)
    a = p.parse_args(argv)
    out, pack = Path(a.out), Path(a.pack)
    out.mkdir(parents=True, exist_ok=True)
    if not (pack / "train").is_dir() or not (pack / "heldout").is_dir():
        print(f"gpu_window: {pack}: no packed data (train/, heldout/); run scripts/pack_gpu_window.py here first "
              "and name .carry in the run's carry", file=sys.stderr)
        return 2
    if a.device.startswith("cuda") and not torch.cuda.is_available():
        print("gpu_window: --device cuda but torch sees no GPU", file=sys.stderr)
        return 2
    report: dict[str, Any] = {"environment": environment(), "started_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
    print(json.dumps(report["environment"]), flush=True)

    def write_report() -> None:
        report["minutes_total"] = round(elapsed_min(), 2)
        tmp = out / ".report.json.tmp"
        tmp.write_text(json.dumps(report, indent=1))
        tmp.replace(out / "report.json")

    minutes = a.budget_minutes - a.eval_minutes - a.bench_minutes - elapsed_min()
    if minutes <= 0.2:
        print(f"gpu_window: no time left to train ({minutes:.2f} min)", file=sys.stderr)
        return 2
    report["train"] = train_phase(a, pack, minutes)
    write_report()
    run = Path(a.run_dir)
    shutil.copy(run / "history.json", out / "history.json")
    shutil.copy(run / "loss.png", out / "loss.png")
    from ml.inpaint.checkpoint import load_checkpoint, save_checkpoint

    model, extra = load_checkpoint(run / "dstt.safetensors")
    save_checkpoint(out / "dstt_fp16.safetensors", model, extra, dtype=torch.float16)
    report["eval"] = eval_phase(a, pack, run / "dstt.safetensors")
    write_report()
    if a.bench_minutes > 0:
        try:
            report["bench"] = bench_phase(a, run / "dstt.safetensors", out)
        except Exception as exc:  # a benchmark failure must not lose the training and evaluation results
            report["bench"] = {"error": f"{type(exc).__name__}: {exc}"}
    write_report()
    ev = report["eval"]
    print(f"gpu_window: {report['train']['steps_done']} steps in {report['train']['seconds']} s; "
          f"{ev['learned']} - {ev['classical']} in the hole: {ev['mean_delta_psnr_hole_db']} dB (mean over held-out clips); "
          f"beats on every clip: {ev['beats_classical_on_every_heldout_clip']}; {elapsed_min():.1f} min in all", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
