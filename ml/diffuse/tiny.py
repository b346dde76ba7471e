"""Tiny randomly initialised models, built in code and saved in diffusers/transformers layout.

They exercise exactly the loading and sampling code real Stable Diffusion folders go through
(same classes, same subfolders, same config keys) at a size that runs in milliseconds on a CPU.
Their pictures are noise: they test plumbing, never quality.
"""
from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import torch

WORDS = (
    "a photo of dog cat bag bottle on the table grass sky floor road sunny day sunset warm light "
    "soft shadow window studio product wooden top central left right"
).split()


# ---------------------------------------------------------------------------------------------
# tokenizer: byte-level BPE trained here on a few words
# ---------------------------------------------------------------------------------------------


def _byte_symbols() -> list[str]:
    """GPT-2/CLIP byte -> printable unicode map (what the ByteLevel pre-tokenizer emits)."""
    keep = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + list(range(ord("®"), ord("ÿ") + 1))
    chars, n = [], 0
    for b in range(256):
        if b in keep:
            chars.append(chr(b))
        else:
            chars.append(chr(256 + n))
            n += 1
    return chars


def train_bpe(words: list[str], num_merges: int = 60) -> tuple[dict[str, int], list[str]]:
    """A minimal BPE trainer: repeatedly merge the most frequent adjacent pair (CLIP style, '</w>' ends words)."""
    corpus = Counter(words)
    seqs = {w: list(w[:-1]) + [w[-1] + "</w>"] for w in corpus}
    merges: list[str] = []
    for _ in range(num_merges):
        pairs: Counter[tuple[str, str]] = Counter()
        for w, seq in seqs.items():
            for a, b in zip(seq, seq[1:]):
                pairs[(a, b)] += corpus[w]
        if not pairs:
            break
        (a, b), _ = max(pairs.items(), key=lambda kv: (kv[1], kv[0]))
        merges.append(f"{a} {b}")
        for w, seq in seqs.items():
            out, i = [], 0
            while i < len(seq):
                if i + 1 < len(seq) and seq[i] == a and seq[i + 1] == b:
                    out.append(a + b)
                    i += 2
                else:
                    out.append(seq[i])
                    i += 1
            seqs[w] = out
    symbols = _byte_symbols()
    vocab_list = symbols + [s + "</w>" for s in symbols] + [m.replace(" ", "") for m in merges]
    vocab_list += ["<|startoftext|>", "<|endoftext|>"]
    vocab: dict[str, int] = {}
    for tok in vocab_list:
        vocab.setdefault(tok, len(vocab))
    return vocab, merges


def build_tokenizer(max_length: int = 16):
    from transformers import CLIPTokenizer

    vocab, merges = train_bpe(list(WORDS) * 3 + ["a", "the", "on"] * 5)
    tok = CLIPTokenizer(vocab=vocab, merges=[tuple(m.split(" ")) for m in merges])
    tok.model_max_length = max_length
    return tok


def _text_config(tok, hidden: int = 32, projection: int = 32):
    from transformers import CLIPTextConfig

    return CLIPTextConfig(
        vocab_size=len(tok.get_vocab()),
        hidden_size=hidden,
        intermediate_size=hidden * 2,
        num_hidden_layers=2,
        num_attention_heads=2,
        max_position_embeddings=tok.model_max_length,
        projection_dim=projection,
        bos_token_id=tok.bos_token_id,
        eos_token_id=tok.eos_token_id,
        pad_token_id=tok.pad_token_id,
    )


# ---------------------------------------------------------------------------------------------
# components
# ---------------------------------------------------------------------------------------------


def _vae(latent_channels: int = 4, shift: float | None = None):
    from diffusers import AutoencoderKL

    kw = {} if shift is None else {"shift_factor": shift}
    return AutoencoderKL(
        in_channels=3,
        out_channels=3,
        down_block_types=("DownEncoderBlock2D", "DownEncoderBlock2D"),
        up_block_types=("UpDecoderBlock2D", "UpDecoderBlock2D"),
        block_out_channels=(8, 16),
        layers_per_block=1,
        latent_channels=latent_channels,
        norm_num_groups=8,
        sample_size=32,
        scaling_factor=0.5,
        **kw,
    )


