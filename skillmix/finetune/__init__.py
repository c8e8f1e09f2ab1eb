"""Supervised fine-tuning data and training.

`skillmix export-sft` turns a graded run into chat examples (export, examples);
`skillmix finetune CONFIG.yaml` trains a local model on them with TRL (settings, recipe) and
saves a plain model folder, with its provenance, that `hf/PATH` and `vllm/PATH` evaluate.
Nothing here imports torch, transformers or TRL until training starts (recipe).
"""
