"""`vanelia bench diffuse`: seconds per image and peak GPU memory of the diffusion denoiser.

SD 1.5-sized and SDXL-sized UNets with random weights (speed does not depend on the weights)
at 512², 768², 1024² and 1300x2000, 30 steps, classifier-free guidance (batch 2), fp16, SDPA
attention, eager and with ``torch.compile``; plus the VAE decode. Prints the table and
writes JSON. Anchor (prodgen-a1111-backend.md, A1111 on an RTX 3090): 1200x1200, 30 steps,
21 s, 10 GB; target on an H100: SDXL-sized 1024², 30 steps <= 3 s.

Without a GPU it runs a reduced configuration (small sizes, few steps, fp32, no compile by
default) and says so: CPU numbers only show that the code path runs.
"""
from __future__ import annotations

import argparse
import json
import platform
import sys
import time
from typing import Any

import torch

SIZES = {"512": (512, 512), "768": (768, 768), "1024": (1024, 1024), "1300x2000": (1300, 2000)}

UNET_CONFIGS: dict[str, dict[str, Any]] = {
    # the published architectures (block widths, attention layout, text dims)
    "sd15": dict(
        sample_size=64,
        block_out_channels=(320, 640, 1280, 1280),
        down_block_types=("CrossAttnDownBlock2D", "CrossAttnDownBlock2D", "CrossAttnDownBlock2D", "DownBlock2D"),
        up_block_types=("UpBlock2D", "CrossAttnUpBlock2D", "CrossAttnUpBlock2D", "CrossAttnUpBlock2D"),
        cross_attention_dim=768,
        attention_head_dim=8,
        layers_per_block=2,
    ),
    "sdxl": dict(
        sample_size=128,
        block_out_channels=(320, 640, 1280),
        down_block_types=("DownBlock2D", "CrossAttnDownBlock2D", "CrossAttnDownBlock2D"),
        up_block_types=("CrossAttnUpBlock2D", "CrossAttnUpBlock2D", "UpBlock2D"),
        transformer_layers_per_block=(1, 2, 10),
        cross_attention_dim=2048,
        attention_head_dim=(5, 10, 20),
        use_linear_projection=True,
        addition_embed_type="text_time",
        addition_time_embed_dim=256,
        projection_class_embeddings_input_dim=2816,
        layers_per_block=2,
    ),
    # a toy UNet so tests can run the whole bench path in a second
    "tiny": dict(
        sample_size=8,
        block_out_channels=(32, 64),
        down_block_types=("CrossAttnDownBlock2D", "DownBlock2D"),
        up_block_types=("UpBlock2D", "CrossAttnUpBlock2D"),
        cross_attention_dim=32,
        attention_head_dim=4,
        layers_per_block=1,
    ),
}
TEXT = {"sd15": (77, 768, None), "sdxl": (77, 2048, 1280), "tiny": (8, 32, None)}
TINY_VAE = dict(block_out_channels=(16, 16, 16, 16), down_block_types=("DownEncoderBlock2D",) * 4, up_block_types=("UpDecoderBlock2D",) * 4, latent_channels=4, layers_per_block=1, norm_num_groups=8)
VAE_CONFIG = dict(
    block_out_channels=(128, 256, 512, 512),
    down_block_types=("DownEncoderBlock2D",) * 4,
    up_block_types=("UpDecoderBlock2D",) * 4,
    latent_channels=4,
    layers_per_block=2,
)


def build_unet(name: str, device: str, dtype: torch.dtype) -> Any:
    from diffusers import UNet2DConditionModel

    with torch.device(device):
        unet = UNet2DConditionModel(**UNET_CONFIGS[name])
    return unet.to(device=device, dtype=dtype).eval().requires_grad_(False)


def build_vae(device: str, dtype: torch.dtype, tiny: bool = False) -> Any:
    from diffusers import AutoencoderKL

    with torch.device(device):
        vae = AutoencoderKL(**(TINY_VAE if tiny else VAE_CONFIG))
    return vae.to(device=device, dtype=dtype).eval().requires_grad_(False)


def _sync(device: str) -> None:
    if device.startswith("cuda"):
        torch.cuda.synchronize()