def _unet(in_channels: int = 4, cross: int = 32, sdxl: bool = False):
    from diffusers import UNet2DConditionModel

    kw: dict = {}
    if sdxl:
        kw = dict(addition_embed_type="text_time", addition_time_embed_dim=8, projection_class_embeddings_input_dim=32 + 6 * 8)
    return UNet2DConditionModel(
        sample_size=16,
        in_channels=in_channels,
        out_channels=4,
        layers_per_block=1,
        block_out_channels=(16, 32),
        down_block_types=("CrossAttnDownBlock2D", "DownBlock2D"),
        up_block_types=("UpBlock2D", "CrossAttnUpBlock2D"),
        cross_attention_dim=cross,
        attention_head_dim=4,
        norm_num_groups=8,
        **kw,
    )


def _save_index(folder: Path, cls: str, comps: dict[str, tuple[str, str]]) -> None:
    index = {"_class_name": cls, "_diffusers_version": "0.42.1"}
    index.update({k: list(v) for k, v in comps.items()})
    (folder / "model_index.json").write_text(json.dumps(index, indent=2))


def build_sd(folder: str | Path, seed: int = 0, inpaint_unet: bool = False, controlnet: bool = True, sdxl: bool = False) -> Path:
    """A tiny SD 1.5-style (or SDXL-style) model folder: unet, vae, text_encoder(s), tokenizer(s), scheduler, controlnet."""
    from diffusers import ControlNetModel, DDIMScheduler
    from transformers import CLIPTextModel, CLIPTextModelWithProjection

    folder = Path(folder)
    torch.manual_seed(seed)
    tok = build_tokenizer()
    tok.save_pretrained(folder / "tokenizer")
    CLIPTextModel(_text_config(tok, hidden=16 if sdxl else 32)).save_pretrained(folder / "text_encoder")
    comps = {
        "unet": ("diffusers", "UNet2DConditionModel"),
        "vae": ("diffusers", "AutoencoderKL"),
        "text_encoder": ("transformers", "CLIPTextModel"),
        "tokenizer": ("transformers", "CLIPTokenizer"),
        "scheduler": ("diffusers", "DDIMScheduler"),
    }
    if sdxl:
        tok.save_pretrained(folder / "tokenizer_2")
        CLIPTextModelWithProjection(_text_config(tok, hidden=16, projection=32)).save_pretrained(folder / "text_encoder_2")
        comps.update(text_encoder_2=("transformers", "CLIPTextModelWithProjection"), tokenizer_2=("transformers", "CLIPTokenizer"))
    unet = _unet(9 if inpaint_unet else 4, sdxl=sdxl)
    unet.save_pretrained(folder / "unet")
    _vae().save_pretrained(folder / "vae")
    DDIMScheduler(beta_schedule="scaled_linear", beta_start=0.00085, beta_end=0.012, clip_sample=False, set_alpha_to_one=False, steps_offset=1).save_pretrained(folder / "scheduler")
    if controlnet and not inpaint_unet:
        base = unet
        for name in ("controlnet", "controlnet_normal"):
            ControlNetModel.from_unet(base, conditioning_embedding_out_channels=(8, 16)).save_pretrained(folder / name)
            comps[name] = ("diffusers", "ControlNetModel")
    _save_index(folder, "StableDiffusionXLPipeline" if sdxl else "StableDiffusionPipeline", comps)
    return folder


def build_iclight_offset(path: str | Path, sd_folder: str | Path, extra_latents: int = 2, seed: int = 1, scale: float = 0.02) -> Path:
    """An IC-Light-style offset file: per-parameter deltas, conv_in widened to 4*(1+extra_latents) inputs."""
    from diffusers import UNet2DConditionModel
    from safetensors.torch import save_file

    torch.manual_seed(seed)
    unet = UNet2DConditionModel.from_pretrained(str(sd_folder), subfolder="unet", local_files_only=True)
    offsets = {}
    for k, v in unet.state_dict().items():
        if k == "conv_in.weight":
            c = v.shape[1]
            offsets[k] = torch.randn(v.shape[0], c * (1 + extra_latents), *v.shape[2:]) * scale
        elif k.endswith("weight") and "norm" not in k:
            offsets[k] = torch.randn_like(v) * scale
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    save_file(offsets, str(path))
    return path


