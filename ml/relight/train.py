"""`vanelia train relight --data DIR`: train the relighting U-Net on generated samples.

Loss = weighted MSE + a perceptual term: VGG16 feature distance when ``--vgg-weights`` points at
a local torchvision-style VGG16 state dict (never downloaded), else a multi-scale SSIM structural
term. Adam + ReduceLROnPlateau on the validation loss; safetensors checkpoints (``last`` every
epoch, ``best`` on improvement) plus ``last.train.pt`` (optimizer, scheduler, history) so
``--resume`` continues where a run stopped; comparison images and the loss plot every
``--every`` epochs.
"""
from __future__ import annotations

import argparse
import json
import math
import sys
import time
from pathlib import Path

import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader

from ml.losses import VGGPerceptual, ms_ssim_loss
from ml.relight import data as rdata
from ml.relight.unet import RelightUNet, UNetConfig, count_parameters, load_checkpoint, save_checkpoint
from shotcache.layout import atomic_write, atomic_write_json

# ---------------------------------------------------------------------------
# losses
# ---------------------------------------------------------------------------


class RelightLoss(nn.Module):
    def __init__(self, perceptual_weight: float = 0.2, vgg: VGGPerceptual | None = None):
        super().__init__()
        self.pw = perceptual_weight
        self.vgg = vgg

    def forward(self, pred: torch.Tensor, target: torch.Tensor, weight: torch.Tensor) -> tuple[torch.Tensor, dict[str, float]]:
        mse = (weight * (pred - target) ** 2).sum() / (weight.sum() * pred.shape[1] + 1e-6)
        # perceptual terms compare the images as seen: masked, tone-compressed to about [0, 1]
        pv, tv = torch.clamp(pred, 0, 4) * weight, target * weight
        pv, tv = pv / (1 + pv), tv / (1 + tv)
        perc = self.vgg(pv, tv) if self.vgg is not None else ms_ssim_loss(pv, tv)
        total = mse + self.pw * perc
        return total, {"mse": float(mse.detach()), "perceptual": float(perc.detach())}


# ---------------------------------------------------------------------------
# training
# ---------------------------------------------------------------------------


def _batches(ds: rdata.PatchRelightDataset, batch: int, shuffle: bool) -> DataLoader:
    return DataLoader(ds, batch_size=batch, shuffle=shuffle, num_workers=0, drop_last=False)


def train_epoch(model: RelightUNet, loader: DataLoader, loss_fn: RelightLoss, opt: torch.optim.Optimizer, device: str) -> float:
    model.train()
    total, n = 0.0, 0
    for x, y, w in loader:
        x, y, w = x.to(device), y.to(device), w.to(device)
        pred = model(*rdata.split_inputs(x))
        loss, _ = loss_fn(pred, y, w)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        total += float(loss.detach()) * len(x)
        n += len(x)
    return total / max(n, 1)


@torch.no_grad()
def evaluate_loss(model: RelightUNet, loader: DataLoader, loss_fn: RelightLoss, device: str) -> float:
    model.eval()
    total, n = 0.0, 0
    for x, y, w in loader:
        x, y, w = x.to(device), y.to(device), w.to(device)
        loss, _ = loss_fn(model(*rdata.split_inputs(x)), y, w)
        total += float(loss) * len(x)
        n += len(x)
    return total / max(n, 1)


@torch.no_grad()
def predict_sample(model: RelightUNet, sample: rdata.Sample, device: str = "cpu") -> np.ndarray:
    """Full-image linear RGB: irradiance x predicted shading + ambient (sample sizes are multiples of 8)."""
    model.eval()
    x = torch.from_numpy(sample.inputs[None]).to(device)
    shading = model(*rdata.split_inputs(x))[0].clamp_min(0).cpu().numpy().transpose(1, 2, 0)
    return (sample.irradiance * shading + sample.ambient).astype(np.float32)


def lambert_image(sample: rdata.Sample) -> np.ndarray:
    """Analytic reference used in training previews: albedo x max(n.l, 0) x irradiance + ambient."""
    alb = sample.inputs[2:5].transpose(1, 2, 0)
    cos = np.clip(sample.inputs[1], 0, None)[..., None]
    return (sample.irradiance * alb * cos + sample.ambient).astype(np.float32)


