"""`vanelia train inpaint`: train DSTT on the user's folders of frames or videos.

Curriculum: each ``--data`` folder is one stage (in order), each with its epochs; holes from
the mask curriculum. Every sequence is 5 frames streamed one at a time through the memory,
which is detached after each frame (no unrolled backprop through time). Loss: L1 in the hole
and on the valid pixels, each normalised by its area. Adam (lr 1e-4, betas (0, 0.99)); mixed
precision on CUDA. After every epoch: validation PSNR in the hole, the checkpoint
(safetensors, atomic), the optimiser state and history (for --resume) and a loss-curve PNG.
"""
from __future__ import annotations

import argparse
import json
import math
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from safetensors.torch import load_file, save_file
from torch.utils.data import DataLoader

from shotcache.layout import atomic_write, atomic_write_json

from .checkpoint import default_checkpoint, load_into, save_checkpoint
from .data import SequenceDataset
from .dstt import DSTT, SIZES, SMALL, DSTTConfig


@dataclass
class TrainConfig:
    data: list[str]
    out: str = str(default_checkpoint())
    epochs: list[int] = field(default_factory=lambda: [1])
    model: DSTTConfig = SMALL
    batch: int = 2
    lr: float = 1e-4
    hole_weight: float = 1.0
    valid_weight: float = 1.0
    steps_per_epoch: int | None = None
    val_fraction: float = 0.1
    val_sequences: int = 8
    device: str = "cpu"
    seed: int = 0
    resume: bool = False
    overwrite: bool = False
    workers: int = 0
    log_every: int = 10


def weighted_l1(out: torch.Tensor, gt: torch.Tensor, mask: torch.Tensor, hole_w: float, valid_w: float) -> torch.Tensor:
    """Hole and valid L1, each averaged over its own pixels (a small hole still counts)."""
    diff = (out - gt).abs()
    hole = (diff * mask).sum() / (mask.sum() * 3).clamp_min(1.0)
    valid = (diff * (1 - mask)).sum() / ((1 - mask).sum() * 3).clamp_min(1.0)
    return hole_w * hole + valid_w * valid


def sequence_step(model: DSTT, frames: torch.Tensor, masks: torch.Tensor, cfg: TrainConfig,
                  scaler: Any = None) -> float:
    """One 5-frame sequence: stream through memory, backward per frame (memory detached)."""
    dev = frames.device
    memory = model.init_memory(frames.shape[0], dev)
    total = 0.0
    use_amp = dev.type == "cuda"
    for t in range(frames.shape[1]):
        gt = frames[:, t : t + 1]
        m = masks[:, t : t + 1]
        with torch.autocast(device_type=dev.type, dtype=torch.float16, enabled=use_amp):
            out, memory = model(gt * (1 - m), m, memory)
            loss = weighted_l1(out.float(), gt, m, cfg.hole_weight, cfg.valid_weight) / frames.shape[1]
        if scaler is not None:
            scaler.scale(loss).backward()
        else:
            loss.backward()
        memory = memory.detach()
        total += float(loss.detach())
    return total


@torch.no_grad()
def validate(model: DSTT, ds: SequenceDataset, device: torch.device, limit: int) -> float:
    """PSNR (dB, [0,1] range) over every hole pixel of up to ``limit`` sequences, composited."""
    model.eval()
    se, n = 0.0, 0
    for i in range(min(limit, len(ds))):
        frames, masks = (x[None].to(device) for x in ds[i])
        memory = model.init_memory(1, device)
        for t in range(frames.shape[1]):
            gt, m = frames[:, t : t + 1], masks[:, t : t + 1]
            out, memory = model(gt * (1 - m), m, memory)
            d = (((out - gt) / 2) ** 2 * m).sum().item()
            se += d
            n += int(m.sum().item()) * 3
    model.train()
    return 10 * math.log10(1.0 / max(se / max(n, 1), 1e-12))


def _paths(out: str) -> dict[str, Path]:
    p = Path(out)
    stem = p.with_suffix("")
    return {"ckpt": p, "optim": Path(f"{stem}.optim.safetensors"), "state": Path(f"{stem}.train.json"),
            "png": Path(f"{stem}.loss.png")}


