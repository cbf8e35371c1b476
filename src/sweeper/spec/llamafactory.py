"""LLaMA-Factory's training flags and what sweeper makes of each: the one table behind
`sweeper init --from llamafactory`, the refusals of LF names in `train:`, and the README's table.

Flags of sweeper's `train` section with the same name and meaning are not listed here:
every field of `TrainSettings` is one (learning_rate, num_train_epochs incl. fractions,
warmup_steps, warmup_ratio, lora_rank, lora_target incl. 'q_proj,v_proj' strings, optim, ...).
"""

from __future__ import annotations

# LF flag -> the sweeper key (dotted) that takes its value unchanged.
MOVED = {
    "model_name_or_path": "model",
    "dataset": "dataset.dataset_name",
    "eval_dataset": "dataset.eval_dataset_name",
    "max_samples": "dataset.max_samples",
    "val_size": "dataset.eval_fraction",
}

# LF flag -> why it has no place in a sweep spec (it does not change what a trial learns, or
# sweeper does it itself). `init` writes these as comments; in `train:` they are refused.
NOT_NEEDED = {
    "stage": "sweeper runs SFT (stage sft)",
    "do_train": "every trial trains",
    "do_eval": "every trial evaluates every eval_steps and at every epoch end",
    "finetuning_type": "sweeper trains LoRA adapters (finetuning_type lora)",
    "dataset_dir": "dataset.dataset_info names the dataset_info.json (its folder is LF's dataset_dir)",
    "template": "sweeper uses the model tokenizer's chat template (template.chat_template) or template.prompt",
    "output_dir": "each trial writes into its own folder of the sweep's results",
    "overwrite_output_dir": "run --overwrite replaces a sweep's results",
    "logging_dir": "each trial writes into its own folder of the sweep's results",
    "report_to": "sweeper writes its own results folder (leaderboard, curves)",
    "plot_loss": "sweeper plots raw loss per trial (curves.png), smoothed only beside it",
    "ddp_timeout": "one process per trial; Ray places trials",
    "preprocessing_num_workers": "sweeper encodes in the trial process",
    "overwrite_cache": "sweeper keeps no dataset cache",
    "flash_attn": "the model's default attention is used",
    "trust_remote_code": "sweeper loads local transformers models only",
    "run_name": "trials are named by the sweep",
    "save_total_limit": "sweeper keeps each trial's latest checkpoints",
    "eval_strategy": "every trial evaluates every eval_steps and at every epoch end",
    "evaluation_strategy": "every trial evaluates every eval_steps and at every epoch end",
    "save_strategy": "trials checkpoint every save_steps and at every epoch end",
    "load_best_model_at_end": "the leaderboard ranks trials by their best eval metric",
    "early_stopping_steps": "the pruner stops trials by their curves",
}

# LF flag -> (the value(s) sweeper matches, what sweeper does instead). Another value is refused.
ONLY = {
    "stage": (("sft",), "sweeper runs supervised fine-tuning only"),
    "finetuning_type": (("lora",), "sweeper trains LoRA adapters only"),
    "packing": ((False, None), "sweeper never packs: one example per sequence, so label loss is per example"),
    "neat_packing": ((False, None), "sweeper never packs: one example per sequence"),
    "quantization_bit": ((None,), "sweeper trains the model unquantized (fp32, fp16 or bf16)"),
    "use_dora": ((False, None), "sweeper trains plain LoRA"),
    "pissa_init": ((False, None), "sweeper trains plain LoRA"),
    "deepspeed": ((None,), "one trial is one process; Ray runs trials side by side"),
    "max_steps": ((None, -1), "set num_train_epochs (fractions allowed): sweeper's rules read epochs"),
}