def comparison_row(sample: rdata.Sample, pred: np.ndarray) -> np.ndarray:
    """uint8 row: lambert | unet | target, premultiplied over black, sRGB."""
    from ml.io.colour import linear_to_uint8

    a = sample.rgba[..., 3:4]
    return np.concatenate([linear_to_uint8(img * a) for img in (lambert_image(sample), pred, sample.rgba[..., :3])], axis=1)


def save_comparison(path: Path, model: RelightUNet, samples: list[rdata.Sample], device: str) -> None:
    from ml.io.images import write_rgb8

    rows = [comparison_row(s, predict_sample(model, s, device)) for s in samples]
    write_rgb8(path, np.concatenate(rows, axis=0))


def save_loss_plot(path: Path, history: list[dict]) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 3.5), dpi=100)
    ep = [h["epoch"] for h in history]
    ax.plot(ep, [h["train"] for h in history], label="train")
    if any(h.get("val") is not None for h in history):
        ax.plot(ep, [h["val"] for h in history], label="validation")
    ax.set_yscale("log")
    ax.set_xlabel("epoch")
    ax.set_ylabel("loss (MSE + perceptual)")
    ax.legend()
    ax.grid(alpha=0.3)
    fig.tight_layout()
    atomic_write(path, lambda tmp: fig.savefig(str(tmp), format="png"))
    plt.close(fig)


def parse_args(argv: list[str]) -> argparse.Namespace:
    ap = argparse.ArgumentParser(prog="vanelia train relight", description="Train the relighting U-Net on generated samples.")
    ap.add_argument("--data", required=True, help="folder of samples from scripts/make_relight_data.py")
    ap.add_argument("--out", default="runs/relight", help="run folder: checkpoints, previews, loss plot")
    ap.add_argument("--width", type=float, default=None, help="channel multiplier (default 1.0 on a GPU, 0.125 on CPU)")
    ap.add_argument("--epochs", type=int, default=100)
    ap.add_argument("--minutes", type=float, default=0.0, help="stop after this wall time (0 = no limit)")
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--lr", type=float, default=2e-3)
    ap.add_argument("--patches-per-image", type=int, default=4)
    ap.add_argument("--val-fraction", type=float, default=0.1)
    ap.add_argument("--perceptual-weight", type=float, default=0.2)
    ap.add_argument("--vgg-weights", default=None, help="local VGG16 state dict for the perceptual loss (else MS-SSIM)")
    ap.add_argument("--every", type=int, default=5, help="save previews + loss plot every N epochs")
    ap.add_argument("--resume", action="store_true", help="continue from OUT/last.safetensors + last.train.pt")
    ap.add_argument("--lr-reset", action="store_true", help="with --resume: restart the schedule at --lr (e.g. after the data grew)")
    ap.add_argument("--device", default=None)
    ap.add_argument("--threads", type=int, default=0, help="torch CPU threads (0 = leave as is)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--reload", action="store_true", help="pick up samples added to --data while training")
    ap.add_argument("--limit", type=int, default=0, help="use at most N samples (quick runs)")
    return ap.parse_args(argv)


