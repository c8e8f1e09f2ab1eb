"""Tiny randomly initialised diffusers pipelines, built from configs in code and saved to a
folder, so that tests load them with the real `from_pretrained(dir, local_files_only=True)`:
a Stable Diffusion pipeline (UNet) and a FLUX pipeline (transformer), each under 1 MB and
drawing 32x32 images in well under a second on CPU. Tokenizers are character level, built in
memory (no vocabulary files, no hub)."""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import Any

import torch

CLIP_MAX_LENGTH = 77
T5_MAX_LENGTH = 64  # the FLUX pipeline's max_sequence_length must not exceed it


def untyped(module: str) -> Any:
    """A library whose partial annotations make mypy refuse its calls (diffusers)."""
    return importlib.import_module(module)


def clip_tokenizer(max_length: int = CLIP_MAX_LENGTH) -> Any:
    from tokenizers import pre_tokenizers
    from transformers import CLIPTokenizer

    alphabet = sorted(pre_tokenizers.ByteLevel.alphabet())
    vocab = {"<|startoftext|>": 0, "<|endoftext|>": 1}
    for suffix in ("", "</w>"):
        for char in alphabet:
            vocab.setdefault(char + suffix, len(vocab))
    return CLIPTokenizer(vocab=vocab, merges=[], model_max_length=max_length)


def clip_text_model(vocab_size: int) -> Any:
    from transformers import CLIPTextConfig, CLIPTextModel

    config = CLIPTextConfig(
        hidden_size=32,
        intermediate_size=37,
        num_attention_heads=4,
        num_hidden_layers=2,
        vocab_size=vocab_size,
        projection_dim=32,
        bos_token_id=0,
        eos_token_id=1,
        pad_token_id=1,
    )
    return CLIPTextModel(config)


def save_tiny_sd(folder: Path) -> Path:
    diffusers = untyped("diffusers")
    torch.manual_seed(0)
    tokenizer = clip_tokenizer()
    unet = diffusers.UNet2DConditionModel(
        block_out_channels=(4, 8),
        layers_per_block=1,
        sample_size=16,
        in_channels=4,
        out_channels=4,
        cross_attention_dim=32,
        norm_num_groups=2,
        attention_head_dim=2,
        down_block_types=("DownBlock2D", "CrossAttnDownBlock2D"),
        up_block_types=("CrossAttnUpBlock2D", "UpBlock2D"),
    )
    vae = diffusers.AutoencoderKL(
        block_out_channels=[4, 8],
        latent_channels=4,
        norm_num_groups=2,
        down_block_types=["DownEncoderBlock2D"] * 2,
        up_block_types=["UpDecoderBlock2D"] * 2,
    )
    pipeline = diffusers.StableDiffusionPipeline(
        unet=unet,
        vae=vae,
        text_encoder=clip_text_model(len(tokenizer)),
        tokenizer=tokenizer,
        scheduler=diffusers.EulerDiscreteScheduler(steps_offset=1),
        safety_checker=None,
        feature_extractor=None,
        requires_safety_checker=False,
    )
    pipeline.save_pretrained(folder)
    return folder


def save_tiny_flux(folder: Path) -> Path:
    diffusers, transformers = untyped("diffusers"), untyped("transformers")
    torch.manual_seed(0)
    tokenizer = clip_tokenizer()
    pieces = [("<pad>", 0.0), ("</s>", 0.0), ("<unk>", 0.0)]
    pieces += [(char, -1.0) for char in "abcdefghijklmnopqrstuvwxyz▁"]
    transformer = diffusers.FluxTransformer2DModel(
        patch_size=1,
        in_channels=4,
        num_layers=1,
        num_single_layers=1,
        attention_head_dim=16,
        num_attention_heads=2,
        joint_attention_dim=32,
        pooled_projection_dim=32,
        axes_dims_rope=[4, 4, 8],
    )
    vae = diffusers.AutoencoderKL(
        block_out_channels=[4],
        latent_channels=1,
        norm_num_groups=1,
        down_block_types=["DownEncoderBlock2D"],
        up_block_types=["UpDecoderBlock2D"],
        use_quant_conv=False,
        use_post_quant_conv=False,
        shift_factor=0.0609,
        scaling_factor=1.5035,
    )
    t5 = transformers.T5EncoderModel(
        transformers.T5Config(
            d_model=32, d_kv=8, d_ff=37, num_layers=2, num_heads=4, vocab_size=len(pieces)
        )
    )
    pipeline = diffusers.FluxPipeline(
        scheduler=diffusers.FlowMatchEulerDiscreteScheduler(),
        vae=vae,
        text_encoder=clip_text_model(len(tokenizer)),
        tokenizer=tokenizer,
        text_encoder_2=t5,
        tokenizer_2=transformers.T5Tokenizer(
            vocab=pieces, extra_ids=0, model_max_length=T5_MAX_LENGTH
        ),
        transformer=transformer,
    )
    pipeline.save_pretrained(folder)
    return folder