def save_optimizer(path: Path, opt: torch.optim.Optimizer) -> None:
    tensors, steps = {}, {}
    params = [p for g in opt.param_groups for p in g["params"]]
    for i, p in enumerate(params):
        st = opt.state.get(p, {})
        for k in ("exp_avg", "exp_avg_sq"):
            if k in st:
                tensors[f"{i}.{k}"] = st[k].detach().cpu().contiguous()
        if "step" in st:
            steps[str(i)] = float(st["step"])
    if not tensors:
        tensors["empty"] = torch.zeros(1)
    atomic_write(path, lambda tmp: save_file(tensors, str(tmp), metadata={"steps": json.dumps(steps)}), suffix=".safetensors")


def load_optimizer(path: Path, opt: torch.optim.Optimizer) -> None:
    from safetensors import safe_open

    tensors = load_file(str(path))
    with safe_open(str(path), framework="pt") as f:
        steps = json.loads((f.metadata() or {}).get("steps", "{}"))
    params = [p for g in opt.param_groups for p in g["params"]]
    for i, p in enumerate(params):
        if f"{i}.exp_avg" in tensors:
            if tensors[f"{i}.exp_avg"].shape != p.shape:
                raise ValueError(f"{path}: optimiser state does not match the model (parameter {i})")
            opt.state[p] = {
                "step": torch.tensor(steps.get(str(i), 0.0)),
                "exp_avg": tensors[f"{i}.exp_avg"].to(p.device),
                "exp_avg_sq": tensors[f"{i}.exp_avg_sq"].to(p.device),
            }


def plot_history(path: Path, history: dict[str, Any]) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(1, 2, figsize=(10, 3.5))
    steps = history["steps"]
    if steps:
        ax[0].plot([s["step"] for s in steps], [s["loss"] for s in steps], lw=0.8)
    ax[0].set_xlabel("sequence step")
    ax[0].set_ylabel("weighted L1")
    ax[0].set_title("training loss")
    ep = history["epochs"]
    if ep:
        ax[1].plot(range(1, len(ep) + 1), [e["val_psnr"] for e in ep], "o-")
    ax[1].set_xlabel("epoch")
    ax[1].set_ylabel("PSNR in hole (dB)")
    ax[1].set_title("validation")
    fig.tight_layout()
    atomic_write(path, lambda tmp: fig.savefig(str(tmp), dpi=90), suffix=".png")
    plt.close(fig)


