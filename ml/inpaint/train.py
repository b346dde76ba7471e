"""`vanelia train inpaint`: train DSTT, resumable to the step, within a time budget.

Data: ml.inpaint.data (clips, stills turned into camera-path video, the project's renders;
moving object silhouettes and curriculum holes). Every 5-frame sequence is streamed one frame
at a time through the memory, which is detached after each frame (no unrolled backprop
through time). Loss: L1 in the hole and on the valid pixels, each normalised by its area.
Adam (betas (0, 0.99)), linear warm-up then cosine decay; autocast in bf16 (default on
CUDA) or fp16 with a grad scaler.

A run folder (``--out``) holds:

* ``state.pt``: the whole training state (ml.train_state: weights, optimizer, scheduler,
  scaler, RNG, step = data position, history), written atomically every ``--save-every``
  steps, at the time budget and on SIGTERM; ``--resume`` continues from it and reproduces
  the losses an unbroken run would have had;
* ``dstt.safetensors``: the weights the inpaint engines load (ml.inpaint.checkpoint);
* ``history.json`` and ``loss.png``: the curves (training loss, held-out PSNR in the hole).
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import math
import signal
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ml.train_state import load_train_state, save_train_state
from shotcache.errors import UserError
from shotcache.frames import parse_resolution
from shotcache.layout import atomic_write, atomic_write_json

from .checkpoint import load_into, save_checkpoint
from .data import DataOptions, FrameStore, VideoInpaintDataset, build_dataset, make_loader, to_network
from .dstt import DSTT, SIZES, SMALL, DSTTConfig

AMP_MODES = ("auto", "off", "bf16", "fp16")


@dataclass
class TrainConfig:
    data: list[str]
    """Clip sources: folders of frames, of clip folders, videos (renders are folders of frames)."""
    stills: list[str] = field(default_factory=list)
    init: str | None = None
    """Start from these weights (a DSTT checkpoint, fp16 or fp32) with a fresh optimizer: how a
    later GPU window continues when only the weights came back (see docs/TRAINING.md)."""
    val_data: list[str] = field(default_factory=list)
    """Held-out clips; without them the last ``val_fraction`` of every clip is held out."""
    out: str = "runs/inpaint"
    model: DSTTConfig = SMALL
    steps: int = 1000
    """Length of the whole run (the LR schedule spans it)."""
    stop_at: int | None = None
    """Stop this invocation at this step (as a closing GPU window would); --resume continues."""
    minutes: float = 0.0
    """Time budget of this invocation; 0 = none. The state is saved when it runs out."""
    batch: int = 2
    lr: float = 1e-4
    warmup: int = 50
    hole_weight: float = 1.0
    valid_weight: float = 1.0
    val_fraction: float = 0.15
    val_sequences: int = 8
    val_every: int = 200
    save_every: int = 100
    device: str = "cpu"
    amp: str = "auto"
    compile: bool = False
    seed: int = 0
    resume: bool = False
    overwrite: bool = False
    workers: int = 0
    cache_dir: str | None = None
    synthetic_per_still: int = 8
    p_object: float = 0.5
    log_every: int = 10

    def to_json(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        d["model"] = json.loads(self.model.to_json())
        return d


def weighted_l1(out: torch.Tensor, gt: torch.Tensor, mask: torch.Tensor, hole_w: float, valid_w: float) -> torch.Tensor:
    """Hole and valid L1, each averaged over its own pixels (a small hole still counts)."""
    diff = (out - gt).abs()
    hole = (diff * mask).sum() / (mask.sum() * 3).clamp_min(1.0)
    valid = (diff * (1 - mask)).sum() / ((1 - mask).sum() * 3).clamp_min(1.0)
    return hole_w * hole + valid_w * valid


def amp_dtype(mode: str, device: torch.device) -> torch.dtype | None:
    """The autocast dtype for ``--amp`` on this device (None = full fp32)."""
    if mode not in AMP_MODES:
        raise ValueError(f"--amp {mode!r}: use one of {', '.join(AMP_MODES)}")
    if mode == "auto":
        return torch.bfloat16 if device.type == "cuda" else None
    return {"off": None, "bf16": torch.bfloat16, "fp16": torch.float16}[mode]


def sequence_step(model: torch.nn.Module, frames: torch.Tensor, masks: torch.Tensor, cfg: TrainConfig,
                  scaler: Any = None, dtype: torch.dtype | None = None) -> float:
    """One sequence: stream through the memory, backward per frame (memory detached)."""
    dev = frames.device
    raw: Any = getattr(model, "_orig_mod", model)  # compiled or not
    memory = raw.init_memory(frames.shape[0], dev)
    total = 0.0
    for t in range(frames.shape[1]):
        gt = frames[:, t : t + 1]
        m = masks[:, t : t + 1]
        with torch.autocast(device_type=dev.type, dtype=dtype or torch.float32, enabled=dtype is not None):
            out, memory = model(gt * (1 - m), m, memory)
        loss = weighted_l1(out.float(), gt, m, cfg.hole_weight, cfg.valid_weight) / frames.shape[1]
        (scaler.scale(loss) if scaler is not None else loss).backward()
        memory = memory.detach().float()
        total += float(loss.detach())
    return total


@torch.no_grad()
def validate(model: DSTT, ds: VideoInpaintDataset, device: torch.device, limit: int,
             dtype: torch.dtype | None = None) -> float:
    """PSNR (dB, [0,1] range) over every hole pixel of the first ``limit`` held-out sequences."""
    model.eval()
    se, n = 0.0, 0
    for i in range(min(limit, len(ds))):
        f, k = ds[i]
        frames, masks = to_network(f[None], k[None], device)
        memory = model.init_memory(1, device)
        for t in range(frames.shape[1]):
            gt, m = frames[:, t : t + 1], masks[:, t : t + 1]
            with torch.autocast(device_type=device.type, dtype=dtype or torch.float32, enabled=dtype is not None):
                out, memory = model(gt * (1 - m), m, memory)
            se += float((((out.float() - gt) / 2) ** 2 * m).sum())
            n += int(m.sum()) * 3
    model.train()
    return 10 * math.log10(1.0 / max(se / max(n, 1), 1e-12))


def lr_lambda(warmup: int, total: int) -> Any:
    """Linear warm-up, then cosine decay to 10 % of the peak at ``total``."""

    def f(step: int) -> float:
        if step < warmup:
            return (step + 1) / max(1, warmup)
        p = min(1.0, (step - warmup) / max(1, total - warmup))
        return 0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * p))

    return f


def run_paths(out: str | Path) -> dict[str, Path]:
    o = Path(out)
    return {"state": o / "state.pt", "weights": o / "dstt.safetensors", "history": o / "history.json", "png": o / "loss.png"}


def plot_history(path: Path, history: dict[str, Any]) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(1, 2, figsize=(10, 3.5))
    steps = history["steps"]
    if steps:
        x = np.array([s["step"] for s in steps])
        y = np.array([s["loss"] for s in steps])
        k = max(1, len(y) // 50)
        ax[0].plot(x, y, lw=0.6, alpha=0.5, marker="." if len(x) < 50 else None)
        if k > 1:
            ax[0].plot(x[k - 1 :], np.convolve(y, np.ones(k) / k, mode="valid"), lw=1.2)
    ax[0].set_xlabel("step")
    ax[0].set_ylabel("weighted L1")
    ax[0].set_title("training loss")
    val = history["val"]
    if val:
        ax[1].plot([v["step"] for v in val], [v["psnr_hole"] for v in val], "o-")
    ax[1].set_xlabel("step")
    ax[1].set_ylabel("PSNR in hole (dB)")
    ax[1].set_title("held-out sequences")
    fig.tight_layout()
    atomic_write(path, lambda tmp: fig.savefig(str(tmp), dpi=90), suffix=".png")
    plt.close(fig)


def datasets(cfg: TrainConfig) -> tuple[VideoInpaintDataset, VideoInpaintDataset]:
    """(training stream, held-out sequences), decoded once through one store."""
    store = FrameStore(Path(cfg.cache_dir) if cfg.cache_dir else None)
    size = (cfg.model.height, cfg.model.width)
    opts = DataOptions(size=size, seed=cfg.seed, synthetic_per_still=cfg.synthetic_per_still, p_object=cfg.p_object)
    if cfg.val_data:
        tr = build_dataset(cfg.data, cfg.stills, options=opts, store=store)
        va = build_dataset(cfg.val_data, options=dataclasses.replace(opts, seed=cfg.seed + 1), train=False, store=store)
    else:
        f = cfg.val_fraction
        tr = build_dataset(cfg.data, cfg.stills, options=opts, store=store, part="train", holdout_fraction=f)
        va = build_dataset(cfg.data, options=dataclasses.replace(opts, seed=cfg.seed + 1), train=False, store=store,
                           part="holdout", holdout_fraction=f)
    return tr, va


class _Stop:
    """SIGTERM (a closing window, ^C from a wrapper) -> finish the step, save, return."""

    def __init__(self) -> None:
        self.requested = False
        self._old: Any = None

    def __enter__(self) -> "_Stop":
        try:
            self._old = signal.signal(signal.SIGTERM, self._set)
        except ValueError:  # not the main thread: no handler, the periodic saves remain
            self._old = None
        return self

    def _set(self, *_: Any) -> None:
        self.requested = True

    def __exit__(self, *_: Any) -> None:
        if self._old is not None:
            signal.signal(signal.SIGTERM, self._old)


def train(cfg: TrainConfig) -> dict[str, Any]:
    """Run (or resume) training; returns the history. ``cfg.minutes`` counts from here, so
    decoding the data is inside the budget."""
    t_begin = time.perf_counter()
    paths = run_paths(cfg.out)
    if paths["state"].exists() and not (cfg.resume or cfg.overwrite):
        raise FileExistsError(f"{paths['state']}: a run exists here; use --resume to continue or --overwrite to start over")
    if cfg.resume and not paths["state"].exists():
        raise FileNotFoundError(f"{paths['state']}: nothing to resume; start without --resume")
    device = torch.device(cfg.device)
    dtype = amp_dtype(cfg.amp, device)
    tr, va = datasets(cfg)  # decode (or find in the cache) before building anything on the device
    torch.manual_seed(cfg.seed)
    model = DSTT(cfg.model)
    if cfg.init and not cfg.resume:
        load_into(model, cfg.init)
    model = model.to(device)
    opt = torch.optim.Adam(model.parameters(), lr=cfg.lr, betas=(0.0, 0.99))
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lr_lambda(cfg.warmup, cfg.steps))
    scaler = torch.amp.GradScaler("cuda") if dtype == torch.float16 and device.type == "cuda" else None
    history: dict[str, Any] = {"steps": [], "val": [], "config": cfg.to_json()}
    step = 0
    if cfg.resume:
        state = load_train_state(paths["state"], model=model, optimizer=opt, scheduler=sched, scaler=scaler)
        step, history = int(state["step"]), state["history"]
        print(f"resumed at step {step} from {paths['state']}", flush=True)
    net: Any = torch.compile(model) if cfg.compile and device.type == "cuda" else model
    stop_at = min(cfg.steps, cfg.stop_at if cfg.stop_at is not None else cfg.steps)
    loader = make_loader(tr, cfg.batch, start_step=step, workers=cfg.workers, device=device, stop_step=stop_at)
    print(f"train inpaint: {len(tr.windows)} clip windows + {tr.n_synthetic} synthetic per epoch, "
          f"{len(va)} held-out sequences, {cfg.model.height}x{cfg.model.width}, batch {cfg.batch}, "
          f"amp {dtype}, steps {step}->{stop_at} of {cfg.steps}", flush=True)

    def save() -> None:
        history["seconds"] = history.get("seconds", 0.0) + time.perf_counter() - t_mark[0]
        t_mark[0] = time.perf_counter()
        save_train_state(paths["state"], model=model, optimizer=opt, scheduler=sched, scaler=scaler, step=step,
                         config=cfg.to_json(), history=history)
        save_checkpoint(paths["weights"], model, {"step": step, "val": history["val"][-1:] or None})
        atomic_write_json(paths["history"], history)
        plot_history(paths["png"], history)

    t0 = time.perf_counter()
    t_mark, start = [t0], step
    model.train()
    with _Stop() as stop:
        for frames, holes in loader:
            f, m = to_network(frames, holes, device)
            opt.zero_grad(set_to_none=True)
            loss = sequence_step(net, f, m, cfg, scaler, dtype)
            if scaler is not None:
                scaler.step(opt)
                scaler.update()
            else:
                opt.step()
            sched.step()
            step += 1
            history["steps"].append({"step": step, "loss": round(loss, 6), "lr": float(sched.get_last_lr()[0])})
            if cfg.log_every and step % cfg.log_every == 0:
                rate = (step - start) / max(time.perf_counter() - t0, 1e-9)
                print(f"step {step}/{cfg.steps}: loss {loss:.4f} ({rate:.2f} steps/s)", flush=True)
            over = bool(cfg.minutes) and time.perf_counter() - t_begin > cfg.minutes * 60
            last = step >= stop_at or over or stop.requested
            if step % cfg.val_every == 0 or last:
                v = validate(model, va, device, cfg.val_sequences, dtype)
                history["val"].append({"step": step, "psnr_hole": round(v, 3)})
                print(f"step {step}: held-out PSNR in hole {v:.2f} dB", flush=True)
            if step % cfg.save_every == 0 or last:
                save()
            if last:
                why = "time budget" if over else "SIGTERM" if stop.requested else "step limit"
                print(f"stopped at step {step} ({why}); state: {paths['state']}", flush=True)
                break
    return history


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="vanelia train inpaint", description=__doc__.splitlines()[0])
    p.add_argument("--data", nargs="+", default=[], help="clips: folders of frames / clip folders / videos / renders")
    p.add_argument("--stills", nargs="+", default=[], help="photos turned into camera-path video with parallax layers")
    p.add_argument("--init", help="start from these DSTT weights (fresh optimizer)")
    p.add_argument("--val-data", nargs="+", default=[], help="held-out clips (default: the end of every --data clip)")
    p.add_argument("--out", default="runs/inpaint", help="run folder (state.pt, dstt.safetensors, curves)")
    p.add_argument("--size", choices=sorted(SIZES), default="small", help="network width")
    p.add_argument("--resolution", help="network frame size WxH (default 640x360; sides multiples of 4)")
    p.add_argument("--steps", type=int, default=1000)
    p.add_argument("--stop-at", type=int, help="stop this invocation at this step (resume later)")
    p.add_argument("--minutes", type=float, default=0.0, help="time budget of this invocation (0 = none)")
    p.add_argument("--batch", type=int, default=2)
    p.add_argument("--lr", type=float, default=1e-4)
    p.add_argument("--warmup", type=int, default=50)
    p.add_argument("--val-every", type=int, default=200)
    p.add_argument("--val-sequences", type=int, default=8)
    p.add_argument("--save-every", type=int, default=100)
    p.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    p.add_argument("--amp", choices=AMP_MODES, default="auto", help="autocast dtype (auto: bf16 on CUDA, off on CPU)")
    p.add_argument("--compile", action="store_true", help="torch.compile the network (CUDA only)")
    p.add_argument("--workers", type=int, default=0, help="data-loader processes")
    p.add_argument("--cache-dir", help="keep decoded frames here (.npy, memory-mapped, reused by later runs)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--resume", action="store_true")
    p.add_argument("--overwrite", action="store_true")
    return p


def config_from_args(a: argparse.Namespace) -> TrainConfig:
    model = SIZES[a.size]
    if a.resolution:
        w, h = parse_resolution(a.resolution)  # type: ignore[misc]
        model = dataclasses.replace(model, height=h, width=w)
    return TrainConfig(
        data=a.data, stills=a.stills, init=a.init, val_data=a.val_data, out=a.out, model=model, steps=a.steps, stop_at=a.stop_at,
        minutes=a.minutes, batch=a.batch, lr=a.lr, warmup=a.warmup, val_every=a.val_every,
        val_sequences=a.val_sequences, save_every=a.save_every, device=a.device, amp=a.amp, compile=a.compile,
        workers=a.workers, cache_dir=a.cache_dir, seed=a.seed, resume=a.resume, overwrite=a.overwrite,
    )


def main(argv: list[str] | None = None) -> int:
    a = build_parser().parse_args(argv)
    if not a.data and not a.stills:
        print("vanelia train inpaint: error: give --data (clips) and/or --stills (photos)", file=sys.stderr)
        return 2
    try:
        cfg = config_from_args(a)
        cfg.model.validate()
        hist = train(cfg)
    except (FileExistsError, FileNotFoundError, ValueError, UserError) as exc:  # includes CheckpointError
        print(f"vanelia train inpaint: error: {exc}", file=sys.stderr)
        return 2
    last = hist["val"][-1] if hist["val"] else {}
    paths = run_paths(cfg.out)
    print(f"weights: {paths['weights']} (held-out PSNR in hole {last.get('psnr_hole', 'n/a')} dB); curve: {paths['png']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
