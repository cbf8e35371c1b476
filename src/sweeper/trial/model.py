"""The model a trial fine-tunes, with its tokenizer and LoRA adapters.

- `builtin:tiny-llama`: a 2-layer LLaMA (hidden 64, intermediate 128, 4 heads) with seeded
  random weights and a word-level tokenizer built from the data (sweeper.trial.tokenizer).
  Small enough for CPU sweeps; it shows the same curve shapes as a real run.
- Anything else is a local folder read with `AutoModelForCausalLM` / `AutoTokenizer` and
  `local_files_only=True`: sweeper never downloads a model.

LoRA follows LLaMA-Factory: `lora_target: all` adapts every linear layer except the output
layer (peft's "all-linear"); a list names the modules (e.g. [q_proj, v_proj]).

Precision: `fp16`/`bf16` need a CUDA GPU. On a machine without one the trial stops at once with
a SweeperError (see `check_precision`) rather than failing inside Trainer. A local model is
loaded in the training precision (fp16, bf16, else fp32); peft keeps the adapters in fp32.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable

import torch

from sweeper.errors import SweeperError
from sweeper.spec.schema import TrainSettings

TINY_LLAMA = "builtin:tiny-llama"
TINY_CONFIG = dict(
    hidden_size=64,
    intermediate_size=128,
    num_hidden_layers=2,
    num_attention_heads=4,
    num_key_value_heads=4,
    initializer_range=0.1,
)
# The output layer stays frozen under LoRA (as in LLaMA-Factory), so its random rows must be
# wide enough to express a confident prediction: with HF's default N(0, 0.02) the logits of a
# 64-wide model span about +-1.3 and the label loss can never fall below ~4 nats.
LM_HEAD_STD = 0.4



@dataclass
class LoadedModel:
    model: Any  # a peft PeftModel
    tokenizer: Any
    target_modules: list[str]
    trainable_parameters: int
    total_parameters: int


def check_precision(settings: TrainSettings, cuda_available: bool | None = None) -> None:
    """Refuse fp16/bf16 without a CUDA GPU, naming the setting to change."""
    if cuda_available is None:
        cuda_available = torch.cuda.is_available()
    for name in ("fp16", "bf16"):
        if getattr(settings, name) and not cuda_available:
            raise SweeperError(
                f"train.{name}: true needs a CUDA GPU and this machine has none; "
                f"set train.{name}: false (or --set train.{name}=false) to train in fp32 on the CPU"
            )


def load_model(name: str, settings: TrainSettings, texts: Iterable[str] = ()) -> LoadedModel:
    """Base model and tokenizer for `name`, wrapped with LoRA adapters per `settings`.

    `texts` are the words the builtin tokenizer must know (the data, the labels, the template).
    Seeded with `settings.seed`: the same settings give the same initial weights.
    """
    check_precision(settings)
    torch.manual_seed(settings.seed)
    if name == TINY_LLAMA:
        base, tokenizer = tiny_llama(texts, seed=settings.seed, max_positions=settings.cutoff_len)
    elif name.startswith("builtin:"):
        raise SweeperError(f"unknown builtin model {name!r}; builtins are ['{TINY_LLAMA}']")
    else:
        base, tokenizer = local_model(name, dtype=_dtype(settings))
    if settings.gradient_checkpointing:
        base.config.use_cache = False
    model = add_lora(base, settings)
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    total = sum(p.numel() for p in model.parameters())
    targets = sorted({name.split(".")[-1] for name in model.peft_config["default"].target_modules})
    return LoadedModel(model, tokenizer, targets, trainable, total)


def tiny_llama(texts: Iterable[str], seed: int, max_positions: int = 512) -> tuple[Any, Any]:
    """The builtin tiny LLaMA with random weights seeded by `seed`, and its word tokenizer."""
    from transformers import LlamaConfig, LlamaForCausalLM

    from sweeper.trial.tokenizer import build_word_tokenizer

    tokenizer = build_word_tokenizer(texts)
    config = LlamaConfig(
        vocab_size=len(tokenizer),
        max_position_embeddings=max(max_positions, 128),
        pad_token_id=tokenizer.pad_token_id,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        tie_word_embeddings=False,
        **TINY_CONFIG,
    )
    torch.manual_seed(seed)
    model = LlamaForCausalLM(config)
    with torch.no_grad():
        model.lm_head.weight.normal_(0.0, LM_HEAD_STD)
    model.generation_config.pad_token_id = tokenizer.pad_token_id
    return model, tokenizer


def local_model(path: str, dtype: torch.dtype = torch.float32) -> tuple[Any, Any]:
    """A model and tokenizer from a local folder; never from a hub."""
    from transformers import AutoModelForCausalLM

    from sweeper.trial.tokenizer import local_tokenizer

    folder = Path(path).expanduser()
    if not folder.is_dir():
        raise SweeperError(
            f"model {path!r}: no such folder; give a local model folder (sweeper never downloads models) "
            f"or {TINY_LLAMA}"
        )
    tokenizer = local_tokenizer(path)  # the same tokenizer the pre-flight check counts tokens with
    try:
        model = AutoModelForCausalLM.from_pretrained(str(folder), local_files_only=True, dtype=dtype)
    except (OSError, ValueError, KeyError) as error:
        first = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise SweeperError(f"model {path!r}: cannot load it as a causal LM: {first}") from None
    return model, tokenizer


def add_lora(model: Any, settings: TrainSettings) -> Any:
    """Wrap `model` with LoRA adapters (r, alpha, dropout, targets from `settings`)."""
    from peft import LoraConfig, get_peft_model

    target = settings.lora_target
    if isinstance(target, str):
        targets: Any = "all-linear" if target == "all" else [part.strip() for part in target.split(",") if part.strip()]
    else:
        targets = list(target)
    config = LoraConfig(
        r=settings.lora_rank,
        lora_alpha=settings.lora_alpha,
        lora_dropout=settings.lora_dropout,
        target_modules=targets,
        bias="none",
        task_type="CAUSAL_LM",
    )
    try:
        with warnings.catch_warnings():
            # peft asks the model `is_gradient_checkpointing`, deprecated in transformers 5: harmless.
            warnings.filterwarnings("ignore", message=".*is_gradient_checkpointing.*", category=FutureWarning)
            return get_peft_model(model, config)
    except ValueError as error:
        first = str(error).strip().splitlines()[0]
        raise SweeperError(f"train.lora_target {target!r}: {first}") from None


def _dtype(settings: TrainSettings) -> torch.dtype:
    if settings.fp16:
        return torch.float16
    if settings.bf16:
        return torch.bfloat16
    return torch.float32