def build_sd3(folder: str | Path, seed: int = 0) -> Path:
    """A tiny SD3-style flow-matching model: SD3Transformer2DModel + FlowMatchEulerDiscreteScheduler."""
    from diffusers import FlowMatchEulerDiscreteScheduler, SD3Transformer2DModel
    from transformers import CLIPTextModelWithProjection

    folder = Path(folder)
    torch.manual_seed(seed)
    tok = build_tokenizer()
    tok.save_pretrained(folder / "tokenizer")
    CLIPTextModelWithProjection(_text_config(tok, hidden=16, projection=32)).save_pretrained(folder / "text_encoder")
    SD3Transformer2DModel(
        sample_size=16,
        patch_size=2,
        in_channels=4,
        num_layers=1,
        attention_head_dim=8,
        num_attention_heads=2,
        joint_attention_dim=32,
        caption_projection_dim=16,
        pooled_projection_dim=32,
        out_channels=4,
        pos_embed_max_size=64,
    ).save_pretrained(folder / "transformer")
    _vae(shift=0.1).save_pretrained(folder / "vae")
    FlowMatchEulerDiscreteScheduler(shift=3.0).save_pretrained(folder / "scheduler")
    _save_index(
        folder,
        "StableDiffusion3Pipeline",
        {
            "transformer": ("diffusers", "SD3Transformer2DModel"),
            "vae": ("diffusers", "AutoencoderKL"),
            "text_encoder": ("transformers", "CLIPTextModelWithProjection"),
            "tokenizer": ("transformers", "CLIPTokenizer"),
            "scheduler": ("diffusers", "FlowMatchEulerDiscreteScheduler"),
        },
    )
    return folder


def build_clipseg(folder: str | Path, seed: int = 0, image_size: int = 32) -> Path:
    """A tiny CLIPSeg (transformers layout: config, weights, tokenizer, image processor)."""
    from transformers import CLIPSegConfig, CLIPSegForImageSegmentation, CLIPSegProcessor, ViTImageProcessor

    folder = Path(folder)
    torch.manual_seed(seed)
    tok = build_tokenizer()
    text = _text_config(tok).to_dict()
    vision = dict(image_size=image_size, patch_size=8, hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=2)
    cfg = CLIPSegConfig(
        text_config=text,
        vision_config=vision,
        projection_dim=32,
        extract_layers=[0, 1],
        reduce_dim=16,
        decoder_num_attention_heads=2,
        decoder_intermediate_size=32,
        conditional_layer=0,
    )
    CLIPSegForImageSegmentation(cfg).save_pretrained(folder)
    proc = ViTImageProcessor(
        size={"height": image_size, "width": image_size},
        image_mean=[0.485, 0.456, 0.406],
        image_std=[0.229, 0.224, 0.225],
    )
    CLIPSegProcessor(image_processor=proc, tokenizer=tok).save_pretrained(folder)
    return folder


def build_all(root: str | Path) -> dict[str, Path]:
    """Every tiny model the tests and demos use, under ``root``."""
    root = Path(root)
    out = {
        "sd": build_sd(root / "sd"),
        "sd_inpaint": build_sd(root / "sd_inpaint", inpaint_unet=True),
        "sdxl": build_sd(root / "sdxl", sdxl=True, controlnet=False),
        "sd3": build_sd3(root / "sd3"),
        "clipseg": build_clipseg(root / "clipseg"),
    }
    out["iclight_offset"] = build_iclight_offset(root / "sd" / "iclight" / "offset.safetensors", root / "sd")
    return out


if __name__ == "__main__":
    import sys

    print(build_all(sys.argv[1] if len(sys.argv) > 1 else "tiny_models"))
