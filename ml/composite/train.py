"""`vanelia train composite --data DIRS ...`: train the photorealistic compositor.

Two sources of pairs: perturbed frames (``--data``, ml/composite/data.py: harmonize a raw
render) or `vanelia eval insert --pairs-out` files (``--insert-pairs``: correct the classical
composite towards path-traced truth; the checkpoint records ``base="classical"`` and the
engine runs classical first). ``--val-pairs`` keeps the best validated step as
``best.safetensors``; ``--augment`` recolours insert pairs (channel order, exposure) so the
product's own colour teaches nothing. ``--init CKPT`` fine-tunes a checkpoint (as the estimate
it corrects changes) and scores it before the first step, so the kept file is never worse.

Coarse generator first (``--coarse-steps``), then the whole coarse-to-fine network
(``--fine-steps``, loss on the fine output plus half the coarse loss). Pairs come from
ml.composite.data (the 'train' split of each clip; evaluation uses the held-out part).
Loss: object-area L1 + MS-SSIM (or VGG16 perceptual with ``--vgg-weights`` from a local
file) + optional WGAN-GP (``--gan``).

Outputs in ``--out``: ``last.safetensors`` (weights + config metadata; what the engine
loads), ``train_state.pt`` (optimizer, step, loss history: ``--resume`` continues from it),
``loss.png`` (loss curve), ``samples.png`` (composite | prediction | target on fixed pairs).
Data for a step depends only on (seed, step), so a resumed run sees what an unbroken one would.
"""
from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import torch

from shotcache.layout import atomic_write, atomic_write_json

from .data import PairSampler, load_frames
from .insert_data import InsertPairSampler, load_pairs
from ml.losses import VGGPerceptual, ms_ssim_loss

from .losses import PatchCritic, gradient_penalty, masked_l1
from .photorealistic import CompositorConfig, PhotorealisticNet, apply_coefficients, load_checkpoint, make_input, read_checkpoint_metadata, save_checkpoint


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="vanelia train composite", description=__doc__.split("\n\n")[0])
    p.add_argument("--data", nargs="+", default=None, help="folders of frames (searched recursively; masks/ beside frames are used)")
    p.add_argument("--insert-pairs", nargs="+", default=None,
                   help="pair files of `vanelia eval insert --pairs-out` instead of --data: learn to correct the base engine's composite towards path-traced truth")
    p.add_argument("--val-pairs", nargs="+", default=None, help="pair files scored every --val-every steps; the best step is saved as best.safetensors")
    p.add_argument("--val-every", type=int, default=100)
    p.add_argument("--augment", action="store_true", help="with --insert-pairs: recolour pairs (channel order, exposure) so the product's own colour teaches nothing")
    p.add_argument("--base", default="classical", help="with --insert-pairs: the composite engine the pairs were made with")
    p.add_argument("--out", default="runs/composite", help="output folder (checkpoints, plots)")
    p.add_argument("--cnum", type=int, default=32, help="base width (32 / 48 / 64)")
    p.add_argument("--size", type=int, default=128, help="training crop size (multiple of 8)")
    p.add_argument("--batch", type=int, default=4)
    p.add_argument("--coarse-steps", type=int, default=400)
    p.add_argument("--fine-steps", type=int, default=400)
    p.add_argument("--lr", type=float, default=2e-4)
    p.add_argument("--clip", type=float, default=1.0, help="gradient-norm clipping")
    p.add_argument("--skip-factor", type=float, default=2.5, help="skip an update whose loss exceeds this x the recent median")
    p.add_argument("--ssim-weight", type=float, default=0.2)
    p.add_argument("--vgg-weights", default=None, help="local VGG16 state dict for a perceptual loss (never downloaded)")
    p.add_argument("--gan", action="store_true", help="add WGAN-GP (penalty on foreground pixels)")
    p.add_argument("--gan-weight", type=float, default=0.001)
    p.add_argument("--split", default="train", choices=("train", "all"), help="which frames of each clip to train on")
    p.add_argument("--max-side", type=int, default=480, help="frames are downscaled to this longer side when loaded")
    p.add_argument("--save-every", type=int, default=50)
    p.add_argument("--max-minutes", type=float, default=0.0, help="stop (and save) after this wall time; 0 = no limit")
    p.add_argument("--resume", action="store_true", help="continue from OUT/last.safetensors + OUT/train_state.pt")
    p.add_argument("--init", default=None,
                   help="start from this checkpoint's weights and config (fine-tune it on new pairs; a fresh optimizer); "
                        "with --val-pairs its own score is step 0's, so best.safetensors is never worse than it")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--device", default="cpu")
    return p