def refusal(flag: str, value: object = ...) -> str | None:
    """Why `flag` (with `value`, when given) cannot go into `train:`, or None when sweeper knows no such LF flag."""
    if flag in MOVED:
        return f"LLaMA-Factory's {flag} is {MOVED[flag]} in a sweep spec"
    if flag in ONLY:
        allowed, instead = ONLY[flag]
        if value is ... or value not in allowed:
            return f"LLaMA-Factory's {flag} {'' if value is ... else repr(value) + ' '}is not supported: {instead}"
    if flag in NOT_NEEDED:
        return f"LLaMA-Factory's {flag} has no place in a sweep spec: {NOT_NEEDED[flag]}"
    return None


# What `init` searches around the user's run: (setting, how the range follows from its value).
def default_space(train: dict[str, object], with_explanations: bool) -> dict[str, dict[str, list[object]]]:
    """A search space around the fixed settings: learning rate x1/3..x3, epochs +-1, rank /2..x2,
    and w-explain vs wo-explain when the data carries explanations."""
    lr = float(train.get("learning_rate", 5e-5))  # type: ignore[arg-type]
    epochs = float(train.get("num_train_epochs", 3))  # type: ignore[arg-type]
    rank = int(train.get("lora_rank", 8))  # type: ignore[call-overload]
    space: dict[str, dict[str, list[object]]] = {
        "learning_rate": {"loguniform": [float(f"{lr / 3:.3g}"), float(f"{lr * 3:.3g}")]},
        "num_train_epochs": {"int": [max(1, round(epochs) - 1), round(epochs) + 1]},
        "lora_rank": {"choice": sorted({max(1, rank // 2), rank, rank * 2})},
    }
    if with_explanations:
        space["include_explanation"] = {"choice": [True, False]}
    return space


def translate(
    flags: dict[str, tuple[object, str]], train_fields: set[str]
) -> tuple[dict[str, object], dict[str, object], list[str]]:
    """LF flags -> (top-level and dataset keys by dotted name, train settings, comments on what
    needs no place). `flags` maps each flag to (value, where it was written) for messages.
    Raises ValueError naming the flag's place for a flag sweeper cannot honour or does not know."""
    moved: dict[str, object] = {}
    train: dict[str, object] = {}
    comments: list[str] = []
    for flag, (value, where) in flags.items():
        if flag in ONLY:
            allowed, instead = ONLY[flag]
            if value not in allowed:
                raise ValueError(f"{where}: {flag} {value!r} is not supported: {instead}")
        if flag in train_fields:
            train[flag] = value
        elif flag in MOVED:
            moved[MOVED[flag]] = value
        elif flag in NOT_NEEDED:
            comments.append(f"{flag}: {value}  ({NOT_NEEDED[flag]})")
        elif flag not in ONLY:
            raise ValueError(
                f"{where}: {flag} is not a LLaMA-Factory flag sweeper knows; remove it, or set what it does "
                "in the written spec by hand"
            )
    if "dataset_dir" in flags:
        moved["dataset.dataset_info"] = f"{flags['dataset_dir'][0]}/dataset_info.json"
    return moved, train, comments


def flag_table() -> list[str]:
    """The README's table: each LF flag and what sweeper makes of it."""
    lines = [
        "#### LLaMA-Factory flags",
        "",
        "`sweeper init --from llamafactory` and the `train` section read them so. Every `train` key above is",
        "LF's flag of the same name and meaning (`num_train_epochs: 2.5`, `warmup_ratio`,",
        "`lora_target: q_proj,v_proj`, `optim` among adamw_torch, adamw_torch_fused, adafactor, sgd, adagrad, rmsprop).",
        "",
        "| LF flag | in sweeper |",
        "|---|---|",
    ]
    lines += [f"| `{flag}` | `{key}` |" for flag, key in MOVED.items()]
    for flag, (allowed, instead) in ONLY.items():
        shown = " or ".join(f"`{value}`" for value in allowed if value is not None) or "unset"
        lines.append(f"| `{flag}` | {shown} accepted; other values refused: {instead} |")
    lines += [f"| `{flag}` | not needed: {reason} |" for flag, reason in NOT_NEEDED.items() if flag not in ONLY]
    return lines + [""]
