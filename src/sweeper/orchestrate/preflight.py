"""Checks that run before Ray starts, so a typo fails in the first second, not after an hour.

In order: the model folder, the data files, the devices fp16/bf16 and `resources.gpu` need,
the results folder, the data itself (sweeper.data.examples), and samples longer than
`cutoff_len`, counted with the trial's own tokenizer and encoding for every kind of target and
every cutoff the search can give. Each failure is one SweeperError that names the spec's file,
line and key (`SweepSpec.locate`), or the data file and line.

Importing this module is light; the tokenizer (transformers) loads only to count tokens, and
torch only when the spec asks for a GPU or mixed precision.
"""

from __future__ import annotations

import math

import os
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from sweeper.data.examples import DataReport, Example, LoadedData, load_examples
from sweeper.errors import SweeperError
from sweeper.rules import PrunerSettings
from sweeper.spec import SweepSpec


@dataclass(frozen=True)
class Overlength:
    """Samples longer than one cutoff_len for one kind of target, as a trial encodes them
    (train plus the eval examples it evaluates on)."""

    cutoff_len: int
    include_explanation: bool
    explanation_position: str
    train: int  # overlength training samples
    eval: int  # overlength eval samples
    total: int  # samples counted
    longest: int  # tokens of the longest sample
    first: str | None  # file:line of the first overlength sample
    first_length: int = 0  # its tokens

    @property
    def count(self) -> int:
        return self.train + self.eval

    @property
    def target(self) -> str:
        if not self.include_explanation:
            return "label only"
        return "label then explanation" if self.explanation_position == "after" else "explanation then label"


@dataclass
class Preflight:
    data: DataReport
    pruner: PrunerSettings
    overlength: list[Overlength] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)  # facts worth a line in validate, not errors


def can_include_explanation(spec: SweepSpec) -> bool:
    dim = spec.search.space.get("include_explanation")
    if dim is None:
        return spec.train.include_explanation
    return any(spec.trial_settings({"include_explanation": v}).include_explanation for v in dim.values)


def pruner_settings(spec: SweepSpec) -> PrunerSettings:
    """The spec's pruner settings; the label set gives the number of classes unless set."""
    if spec.pruner.num_classes is None:
        return replace(spec.pruner, num_classes=len(spec.dataset.labels))
    return spec.pruner


def preflight(spec: SweepSpec, *, local_devices: bool = True, count_tokens: bool = True) -> Preflight:
    """Every check that needs no trial. `local_devices`: trials run on this machine, so its GPUs
    are the ones they get (False when joining a cluster). `count_tokens`: count overlength
    samples (loads the tokenizer; `overlength: error` is only enforced when True)."""
    check_model(spec)
    check_data_files(spec)
    check_devices(spec, local=local_devices)
    check_storage(spec)
    pruner = pruner_settings(spec)
    loaded = load_examples(
        spec.dataset,
        explanations_needed=can_include_explanation(spec),
        labels_where=spec.locate("dataset", "labels"),
    )
    overlength: list[Overlength] = []
    notes: list[str] = []
    if count_tokens:
        tokenizer = _tokenizer(spec, loaded.train + loaded.eval + loaded.test)
        notes = check_labels(spec, tokenizer)
        overlength = count_overlength(spec, loaded, tokenizer)
    check_overlength(spec, loaded, overlength)
    if pruner.eval_rows is None and loaded.report.eval:
        # the eval set's size gives the forecast its binomial eval noise
        rows = min(loaded.report.eval, spec.train.max_eval_samples or loaded.report.eval)
        pruner = replace(pruner, eval_rows=rows)
    return Preflight(data=loaded.report, pruner=pruner, overlength=overlength, notes=notes)


WEIGHT_FILES = ("model.safetensors", "pytorch_model.bin")
WEIGHT_INDEXES = ("model.safetensors.index.json", "pytorch_model.bin.index.json")