@torch.no_grad()
def time_image(unet: Any, vae: Any, name: str, hw: tuple[int, int], steps: int, device: str, dtype: torch.dtype) -> dict[str, float]:
    """One image: ``steps`` CFG UNet evaluations (batch 2) + a VAE decode; seconds and peak memory."""
    h, w = hw[0] // 8, hw[1] // 8
    seq, dim, pooled = TEXT[name]
    lat = torch.randn(2, 4, h, w, device=device, dtype=dtype)
    emb = torch.randn(2, seq, dim, device=device, dtype=dtype)
    kw: dict[str, Any] = {}
    if pooled:
        kw["added_cond_kwargs"] = {
            "text_embeds": torch.randn(2, pooled, device=device, dtype=dtype),
            "time_ids": torch.tensor([[hw[0], hw[1], 0, 0, hw[0], hw[1]]] * 2, device=device, dtype=dtype),
        }
    if device.startswith("cuda"):
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats()
    _sync(device)
    t0 = time.perf_counter()
    for i in range(steps):
        t = torch.tensor(999 - i * (1000 // max(steps, 1)), device=device)
        pred = unet(lat, t, encoder_hidden_states=emb, return_dict=False, **kw)[0]
        lat = lat - 0.01 * pred  # data dependency between steps, like a sampler
    _sync(device)
    t_unet = time.perf_counter() - t0
    vae.decode(lat[:1].to(vae.dtype)).sample
    _sync(device)
    total = time.perf_counter() - t0
    peak = torch.cuda.max_memory_allocated() / 2**30 if device.startswith("cuda") else None  # JSON null on CPU
    return {"seconds": total, "unet_seconds": t_unet, "peak_gib": peak}


def run(models: list[str], sizes: list[str], steps: int, compile_modes: list[bool], device: str, dtype: torch.dtype, warmup: int) -> list[dict[str, Any]]:
    rows = []
    vae = build_vae(device, dtype, tiny=models == ["tiny"])
    for name in models:
        base = build_unet(name, device, dtype)
        for use_compile in compile_modes:
            unet = torch.compile(base, mode="max-autotune-no-cudagraphs", dynamic=False) if use_compile else base
            for size in sizes:
                hw = SIZES[size] if size in SIZES else tuple(int(v) for v in size.split("x"))  # type: ignore[misc]
                row: dict[str, Any] = {"model": name, "size": f"{hw[1]}x{hw[0]}", "steps": steps, "compile": use_compile, "dtype": str(dtype).replace("torch.", "")}
                try:
                    for _ in range(warmup):
                        time_image(unet, vae, name, hw, min(steps, 2), device, dtype)
                    row.update(time_image(unet, vae, name, hw, steps, device, dtype))
                except torch.cuda.OutOfMemoryError:
                    row.update(seconds=None, peak_gib=None, error="out of memory")
                    torch.cuda.empty_cache()
                rows.append(row)
                print(_fmt(row), flush=True)
        del base
        if device.startswith("cuda"):
            torch.cuda.empty_cache()
    return rows


def _fmt(r: dict[str, Any]) -> str:
    def num(v: Any, fmt: str) -> str:
        return format(v, fmt) if isinstance(v, (int, float)) else "-".rjust(int(fmt.split(".")[0]))

    return f"{r['model']:5s} {r['size']:>10s} {'compile' if r['compile'] else 'eager':8s} {r['steps']:3d} steps  {num(r.get('seconds'), '8.2f')} s/img  {num(r.get('peak_gib'), '6.2f')} GiB {r.get('error', '')}"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="vanelia bench diffuse", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--models", help="comma list of sd15,sdxl,tiny (default sd15,sdxl on GPU; sd15 on CPU: an SDXL-sized fp32 UNet needs ~10 GB RAM)")
    p.add_argument("--sizes", help="comma list of 512,768,1024,1300x2000 or HxW (default: all on GPU, 256x256 on CPU)")
    p.add_argument("--steps", type=int, help="default 30 on GPU, 2 on CPU")
    p.add_argument("--compile", choices=("both", "on", "off"), help="default both on GPU, off on CPU")
    p.add_argument("--device", default="auto")
    p.add_argument("--warmup", type=int, default=1)
    p.add_argument("--json", default="bench_diffuse.json", help="where to write the results")
    args = p.parse_args(argv)
    device = ("cuda" if torch.cuda.is_available() else "cpu") if args.device == "auto" else args.device
    gpu = device.startswith("cuda")
    reduced = not gpu
    dtype = torch.float16 if gpu else torch.float32
    sizes = (args.sizes or ("512,768,1024,1300x2000" if gpu else "256x256")).split(",")
    steps = args.steps or (30 if gpu else 2)
    compile_modes = {"both": [False, True], "on": [True], "off": [False]}[args.compile or ("both" if gpu else "off")]
    if gpu:
        torch.backends.cuda.matmul.allow_tf32 = True
        torch.backends.cudnn.benchmark = True
    print(f"vanelia bench diffuse on {torch.cuda.get_device_name() if gpu else platform.processor() or 'CPU'} "
          f"({device}, {str(dtype).replace('torch.', '')}, SDPA attention, torch {torch.__version__})")
    if reduced:
        print("NOTE: no GPU here - reduced configuration (small size, few steps, fp32, no compile); "
              "these numbers only show the code runs, they are not the GPU targets.")
    models = (args.models or ("sd15,sdxl" if gpu else "sd15")).split(",")
    bad = [m for m in models if m not in UNET_CONFIGS]
    if bad:
        print(f"vanelia bench diffuse: unknown model(s) {bad}; choose from {', '.join(UNET_CONFIGS)}", file=sys.stderr)
        return 2
    rows = run(models, sizes, steps, compile_modes, device, dtype, args.warmup if gpu else 0)
    result = {
        "device": torch.cuda.get_device_name() if gpu else "cpu",
        "reduced": reduced,
        "torch": torch.__version__,
        "rows": rows,
        "anchor": {"source": "prodgen-a1111-backend.md (A1111, RTX 3090)", "size": "1200x1200", "steps": 30, "seconds": 21, "gb": 10},
        "target": {"device": "H100", "model": "sdxl", "size": "1024x1024", "steps": 30, "seconds_max": 3.0},
    }
    from shotcache.layout import atomic_write_json

    atomic_write_json(args.json, result)
    print(f"wrote {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