def run(args: argparse.Namespace) -> dict:
    device = args.device or ("cuda" if torch.cuda.is_available() else "cpu")
    if args.threads:
        torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    cache: dict[Path, rdata.Sample] = {}

    def datasets() -> tuple[list[rdata.Sample], list[rdata.Sample], rdata.PatchRelightDataset, rdata.PatchRelightDataset | None]:
        """(Re)load the folder: samples still being rendered join at the next epoch."""
        paths = rdata.list_samples(args.data)
        if args.limit:
            paths = paths[: args.limit]
        for p in paths:
            if p not in cache:
                cache[p] = rdata.load_sample(p)
        tr_p, va_p = rdata.split_names(paths, args.val_fraction)
        tr, va = [cache[p] for p in tr_p], [cache[p] for p in va_p]
        return tr, va, rdata.PatchRelightDataset(tr, args.patches_per_image, random=True, seed=args.seed + len(cache)), (
            rdata.PatchRelightDataset(va, args.patches_per_image, random=False) if va else None
        )

    t_load = time.perf_counter()
    train_s, val_s, train_ds, val_ds = datasets()
    print(f"[train relight] {len(train_s)} train / {len(val_s)} validation samples loaded in {time.perf_counter() - t_load:.1f} s", flush=True)

    last, state_file = out / "last.safetensors", out / "last.train.pt"
    history: list[dict] = []
    start_epoch, best = 0, math.inf
    if args.resume and last.is_file():
        model, _ = load_checkpoint(last)
        if args.width is not None and model.config.width != args.width:
            raise ValueError(f"{last}: was trained at width {model.config.width}, not --width {args.width}; drop --width to resume")
    else:
        width = args.width if args.width is not None else (1.0 if device.startswith("cuda") else 0.125)
        model = RelightUNet(UNetConfig(albedo_channels=3, width=width))
    model.to(device)
    opt = torch.optim.Adam(model.parameters(), lr=args.lr)
    sched = torch.optim.lr_scheduler.ReduceLROnPlateau(opt, factor=0.5, patience=4)
    if args.resume and last.is_file() and state_file.is_file():
        st = torch.load(str(state_file), map_location=device, weights_only=False)
        opt.load_state_dict(st["optimizer"])
        sched.load_state_dict(st["scheduler"])
        history, start_epoch, best = st["history"], st["epoch"] + 1, st["best"]
        if args.lr_reset:
            for g in opt.param_groups:
                g["lr"] = args.lr
            sched = torch.optim.lr_scheduler.ReduceLROnPlateau(opt, factor=0.5, patience=4)
            best = math.inf  # the validation set may differ from the last run's
        print(f"[train relight] resumed at epoch {start_epoch} (best {best:.5f}, lr {opt.param_groups[0]['lr']:.1e})", flush=True)
    vgg = VGGPerceptual(args.vgg_weights, depth=4).to(device) if args.vgg_weights else None
    loss_fn = RelightLoss(args.perceptual_weight, vgg).to(device)
    print(f"[train relight] width {model.config.width}: {count_parameters(model) / 1e6:.2f} M parameters, patch {train_ds.patch}px, device {device}", flush=True)

    preview = (val_s or train_s)[:4]
    t0 = time.perf_counter()
    for epoch in range(start_epoch, args.epochs):
        if args.reload and epoch > start_epoch:
            n_before = len(cache)
            train_s, val_s, train_ds, val_ds = datasets()
            if len(cache) != n_before:
                print(f"[train relight] now {len(train_s)} train / {len(val_s)} validation samples", flush=True)
        tr = train_epoch(model, _batches(train_ds, args.batch, True), loss_fn, opt, device)
        va = evaluate_loss(model, _batches(val_ds, args.batch, False), loss_fn, device) if val_ds else None
        sched.step(va if va is not None else tr)
        history.append({"epoch": epoch, "train": tr, "val": va, "lr": opt.param_groups[0]["lr"], "time_s": time.perf_counter() - t0})
        score = va if va is not None else tr
        extra = {"epoch": str(epoch), "val_loss": f"{score:.6f}", "samples": str(len(train_s))}
        save_checkpoint(last, model, extra)
        if score < best:
            best = score
            save_checkpoint(out / "best.safetensors", model, extra)
        state = {"optimizer": opt.state_dict(), "scheduler": sched.state_dict(), "history": history, "epoch": epoch, "best": best}
        atomic_write(state_file, lambda tmp: torch.save(state, str(tmp)))
        print(f"[train relight] epoch {epoch}: train {tr:.5f} val {va if va is None else round(va, 5)} lr {opt.param_groups[0]['lr']:.1e} ({time.perf_counter() - t0:.0f} s)", flush=True)
        timed_out = args.minutes and time.perf_counter() - t0 > args.minutes * 60
        if (epoch + 1) % args.every == 0 or timed_out or epoch + 1 == args.epochs:
            save_comparison(out / f"compare_e{epoch:04d}.png", model, preview, device)
            save_loss_plot(out / "loss.png", history)
        atomic_write_json(out / "history.json", history)
        if timed_out:
            print(f"[train relight] time limit of {args.minutes} min reached", flush=True)
            break
    return {"best": best, "epochs": len(history), "out": str(out)}


def main(argv: list[str] | None = None) -> int:
    args = parse_args(list(sys.argv[1:] if argv is None else argv))
    result = run(args)
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
    sys.exit(main())
