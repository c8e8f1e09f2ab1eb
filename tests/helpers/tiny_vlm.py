"""A tiny randomly initialised LLaVA-style vision-language model and its processor, built from
configs in code and saved to a folder for `hf/<folder>`: a CLIP vision tower (32 px, patches
of 8) and a Llama text model of 32 wide, a character-level tokenizer with whole-word "Yes" and
"No" tokens, and a plain chat template. The output rows of "Yes" and "No" are scaled up so
that the first token is mostly one of them (which one turns mostly on the picture's colours):
a grader with random but real answers."""

from __future__ import annotations

from pathlib import Path

import torch

from tests.helpers.tiny_pipelines import clip_tokenizer, untyped

TEMPLATE = (
    "{% for m in messages %}{{ m['role'] }}: "
    "{% for c in m['content'] %}{% if c['type'] == 'image' %}<image>{% else %}{{ c['text'] }}"
    "{% endif %}{% endfor %}\n{% endfor %}{% if add_generation_prompt %}assistant:{% endif %}"
)
YES_NO_SCALE = 80.0


def save_tiny_vlm(folder: Path) -> Path:
    from tokenizers import AddedToken

    transformers = untyped("transformers")

    tokenizer = clip_tokenizer(max_length=1024)
    tokenizer.add_tokens(["<image>"], special_tokens=True)
    tokenizer.add_tokens([AddedToken(word, normalized=False) for word in ("Yes", "No")])
    tokenizer.pad_token = "<|endoftext|>"
    processor = transformers.LlavaProcessor(
        image_processor=transformers.CLIPImageProcessor(
            size={"shortest_edge": 32}, crop_size={"height": 32, "width": 32}
        ),
        tokenizer=tokenizer,
        chat_template=TEMPLATE,
        patch_size=8,
        num_additional_image_tokens=1,
        vision_feature_select_strategy="default",
    )
    config = transformers.LlavaConfig(
        vision_config=transformers.CLIPVisionConfig(
            hidden_size=32,
            intermediate_size=37,
            num_hidden_layers=2,
            num_attention_heads=4,
            image_size=32,
            patch_size=8,
        ),
        text_config=transformers.LlamaConfig(
            hidden_size=32,
            intermediate_size=37,
            num_hidden_layers=2,
            num_attention_heads=4,
            num_key_value_heads=2,
            vocab_size=len(tokenizer),
            bos_token_id=0,
            eos_token_id=1,
            pad_token_id=1,
        ),
        image_token_index=tokenizer.convert_tokens_to_ids("<image>"),
        vision_feature_select_strategy="default",
        vision_feature_layer=-1,
    )
    torch.manual_seed(0)
    model = transformers.LlavaForConditionalGeneration(config)
    with torch.no_grad():
        head = model.get_output_embeddings().weight
        for token in tokenizer.convert_tokens_to_ids(["Yes", "No"]):
            head[token] *= YES_NO_SCALE
    model.save_pretrained(folder)
    processor.save_pretrained(folder)
    return folder