def to_tensors(batch: tuple[np.ndarray, np.ndarray, np.ndarray], device: str) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    comp, mask, real = batch
    c = torch.from_numpy(np.ascontiguousarray(comp)).permute(0, 3, 1, 2).to(device)
    m = torch.from_numpy(np.ascontiguousarray(mask))[:, None].to(device)
    r = torch.from_numpy(np.ascontiguousarray(real)).permute(0, 3, 1, 2).to(device)
    return c, m, r


class Trainer:
    """One training run: model, optimizer, loss terms, history; step() does one update."""

    def __init__(self, args: argparse.Namespace, sampler: "PairSampler | InsertPairSampler"):
        self.args = args
        self.sampler = sampler
        config = CompositorConfig(cnum=args.cnum)
        if args.insert_pairs:  # the network corrects the base engine's composite, at the size it learnt on
            config = CompositorConfig(cnum=args.cnum, net_size=args.size, base=args.base)
        self.model = self.initial_model(config).to(args.device)
        self.provenance = {"trained_by": "vanelia train composite"}
        """Who made the weights, in every file saved; a fine-tune also names the file it started
        from and that file's own step (its ``step`` counts the fine-tune's steps only)."""
        if args.init:
            self.provenance["fine_tuned_from"] = f"{Path(args.init).name} (step {read_checkpoint_metadata(args.init).get('step', '?')})"
        self.best: float | None = None
        self.opt = torch.optim.Adam(self.model.parameters(), lr=args.lr, betas=(0.5, 0.999))
        self.vgg = VGGPerceptual(args.vgg_weights).to(args.device) if args.vgg_weights else None
        self.critic = PatchCritic().to(args.device) if args.gan else None
        self.opt_d = torch.optim.Adam(self.critic.parameters(), lr=args.lr, betas=(0.5, 0.999)) if self.critic else None
        self.step_no = 0
        self.history: list[dict[str, float | str]] = []

    def initial_model(self, config: CompositorConfig) -> PhotorealisticNet:
        """A fresh network, or with --init the given checkpoint's: its config must be the one
        this run would train (same width, crop size and base engine), so a fine-tune cannot
        silently change what the engine does with the file."""
        if not self.args.init:
            return PhotorealisticNet(config)
        model = load_checkpoint(self.args.init)
        if model.config != config:
            raise SystemExit(f"--init {self.args.init}: its config {model.config} differs from this run's {config}; "
                             "pass the --cnum/--size/--base it was trained with")
        return model

    @property
    def phase(self) -> str:
        return "coarse" if self.step_no < self.args.coarse_steps else "fine"

    def image_loss(self, pred: torch.Tensor, real: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        loss = masked_l1(pred, real, mask)
        if self.vgg is not None:
            loss = loss + 0.1 * self.vgg(pred, real)
        elif self.args.ssim_weight > 0:
            loss = loss + self.args.ssim_weight * ms_ssim_loss(pred, real)
        return loss

    def forward(self, comp: torch.Tensor, mask: torch.Tensor) -> tuple[torch.Tensor | None, torch.Tensor]:
        x = make_input(comp, mask, comp)
        if self.phase == "coarse":
            coarse = comp * (1 - mask) + apply_coefficients(self.model.coarse(x), comp) * mask
            return None, coarse
        _, fine, coarse = self.model(x)
        return fine, coarse

    def step(self) -> dict[str, float | str]:
        rng = np.random.default_rng([self.args.seed, self.step_no])
        comp, mask, real = to_tensors(self.sampler.batch(self.args.batch, rng), self.args.device)
        self.model.train()
        fine, coarse = self.forward(comp, mask)
        loss = self.image_loss(coarse, real, mask) * (1.0 if fine is None else 0.5)
        final = coarse if fine is None else fine
        if fine is not None:
            loss = loss + self.image_loss(fine, real, mask)
        rec: dict[str, float | str] = {"step": self.step_no, "phase": self.phase}
        if self.critic is not None and self.opt_d is not None:
            d_loss = self.critic(final.detach(), mask).mean() - self.critic(real, mask).mean()
            d_loss = d_loss + 10.0 * gradient_penalty(self.critic, real, final, mask)
            self.opt_d.zero_grad()
            d_loss.backward()
            self.opt_d.step()
            loss = loss - self.args.gan_weight * self.critic(final, mask).mean()
            rec["d_loss"] = float(d_loss)
        self.opt.zero_grad()
        loss.backward()
        # one bad batch must not blow up the colour transform (seen at lr 5e-4 without clipping,
        # and at 2e-4 with it): clip, and skip the update when the loss jumps far above its
        # recent median (the step is still recorded, marked skipped)
        rec["grad_norm"] = float(torch.nn.utils.clip_grad_norm_(self.model.parameters(), self.args.clip))
        recent = [float(h["loss"]) for h in self.history[-50:] if h["phase"] == self.phase]
        if len(recent) >= 20 and float(loss.detach()) > self.args.skip_factor * float(np.median(recent)):
            rec["skipped"] = 1.0
        else:
            self.opt.step()
        with torch.no_grad():
            fg = mask.sum().clamp(min=1) * 3
            rec["loss"] = float(loss.detach())
            rec["fmse"] = float((((final.clamp(0, 1) - real) * 255) ** 2 * mask).sum() / fg)
            rec["fmse_input"] = float((((comp - real) * 255) ** 2 * mask).sum() / fg)
        self.history.append(rec)
        self.step_no += 1
        return rec

    def validate(self, batch: tuple[np.ndarray, np.ndarray, np.ndarray], chunk: int = 32) -> dict[str, float]:
        """Product-region PSNR (dB, sRGB) of the network's output and of its input on a fixed
        batch: whether the correction helps on pairs it does not train on."""
        self.model.eval()
        err = err_in = area = 0.0
        with torch.no_grad():
            for i in range(0, len(batch[0]), chunk):
                comp, mask, real = to_tensors(tuple(b[i:i + chunk] for b in batch), self.args.device)  # type: ignore[arg-type]
                fine, coarse = self.forward(comp, mask)
                pred = (coarse if fine is None else fine).clamp(0, 1)
                err += float((((pred - real) ** 2) * mask).sum())
                err_in += float((((comp - real) ** 2) * mask).sum())
                area += float(mask.sum()) * 3
        psnr = lambda e: float(10 * np.log10(area / max(e, 1e-12)))  # noqa: E731
        return {"val_psnr": psnr(err), "val_psnr_input": psnr(err_in)}

    # ---------------------------------------------------------------- persistence
    def save(self, out: Path) -> None:
        out.mkdir(parents=True, exist_ok=True)
        save_checkpoint(out / "last.safetensors", self.model, {"step": str(self.step_no), "phase": self.phase, **self.provenance})
        state = {"step": self.step_no, "opt": self.opt.state_dict(), "history": self.history}
        if self.critic is not None and self.opt_d is not None:
            state["critic"] = self.critic.state_dict()
            state["opt_d"] = self.opt_d.state_dict()
        atomic_write(out / "train_state.pt", lambda tmp: torch.save(state, tmp), suffix=".pt")
        atomic_write_json(out / "history.json", self.history)
        plot_losses(self.history, out / "loss.png")

    def resume(self, out: Path) -> None:
        ckpt, state_path = out / "last.safetensors", out / "train_state.pt"
        if not ckpt.is_file() or not state_path.is_file():
            raise FileNotFoundError(f"--resume: {ckpt} and {state_path} are both needed; start without --resume")
        self.model = load_checkpoint(ckpt, cnum=self.args.cnum).to(self.args.device)
        self.opt = torch.optim.Adam(self.model.parameters(), lr=self.args.lr, betas=(0.5, 0.999))
        state = torch.load(state_path, map_location=self.args.device, weights_only=False)
        self.opt.load_state_dict(state["opt"])
        for group in self.opt.param_groups:  # a resumed run may change the learning rate
            group["lr"] = self.args.lr
        self.step_no = int(state["step"])
        self.history = list(state["history"])
        if self.critic is not None and "critic" in state and self.opt_d is not None:
            self.critic.load_state_dict(state["critic"])
            self.opt_d.load_state_dict(state["opt_d"])


def _smooth(v: np.ndarray, k: int) -> np.ndarray:
    if len(v) < k or k < 2:
        return v
    return np.convolve(v, np.ones(k) / k, mode="valid")


def plot_losses(history: list[dict[str, float | str]], path: Path) -> None:
    """Loss and fMSE (prediction vs unharmonized input) against step."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    if not history:
        return
    steps = np.array([h["step"] for h in history], float)
    k = max(1, len(history) // 40)
    fig, ax = plt.subplots(1, 3, figsize=(14, 3.5))
    loss = np.array([h["loss"] for h in history], float)
    ax[0].plot(steps[: len(_smooth(loss, k))], _smooth(loss, k))
    ax[0].set_title("training loss")
    ax[0].set_xlabel("step")
    f = np.array([h["fmse"] for h in history], float)
    f0 = np.array([h["fmse_input"] for h in history], float)
    ax[1].plot(steps[: len(_smooth(f, k))], _smooth(f, k), label="prediction")
    ax[1].plot(steps[: len(_smooth(f0, k))], _smooth(f0, k), label="unharmonized input")
    ax[1].set_yscale("log")
    ax[1].set_title("fMSE on training batches")
    ax[1].legend()
    ratio = _smooth(f / np.maximum(f0, 1e-6), max(k, 5))
    ax[2].plot(steps[: len(ratio)], ratio)
    ax[2].axhline(1.0, color="k", lw=0.6)
    ax[2].set_title("fMSE prediction / input (< 1 = better)")
    ax[0].set_title("training loss (fine phase adds 0.5 x coarse)")
    switch = [h["step"] for h in history if h["phase"] == "fine"]
    for a in ax:
        if switch:
            a.axvline(float(switch[0]), color="grey", ls="--", lw=0.8)
    fig.tight_layout()
    atomic_write(path, lambda tmp: fig.savefig(tmp, dpi=80, format="png"), suffix=".png")
    plt.close(fig)


def make_sampler(args: argparse.Namespace) -> PairSampler | InsertPairSampler:
    """Perturbed-frame pairs (--data) or insert pairs (--insert-pairs), one of the two."""
    if bool(args.data) == bool(args.insert_pairs):
        raise SystemExit("give either --data FRAMES_DIR (harmonization pairs) or --insert-pairs FILE (eval insert pairs)")
    if args.insert_pairs:
        pairs = load_pairs(args.insert_pairs)
        print(f"train composite: {len(pairs)} insert pairs (base {args.base}), cnum={args.cnum}, size={args.size}", flush=True)
        return InsertPairSampler(pairs, args.size, augment=args.augment)
    frames, silhouettes = load_frames(args.data, split=args.split, max_side=args.max_side)
    print(f"train composite: {len(frames)} frames ({sum(bool(f.masks) for f in frames)} with object masks), "
          f"{len(silhouettes)} silhouettes, cnum={args.cnum}, size={args.size}", flush=True)
    return PairSampler(frames, silhouettes, args.size)


def keep_best(trainer: Trainer, val: tuple[np.ndarray, np.ndarray, np.ndarray], out: Path) -> None:
    """Score the validation pairs; the best step so far is written to best.safetensors."""
    rec = trainer.validate(val)
    if trainer.history:  # before the first step (--init's own score) there is no step to note it on
        trainer.history[-1].update(rec)
    better = trainer.best is None or rec["val_psnr"] > trainer.best
    if better:
        trainer.best = rec["val_psnr"]
        save_checkpoint(out / "best.safetensors", trainer.model, {"step": str(trainer.step_no), **trainer.provenance,
                                                                   "val_psnr": f"{rec['val_psnr']:.3f}", "val_psnr_input": f"{rec['val_psnr_input']:.3f}"})
    print(f"validation at step {trainer.step_no}: product PSNR {rec['val_psnr']:.2f} dB (input {rec['val_psnr_input']:.2f})"
          + (" best" if better else ""), flush=True)


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.size % 8:
        raise SystemExit(f"--size {args.size}: must be a multiple of 8")
    torch.set_num_threads(max(1, args.threads))
    torch.manual_seed(args.seed)
    out = Path(args.out)
    trainer = Trainer(args, make_sampler(args))
    val = InsertPairSampler(load_pairs(args.val_pairs), args.size).fixed() if args.val_pairs else None
    if args.resume:
        trainer.resume(out)
        print(f"resumed at step {trainer.step_no}", flush=True)
    out.mkdir(parents=True, exist_ok=True)
    atomic_write_json(out / "args.json", vars(args))
    if val is not None and args.init and not args.resume:  # the starting weights are the score to beat
        keep_best(trainer, val, out)
    total = args.coarse_steps + args.fine_steps
    t0 = time.time()
    while trainer.step_no < total:
        rec = trainer.step()
        done = trainer.step_no
        if done % 10 == 0 or done == total:
            recent = trainer.history[-10:]
            mean = lambda key: float(np.mean([float(r[key]) for r in recent]))  # noqa: E731
            print(f"step {done}/{total} [{rec['phase']}] loss {mean('loss'):.4f} fMSE {mean('fmse'):.1f} "
                  f"(input {mean('fmse_input'):.1f}) {time.time() - t0:.0f}s", flush=True)
        if done % args.save_every == 0:
            trainer.save(out)
        if val is not None and (done % args.val_every == 0 or done == total):
            keep_best(trainer, val, out)
        if args.max_minutes and time.time() - t0 > args.max_minutes * 60:
            print(f"stopping at step {done}: --max-minutes {args.max_minutes} reached", flush=True)
            break
    trainer.save(out)
    print(json.dumps({"checkpoint": str(out / "last.safetensors"), "steps": trainer.step_no}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