def train(cfg: TrainConfig) -> dict[str, Any]:
    """Run (or resume) the curriculum; returns the history."""
    paths = _paths(cfg.out)
    if len(cfg.epochs) not in (1, len(cfg.data)):
        raise ValueError(f"--epochs: give one number or one per --data folder ({len(cfg.data)})")
    epochs = cfg.epochs * len(cfg.data) if len(cfg.epochs) == 1 else cfg.epochs
    if paths["ckpt"].exists() and not (cfg.resume or cfg.overwrite):
        raise FileExistsError(f"{paths['ckpt']}: checkpoint exists; use --resume to continue or --overwrite to start over")
    device = torch.device(cfg.device)
    torch.manual_seed(cfg.seed)
    model = DSTT(cfg.model).to(device)
    opt = torch.optim.Adam(model.parameters(), lr=cfg.lr, betas=(0.0, 0.99))
    history: dict[str, Any] = {"steps": [], "epochs": [], "stage": 0, "epoch": 0, "step": 0}
    if cfg.resume and paths["ckpt"].exists():
        load_into(model, paths["ckpt"])
        if paths["optim"].exists():
            load_optimizer(paths["optim"], opt)
        if paths["state"].exists():
            history = json.loads(paths["state"].read_text())
    scaler = torch.amp.GradScaler("cuda") if device.type == "cuda" else None
    size = (cfg.model.height, cfg.model.width)
    model.train()
    for stage in range(len(cfg.data)):
        done = sum(1 for e in history["epochs"] if e["stage"] == stage)
        if done >= epochs[stage]:
            continue  # resumed past this stage (more epochs given later continue it)
        root = cfg.data[stage]
        tr = SequenceDataset([root], size, train=True, seed=cfg.seed, split=(0.0, 1.0 - cfg.val_fraction))
        try:
            va = SequenceDataset([root], size, train=False, seed=cfg.seed + 1, split=(1.0 - cfg.val_fraction, 1.0))
        except ValueError:
            va = SequenceDataset([root], size, train=False, seed=cfg.seed + 1)
        for epoch in range(done, epochs[stage]):
            tr.epoch = epoch
            loader = DataLoader(tr, batch_size=cfg.batch, shuffle=True, num_workers=cfg.workers, drop_last=len(tr) >= cfg.batch,
                                generator=torch.Generator().manual_seed(cfg.seed + 1000 * stage + epoch))
            t0 = time.perf_counter()
            losses = []
            for i, (frames, masks) in enumerate(loader):
                if cfg.steps_per_epoch and i >= cfg.steps_per_epoch:
                    break
                opt.zero_grad(set_to_none=True)
                loss = sequence_step(model, frames.to(device), masks.to(device), cfg, scaler)
                if scaler is not None:
                    scaler.step(opt)
                    scaler.update()
                else:
                    opt.step()
                history["step"] += 1
                losses.append(loss)
                history["steps"].append({"step": history["step"], "loss": round(loss, 6), "stage": stage})
                if cfg.log_every and history["step"] % cfg.log_every == 0:
                    print(f"stage {stage + 1} epoch {epoch + 1} step {history['step']}: loss {loss:.4f}", flush=True)
            val = validate(model, va, device, cfg.val_sequences)
            history["epochs"].append({"stage": stage, "epoch": epoch, "val_psnr": round(val, 3),
                                      "train_loss": round(float(np.mean(losses)) if losses else float("nan"), 6),
                                      "seconds": round(time.perf_counter() - t0, 1), "data": str(root)})
            history["stage"], history["epoch"] = stage, epoch + 1
            print(f"stage {stage + 1}/{len(cfg.data)} epoch {epoch + 1}/{epochs[stage]}: train loss "
                  f"{history['epochs'][-1]['train_loss']:.4f}, val PSNR in hole {val:.2f} dB", flush=True)
            save_checkpoint(paths["ckpt"], model, {"history_epochs": history["epochs"]})
            save_optimizer(paths["optim"], opt)
            atomic_write_json(paths["state"], history)
            plot_history(paths["png"], history)
        history["stage"], history["epoch"] = stage + 1, 0
        atomic_write_json(paths["state"], history)
    return history


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="vanelia train inpaint", description=__doc__.splitlines()[0])
    p.add_argument("--data", nargs="+", required=True, help="one folder (frames / clip folders / videos) per curriculum stage")
    p.add_argument("--out", default=str(default_checkpoint()), help="checkpoint path (.safetensors)")
    p.add_argument("--epochs", nargs="+", type=int, default=[1], help="epochs per stage (one number for all)")
    p.add_argument("--size", choices=sorted(SIZES), default="small", help="network width (tiny/small for CPU)")
    p.add_argument("--batch", type=int, default=2)
    p.add_argument("--lr", type=float, default=1e-4)
    p.add_argument("--steps-per-epoch", type=int)
    p.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--resume", action="store_true")
    p.add_argument("--overwrite", action="store_true")
    p.add_argument("--workers", type=int, default=0)
    return p


def main(argv: list[str] | None = None) -> int:
    a = build_parser().parse_args(argv)
    cfg = TrainConfig(
        data=a.data, out=a.out, epochs=a.epochs, model=SIZES[a.size], batch=a.batch,
        lr=a.lr, steps_per_epoch=a.steps_per_epoch, device=a.device, seed=a.seed, resume=a.resume,
        overwrite=a.overwrite, workers=a.workers,
    )
    try:
        hist = train(cfg)
    except (FileExistsError, ValueError) as exc:  # includes CheckpointError: a clear message, no traceback
        print(f"vanelia train inpaint: error: {exc}", file=sys.stderr)
        return 2
    last = hist["epochs"][-1] if hist["epochs"] else {}
    print(f"checkpoint: {cfg.out} (val PSNR in hole {last.get('val_psnr', 'n/a')} dB); curve: {_paths(cfg.out)['png']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