def check_model(spec: SweepSpec) -> None:
    """A local model folder holds a causal LM's config and all its weights (tokenizer: `check_labels`)."""
    if spec.model.startswith("builtin:"):
        return
    path = Path(spec.model).expanduser()
    where = spec.locate("model")
    if not path.exists():
        raise SweeperError(
            f"{where}: no such local model folder {spec.model} "
            "(sweeper never downloads models; give a local folder or builtin:tiny-llama)"
        )
    if not path.is_dir():
        raise SweeperError(f"{where}: {spec.model} is a file; give the folder of a transformers model")
    if not (path / "config.json").is_file():
        raise SweeperError(f"{where}: {spec.model} has no config.json; point at a transformers model folder")
    _check_architecture(path, where)
    _check_weights(path, where)


def _check_architecture(path: Path, where: str) -> None:
    import json

    from transformers.models.auto.modeling_auto import MODEL_FOR_CAUSAL_LM_MAPPING_NAMES

    try:
        config = json.loads((path / "config.json").read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise SweeperError(f"{where}: {path}/config.json is not valid JSON: {error}") from None
    architectures = config.get("architectures") or []
    causal = set(MODEL_FOR_CAUSAL_LM_MAPPING_NAMES.values())
    if architectures and not any(name in causal or name.endswith("ForCausalLM") for name in architectures):
        raise SweeperError(
            f"{where}: {path} holds a {', '.join(architectures)}, not a causal language model (a ...ForCausalLM); "
            "sweeper fine-tunes decoder models that generate the label"
        )
    if not architectures and config.get("model_type") not in MODEL_FOR_CAUSAL_LM_MAPPING_NAMES:
        raise SweeperError(
            f"{where}: {path}/config.json names no causal-LM architecture (model_type {config.get('model_type')!r})"
        )


def _check_weights(path: Path, where: str) -> None:
    import json

    for index_name in WEIGHT_INDEXES:
        index = path / index_name
        if index.is_file():
            try:
                shards = sorted(set(json.loads(index.read_text(encoding="utf-8"))["weight_map"].values()))
            except (json.JSONDecodeError, KeyError, AttributeError, TypeError):
                raise SweeperError(f"{where}: {index} is not a sharded-weights index (no weight_map)") from None
            missing = [shard for shard in shards if not (path / shard).is_file()]
            if missing:
                raise SweeperError(
                    f"{where}: {path} lacks {len(missing)} of the {len(shards)} weight shards {index_name} lists: "
                    f"{', '.join(missing[:5])}{' ...' if len(missing) > 5 else ''}"
                )
            return
    if not any((path / name).is_file() for name in WEIGHT_FILES):
        raise SweeperError(
            f"{where}: {path} has no weights ({', '.join(WEIGHT_FILES)} or a sharded index {WEIGHT_INDEXES[0]}); "
            "copy the whole model folder"
        )


def check_labels(spec: SweepSpec, tokenizer: Any) -> list[str]:
    """Every label encodes to at least one token as a trial renders it; notes on labels that share
    their first token (scored by the sum of all their tokens' log-probabilities, so still told apart)."""
    from sweeper.trial.encode import SEG_LABEL, encode_target, end_ids, render, uses_chat_template

    template = spec.dataset.template
    try:
        chat = uses_chat_template(tokenizer, template)
        closing = end_ids(tokenizer, template)
    except SweeperError as error:
        raise SweeperError(f"{spec.locate('dataset', 'template', 'chat_template')}: {error} ({spec.model})") from None
    first: dict[int, list[str]] = {}
    for label in spec.dataset.labels:
        text = template.label_only.lstrip() if chat else template.label_only
        ids, segments = encode_target(tokenizer, render(text, {"label": label}), closing)
        label_ids = [i for i, segment in zip(ids, segments) if segment == SEG_LABEL]
        if not label_ids:
            raise SweeperError(
                f"{spec.locate('dataset', 'labels')}: label {label!r} encodes to no tokens with the tokenizer of "
                f"{spec.model}; check the label and template.label_only"
            )
        first.setdefault(label_ids[0], []).append(label)
    return [
        f"labels {shared} share their first token; likelihood scoring sums the log-probabilities of all label "
        "tokens, so they are still told apart"
        for shared in first.values()
        if len(shared) > 1
    ]


def check_data_files(spec: SweepSpec) -> None:
    """The files the dataset section names exist (before reading them, so the message names the key)."""
    for key in ("train", "eval", "dataset_info"):
        path = getattr(spec.dataset, key)
        if path is None:
            continue
        path = Path(path).expanduser()
        if not path.exists():
            relative = "" if path.is_absolute() else f" (relative paths start from the current folder, {Path.cwd()})"
            raise SweeperError(f"{spec.locate('dataset', key)}: no such file {path}{relative}")
        if path.is_dir():
            raise SweeperError(f"{spec.locate('dataset', key)}: {path} is a folder; give a .jsonl or .json file")


def _set_somewhere(spec: SweepSpec, name: str) -> tuple[str, ...] | None:
    """Where a boolean train setting can be true: ("train", name), ("search", "space", name), or None."""
    dim = spec.search.space.get(name)
    if dim is not None:
        if any(getattr(spec.trial_settings({name: v}), name) for v in dim.values):
            return ("search", "space", name)
        return None
    return ("train", name) if getattr(spec.train, name) else None


def check_devices(spec: SweepSpec, *, local: bool = True) -> None:
    """fp16/bf16 need a CUDA GPU per trial; `resources.gpu` needs GPUs that exist (here, when local)."""
    gpus = spec.resources.gpu
    precision = [(name, at) for name in ("fp16", "bf16") if (at := _set_somewhere(spec, name)) is not None]
    for name, at in precision:
        if gpus == 0:
            raise SweeperError(
                f"{spec.locate(*at)}: {name} needs a CUDA GPU, but resources.gpu is 0 so trials get none; "
                f"set resources.gpu (e.g. 1) or train.{name}: false to train in fp32 on the CPU"
            )
    if not local or gpus == 0:
        return
    visible = _cuda_devices()
    if visible == 0 and precision:
        name, at = precision[0]
        raise SweeperError(
            f"{spec.locate(*at)}: {name} needs a CUDA GPU and this machine has none; "
            f"set train.{name}: false (or --set train.{name}=false) to train in fp32 on the CPU"
        )
    workers = spec.resources.workers_per_trial
    # NCCL refuses two ranks of one trial on the same device: each worker needs a GPU of its own.
    needed = gpus if workers == 1 else workers * math.ceil(gpus)
    if visible < needed:
        have = "no CUDA GPU" if visible == 0 else f"{visible} CUDA GPU{'s' if visible > 1 else ''}"
        asks = f"{gpus:g} GPU" if workers == 1 else f"{gpus:g} GPU x {workers} workers (a GPU per worker: {needed:g})"
        raise SweeperError(
            f"{spec.locate('resources', 'gpu')}: each trial asks for {asks} but this machine has {have}; "
            "lower resources.gpu (0 trains on the CPU), or join a cluster that has them (--address)"
        )


def _cuda_devices() -> int:
    try:
        import torch
    except ImportError:  # pragma: no cover - torch is a dependency
        return 0
    return torch.cuda.device_count() if torch.cuda.is_available() else 0


def check_storage(spec: SweepSpec) -> None:
    """The results folder can be created and written, without creating it (validate changes nothing).
    On object storage: the URI resolves and its bucket answers."""
    if spec.remote:
        from sweeper.results.remote import RemoteFolder

        try:
            RemoteFolder(spec.storage).names()
        except SweeperError as error:
            raise SweeperError(f"{spec.locate('storage')}: {error}") from None
        return
    target = Path(spec.sweep_dir).expanduser()
    existing = target
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    where = spec.locate("storage")
    if not existing.is_dir():
        raise SweeperError(f"{where}: {existing} is a file, so the results folder {target} cannot be made there")
    if not os.access(existing, os.W_OK | os.X_OK):
        raise SweeperError(f"{where}: {existing} is not writable, so the results folder {target} cannot be made there")


# Overlength samples --------------------------------------------------------------------------


def _values(spec: SweepSpec, name: str) -> list[Any]:
    """The values of a train setting the sweep can use, as trials see them (validated)."""
    dim = spec.search.space.get(name)
    if dim is None:
        return [getattr(spec.train, name)]
    out = []
    for value in dim.values:  # a range's bounds (cutoff_len: the shortest and longest cutoff)
        value = getattr(spec.trial_settings({name: value}), name)
        if value not in out:
            out.append(value)
    return out


def _targets(spec: SweepSpec) -> list[tuple[bool, str]]:
    """(include_explanation, explanation_position) of every kind of target a trial can train on."""
    out: list[tuple[bool, str]] = []
    for include in _values(spec, "include_explanation"):
        positions = _values(spec, "explanation_position") if include else [spec.train.explanation_position]
        out.extend((bool(include), position) for position in positions)
    return out


def _eval_limit(spec: SweepSpec) -> int | None:
    limits = _values(spec, "max_eval_samples")
    return None if None in limits else max(limits)


def _tokenizer(spec: SweepSpec, examples: list[Example]) -> Any:
    """The tokenizer a trial gets: the builtin word tokenizer over the same texts, or the model's."""
    if spec.model.startswith("builtin:"):
        from sweeper.trial.encode import render
        from sweeper.trial.tokenizer import build_word_tokenizer

        texts = [ex.text for ex in examples] + [ex.explanation for ex in examples if ex.explanation]
        texts += list(spec.dataset.labels)
        template = spec.dataset.template
        parts = (template.prompt, template.label_only, template.label_then_explanation, template.explanation_then_label)
        texts.extend(render(part, {}).text for part in parts)
        return build_word_tokenizer(texts)
    from sweeper.trial.tokenizer import local_tokenizer

    return local_tokenizer(spec.model, where=spec.locate("model"))


def count_overlength(spec: SweepSpec, data: LoadedData, tokenizer: Any) -> list[Overlength]:
    """Overlength samples for every kind of target and every cutoff_len the sweep can use."""
    from sweeper.trial.encode import sequence_lengths

    limit = _eval_limit(spec)
    evals = data.eval[:limit] if limit else data.eval
    examples = data.train + evals
    cutoffs = sorted(_values(spec, "cutoff_len"))
    out = []
    for include, position in _targets(spec):
        lengths = sequence_lengths(
            examples,
            tokenizer,
            spec.dataset.template,
            include_explanation=include,
            explanation_position=position,
        )
        for cutoff in cutoffs:
            over = [i for i, length in enumerate(lengths) if length > cutoff]
            in_train = sum(1 for i in over if i < len(data.train))
            out.append(
                Overlength(
                    cutoff_len=cutoff,
                    include_explanation=include,
                    explanation_position=position,
                    train=in_train,
                    eval=len(over) - in_train,
                    total=len(examples),
                    longest=max(lengths, default=0),
                    first=examples[over[0]].where if over else None,
                    first_length=lengths[over[0]] if over else 0,
                )
            )
    return out


def check_overlength(spec: SweepSpec, data: LoadedData, counts: list[Overlength]) -> None:
    """`overlength: error` refuses any overlength sample; `drop` refuses to drop a whole split."""
    mode = spec.dataset.overlength
    for entry in counts:
        if entry.count == 0:
            continue
        if mode == "error":
            from sweeper.trial.encode import overlength_message

            raise SweeperError(overlength_message(str(entry.first), entry.first_length, entry.cutoff_len))
        if mode == "drop":
            splits = (("training", entry.train, len(data.train)), ("eval", entry.eval, entry.total - len(data.train)))
            for split, dropped, total in splits:
                if dropped == total:
                    raise SweeperError(
                        f"{spec.locate('dataset', 'overlength')}: all {total} {split} examples are longer than "
                        f"cutoff_len {entry.cutoff_len} ({entry.target}) and would be dropped; raise train.cutoff_len"
                    )
