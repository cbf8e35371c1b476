"""The sweep spec: what a user writes in `sweeps/*.yaml`, as pydantic models.

Field names in `train` follow LLaMA-Factory's command line so a user can copy their settings.
Every field has a default and a one-line description; the README's reference is built from them.
"""

from __future__ import annotations

import builtins
import math
import re
from pathlib import Path
from typing import Any, Literal, Union, get_args

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, ValidationError, field_validator, model_validator
from pydantic.dataclasses import dataclass as pydantic_dataclass

from sweeper.rules import PrunerSettings
from sweeper.uri import is_uri

BUILTIN_MODELS = ("builtin:tiny-llama",)


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=True)


class TemplateSpec(_Strict):
    """How an example becomes text. Placeholders: {text} and {system} (prompt), {label}, {explanation}."""

    prompt: str = Field("Text: {text}\nLabel:", description="The prompt; masked out of the loss.")
    chat_template: bool | None = Field(
        None,
        description="Use the model tokenizer's chat template for the prompt (and its end-of-turn token after the "
        "target); default: when the tokenizer has one and template.prompt is the default one.",
    )
    label_only: str = Field(" {label}", description="The target without explanation.")
    label_then_explanation: str = Field(
        " {label}\nExplanation: {explanation}",
        description="The target with the explanation after the label (explanation_position: after).",
    )
    explanation_then_label: str = Field(
        " Explanation: {explanation}\nLabel: {label}",
        description="The target with the explanation before the label (explanation_position: before).",
    )

    @model_validator(mode="after")
    def _placeholders(self) -> "TemplateSpec":
        required = {
            "prompt": ("{text}",),
            "label_only": ("{label}",),
            "label_then_explanation": ("{label}", "{explanation}"),
            "explanation_then_label": ("{explanation}", "{label}"),
        }
        allowed = {"prompt": ("{text}", "{system}")}
        for name, needles in required.items():
            value = getattr(self, name)
            for needle in needles:
                if value.count(needle) != 1:
                    raise ValueError(f"template.{name} must contain {needle} exactly once; got {value!r}")
            known = allowed.get(name, needles)
            for found in re.findall(r"\{[A-Za-z_][A-Za-z0-9_]*\}", value):
                if found not in known:
                    raise ValueError(
                        f"template.{name} has the unknown placeholder {found}; it takes {', '.join(known)}"
                    )
        if self.chat_template is None and self.prompt != TemplateSpec.model_fields["prompt"].default:
            # A prompt of the user's own overrides the chat template.
            self.__dict__["chat_template"] = False
        return self


DataFormat = Literal["auto", "fields", "alpaca", "sharegpt", "messages", "query_response"]


class DatasetSpec(_Strict):
    """Where the examples come from and how they are read."""

    train: Path | None = Field(
        None, description="Training examples: a .jsonl, .json, .csv or .parquet file, or a folder of them."
    )
    eval: Path | None = Field(None, description="Evaluation examples (file or folder); else eval_fraction of train.")
    eval_fraction: float = Field(0.2, gt=0, lt=1, description="Share of train held out when no eval set is given.")
    test: Path | None = Field(
        None, description="Held-out test examples (file or folder): never seen by pruner or searcher; scores the best."
    )
    test_fraction: float | None = Field(
        None, gt=0, lt=1, description="Share of train held out as the test set when no test file is given."
    )
    split_seed: int = Field(0, description="Seed of the train/eval/test splits and of LF's num_samples.")
    dataset_info: Path | None = Field(None, description="A LLaMA-Factory dataset_info.json (instead of train).")
    dataset_name: str | None = Field(
        None, description="The dataset's name in dataset_info.json; 'a,b' (LF's list syntax) joins several."
    )
    eval_dataset_name: str | None = Field(None, description="The eval dataset's name(s) in dataset_info.json.")
    format: DataFormat = Field(
        "auto",
        description="Record layout of train/eval/test files: fields, alpaca, sharegpt, messages, query_response; "
        "auto: from each file's first record.",
    )
    text_field: str = Field("text", description="Field holding the input text (format fields).")
    label_field: str = Field("label", description="Field holding the class label (format fields).")
    explanation_field: str = Field(
        "explanation", description="Field holding the explanation; without it, it is read from the target."
    )
    target_pattern: str | None = Field(
        None,
        description="Regex with named groups label and explanation that splits a combined target "
        "(default: the target templates and the common forms).",
    )
    max_samples: int | None = Field(None, ge=1, description="Keep the first N examples of each dataset (LF's max_samples).")
    labels: list[str] = Field(..., min_length=2, description="The label set, in a fixed order.")
    overlength: Literal["truncate", "drop", "error"] = Field(
        "truncate", description="What to do with samples longer than cutoff_len; always counted and reported."
    )
    template: TemplateSpec = Field(default_factory=TemplateSpec, description="How examples become text.")

    @field_validator("dataset_name", "eval_dataset_name", mode="before")
    @classmethod
    def _name_list(cls, value: Any) -> Any:
        if isinstance(value, list) and all(isinstance(item, str) for item in value):
            return ",".join(value)
        return value

    @field_validator("target_pattern")
    @classmethod
    def _pattern(cls, value: str | None) -> str | None:
        if value is None:
            return None
        try:
            compiled = re.compile(value)
        except re.error as error:
            raise ValueError(f"dataset.target_pattern is not a valid regex: {error}") from None
        if "label" not in compiled.groupindex:
            raise ValueError("dataset.target_pattern needs a named group (?P<label>...) (and (?P<explanation>...))")
        return value

    @field_validator("labels")
    @classmethod
    def _unique_labels(cls, labels: list[str]) -> list[str]:
        duplicates = sorted({label for label in labels if labels.count(label) > 1})
        if duplicates:
            raise ValueError(f"labels must be unique; {duplicates} repeat")
        if any(not label.strip() for label in labels):
            raise ValueError("labels must not be empty strings")
        return labels

    @model_validator(mode="after")
    def _one_source(self) -> "DatasetSpec":
        if self.dataset_info is not None:
            if self.train is not None:
                raise ValueError("give either dataset.train or dataset.dataset_info, not both")
            if not self.dataset_name:
                raise ValueError("dataset.dataset_info needs dataset.dataset_name")
            for name in ("text_field", "label_field", "format"):
                if name in self.model_fields_set and getattr(self, name) != DatasetSpec.model_fields[name].default:
                    raise ValueError(
                        f"dataset.{name} is not used with dataset_info: the entry's formatting and columns in "
                        "dataset_info.json say which fields hold what"
                    )
        elif self.train is None:
            raise ValueError("dataset needs a train file (dataset.train) or a dataset_info.json (dataset.dataset_info)")
        if self.eval_dataset_name is not None:
            if self.dataset_info is None:
                raise ValueError("dataset.eval_dataset_name needs dataset.dataset_info")
            if self.eval is not None:
                raise ValueError("give either dataset.eval or dataset.eval_dataset_name, not both")
        if self.test is not None and self.test_fraction is not None:
            raise ValueError("give either dataset.test or dataset.test_fraction, not both")
        return self


LrScheduler = Literal[
    "linear", "cosine", "cosine_with_restarts", "polynomial", "constant", "constant_with_warmup", "inverse_sqrt"
]


# transformers' optimizers that need no extra package.
Optimizer = Literal["adamw_torch", "adamw_torch_fused", "adafactor", "sgd", "adagrad", "rmsprop"]


class TrainSettings(_Strict):
    """One trial's settings; any of them can be searched. Names as in LLaMA-Factory."""

    learning_rate: float = Field(5e-5, gt=0, description="Peak learning rate (AdamW).")
    num_train_epochs: float = Field(3, gt=0, description="Epochs over the training set (fractions allowed, as LF's 2.5).")
    per_device_train_batch_size: int = Field(1, ge=1, description="Examples per device per step.")
    per_device_eval_batch_size: int = Field(8, ge=1, description="Examples per device per evaluation batch.")
    gradient_accumulation_steps: int = Field(8, ge=1, description="Micro-batches per optimizer step.")
    lr_scheduler_type: LrScheduler = Field("cosine", description="Learning-rate schedule.")
    warmup_steps: int = Field(0, ge=0, description="Linear warm-up steps.")
    warmup_ratio: float = Field(0.0, ge=0, lt=1, description="Linear warm-up as a share of all steps (instead of warmup_steps).")
    max_grad_norm: float = Field(1.0, ge=0, description="Gradient clipping norm (0 = off).")
    weight_decay: float = Field(0.0, ge=0, description="AdamW weight decay.")
    optim: Optimizer = Field(
        "adamw_torch_fused", description="Optimizer, by its transformers name (a stock Trainer's default; LF's adamw_torch)."
    )
    lora_rank: int = Field(8, ge=1, description="LoRA rank r.")
    lora_alpha: float = Field(16, gt=0, description="LoRA alpha (scale = alpha / r).")
    lora_dropout: float = Field(0.0, ge=0, lt=1, description="Dropout on the LoRA path.")
    lora_target: Union[str, list[str]] = Field(
        "all", description="Modules to adapt: 'all' linear layers, a list of module names, or LF's 'q_proj,v_proj'."
    )
    cutoff_len: int = Field(1024, ge=8, description="Maximum tokens of prompt + target.")
    logging_steps: int = Field(5, ge=1, description="Report the raw loss every this many optimizer steps.")
    eval_steps: int | None = Field(None, ge=1, description="Evaluate every this many steps (and at every epoch end).")
    save_steps: int | None = Field(100, ge=1, description="Checkpoint every this many steps (and at every epoch end).")
    max_eval_samples: int | None = Field(None, ge=1, description="Evaluate on at most this many eval examples.")
    fp16: bool = Field(False, description="Mixed precision fp16 (GPU only).")
    bf16: bool = Field(False, description="Mixed precision bf16 (GPU only).")
    gradient_checkpointing: bool = Field(False, description="Trade compute for memory.")
    seed: int = Field(42, description="Seed of model init, LoRA init and data order.")
    include_explanation: bool = Field(True, description="Train on label + explanation (w-explain) or label alone.")
    explanation_position: Literal["after", "before"] = Field(
        "after", description="Explanation after the label (label first) or before it."
    )

    @model_validator(mode="before")
    @classmethod
    def _llamafactory_names(cls, values: Any) -> Any:
        """LLaMA-Factory flags that are not train settings: say where they go or what sweeper does instead."""
        from sweeper.spec.llamafactory import refusal

        if isinstance(values, dict):
            for key, value in values.items():
                reason = refusal(key, value) if key not in cls.model_fields else None
                if reason:
                    raise ValueError(f"train.{key}: {reason}")
        return values

    @model_validator(mode="after")
    def _precision(self) -> "TrainSettings":
        if self.fp16 and self.bf16:
            raise ValueError("set at most one of train.fp16 and train.bf16")
        if self.warmup_steps and self.warmup_ratio:
            raise ValueError("set at most one of train.warmup_steps and train.warmup_ratio")
        return self

    @property
    def trainer_warmup(self) -> float:
        """Trainer's warmup_steps: whole steps, or a ratio of all steps when below 1 (transformers 5)."""
        return self.warmup_ratio if self.warmup_ratio else self.warmup_steps


# The rules' own settings dataclass, validated like the rest of the spec (unknown keys are errors).
PrunerSpec = pydantic_dataclass(frozen=True, config=ConfigDict(extra="forbid"))(PrunerSettings)

SEARCHABLE = tuple(TrainSettings.model_fields)
Distribution = Literal["loguniform", "uniform", "int", "choice", "grid"]


class Dimension(BaseModel):
    """One searched setting, written `{loguniform: [low, high]}`, `{int: [low, high]}`, `{choice: [...]}`..."""

    model_config = ConfigDict(extra="forbid")
    loguniform: list[float] | None = None
    uniform: list[float] | None = None
    int: list[builtins.int] | None = None  # noqa: A003 - the YAML key users write
    choice: list[Any] | None = None
    grid: list[Any] | None = None

    @model_validator(mode="before")
    @classmethod
    def _one_key(cls, value: Any) -> Any:
        if isinstance(value, dict):
            keys = [k for k in value if value[k] is not None]
            if len(keys) != 1:
                raise ValueError(
                    "a search dimension is one of {loguniform: [low, high]}, {uniform: [low, high]}, "
                    f"{{int: [low, high]}}, {{choice: [...]}}, {{grid: [...]}}; got keys {sorted(value)}"
                )
        elif isinstance(value, list):
            raise ValueError(f"write a list of values as {{choice: {value}}} or {{grid: {value}}}")
        else:
            raise ValueError(f"a search dimension is a mapping like {{choice: [...]}}; got {value!r}")
        return value

    @model_validator(mode="after")
    def _ranges(self) -> "Dimension":
        kind, values = self.kind, self.values
        if kind in ("loguniform", "uniform", "int"):
            if len(values) != 2:
                raise ValueError(f"{kind} takes [low, high]; got {values}")
            low, high = values
            if not (math.isfinite(low) and math.isfinite(high)):
                raise ValueError(f"{kind} bounds must be finite; got {values}")
            if low >= high:
                raise ValueError(f"{kind} needs low < high; got low={low}, high={high}")
            if kind == "loguniform" and low <= 0:
                raise ValueError(f"loguniform needs positive bounds; got low={low}")
        elif not values:
            raise ValueError(f"{kind} needs at least one value; got []")
        return self

    @property
    def kind(self) -> Distribution:
        for name in ("loguniform", "uniform", "int", "choice", "grid"):
            if getattr(self, name) is not None:
                return name  # type: ignore[return-value]
        raise AssertionError("validated to hold exactly one kind")

    @property
    def values(self) -> list[Any]:
        return list(getattr(self, self.kind))

    @property
    def is_finite(self) -> bool:
        return self.kind in ("choice", "grid")


Metric = Literal["eval_macro_f1", "eval_accuracy", "eval_loss", "eval_label_loss"]


class SearchSpec(_Strict):
    """What to search and how."""

    algorithm: Literal["optuna-tpe", "random", "grid"] = Field(
        "optuna-tpe", description="optuna-tpe (Optuna's TPE through Ray Tune), random, or grid."
    )
    space: dict[str, Dimension] = Field(default_factory=dict, description="Setting name -> distribution.")
    num_samples: int = Field(
        12, ge=1, description="Trials to run (grid: repetitions of the grid; a repeated configuration is a duplicate, not trained again)."
    )
    metric: Metric = Field("eval_macro_f1", description="What the searcher optimises.")
    mode: Literal["max", "min"] | None = Field(None, description="max or min; default follows the metric.")
    max_concurrent: int | None = Field(None, ge=1, description="At most this many trials at once (default: what fits).")
    seed: int = Field(0, description="Seed of the searcher.")

    @field_validator("space")
    @classmethod
    def _known_settings(cls, space: dict[str, Dimension]) -> dict[str, Dimension]:
        for name in space:
            if name not in SEARCHABLE:
                from difflib import get_close_matches

                near = get_close_matches(name, SEARCHABLE, n=1)
                hint = f"; did you mean '{near[0]}'?" if near else ""
                # "search.space.<name>: ..." lets the loader point at that key's line.
                raise ValueError(f"search.space.{name}: '{name}' is not a train setting that can be searched{hint}")
        return space

    @model_validator(mode="after")
    def _algorithm_fits_space(self) -> "SearchSpec":
        grids = [name for name, dim in self.space.items() if dim.kind == "grid"]
        if self.algorithm == "optuna-tpe" and grids:
            raise ValueError(
                f"grid dimensions {grids} need algorithm 'grid' or 'random'; Optuna's TPE samples, it does not enumerate"
            )
        if self.algorithm == "grid":
            continuous = [name for name, dim in self.space.items() if not dim.is_finite]
            if continuous:
                raise ValueError(f"algorithm 'grid' needs choice/grid dimensions; {continuous} are continuous")
        return self

    @property
    def resolved_mode(self) -> Literal["max", "min"]:
        if self.mode is not None:
            return self.mode
        return "min" if self.metric.endswith("loss") else "max"


class ResourcesSpec(_Strict):
    """What one trial asks of the cluster; trials in flight follow from what Ray sees."""

    cpu: float = Field(1.0, gt=0, description="CPUs per trial, or per worker with workers_per_trial > 1 (fractions allowed).")
    gpu: float = Field(
        0.0, ge=0, description="GPUs per trial, or per worker with workers_per_trial > 1 (fractions let small trials share a GPU)."
    )
    workers_per_trial: int = Field(
        1,
        ge=1,
        description="Data-parallel workers per trial (Ray Train, DDP: gloo on CPU, NCCL on GPU); cpu and gpu are per "
        "worker; the global batch is per_device_train_batch_size x gradient_accumulation_steps x workers.",
    )
    max_retries: int = Field(
        2, ge=0, description="Times a trial whose process died (killed, node lost) restarts from its last checkpoint."
    )


class ClusterSpec(_Strict):
    """Where the trials run: a Ray cluster that already runs, or Ray started on this machine."""

    address: str | None = Field(
        None,
        description="A running Ray cluster's head (HOST:PORT, auto, or ray://HOST:PORT), as `sweeper run --address`, "
        "which wins over it; none: start Ray on this machine.",
    )

    @field_validator("address")
    @classmethod
    def _address(cls, address: str | None) -> str | None:
        if address is not None:
            ray_head(address)  # raises ValueError naming the expected forms
        return address


def ray_head(address: str) -> tuple[str, int] | None:
    """The (host, port) of a Ray head address, None for `auto` and `ray://` client addresses
    (Ray resolves those itself); ValueError for anything else."""
    if address == "auto" or address.startswith("ray://"):
        return None
    host, _, port = address.rpartition(":")
    if not host or not port.isdigit():
        raise ValueError(f"expected HOST:PORT of a Ray head (e.g. 10.0.0.5:6379), auto or ray://HOST:PORT, got {address!r}")
    return host, int(port)


class TrackingSpec(_Strict):
    """Where every raw point goes besides the sweep folder: one run per trial, grouped by sweep."""

    tensorboard: bool = Field(
        True, description="Write every point at its training step to <sweep>/tensorboard/<trial>/ event files."
    )
    mlflow: str | None = Field(
        None, description="An MLflow tracking URI (file:/path or sqlite:///path.db): one run per trial, experiment = sweep name."
    )
    wandb: Literal["off", "offline", "online"] = Field(
        "off", description="W&B: offline writes <sweep>/wandb/ (sync later with `wandb sync`); group = sweep name."
    )
    wandb_project: str = Field("sweeper", description="The W&B project of the runs.")

    @field_validator("mlflow")
    @classmethod
    def _mlflow_uri(cls, uri: str | None) -> str | None:
        if uri is not None and not uri.startswith(("file:", "sqlite:", "http://", "https://")):
            raise ValueError(f"mlflow must be a tracking URI (file:/path, sqlite:///path.db or http(s)://...), got {uri!r}")
        return uri


class SweepSpec(_Strict):
    """A whole sweep."""

    name: str = Field(..., pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]*$", description="Sweep name; the output folder.")
    storage: str = Field(
        "results",
        description="Where the sweep folders go: a local or shared path, or an object-store URI "
        "(s3://bucket/prefix, gs://...; endpoint and credentials from AWS_* variables).",
    )
    model: str = Field("builtin:tiny-llama", description="A local model path, or builtin:tiny-llama.")
    dataset: DatasetSpec = Field(..., description="The examples: files, fields, labels, template.")
    train: TrainSettings = Field(default_factory=TrainSettings, description="Fixed trial settings.")
    search: SearchSpec = Field(default_factory=SearchSpec, description="The search.")
    resources: ResourcesSpec = Field(default_factory=ResourcesSpec, description="Per-trial resources.")
    pruner: PrunerSpec = Field(default_factory=PrunerSpec, description="Convergence-rule settings.")
    tracking: TrackingSpec = Field(default_factory=TrackingSpec, description="Trackers: TensorBoard, MLflow, W&B.")
    cluster: ClusterSpec = Field(default_factory=ClusterSpec, description="Where the trials run.")

    # Where the spec was read from (sweeper.spec.loader.SpecOrigin), so checks made after loading
    # (files, devices, data) can name the file and line of the key they are about.
    _origin: Any = PrivateAttr(default=None)

    @field_validator("model")
    @classmethod
    def _model(cls, model: str) -> str:
        if model.startswith("builtin:") and model not in BUILTIN_MODELS:
            raise ValueError(f"unknown builtin model {model!r}; builtins are {list(BUILTIN_MODELS)}")
        return model

    @model_validator(mode="after")
    def _space_fits_settings(self) -> "SweepSpec":
        """Every value a search dimension can give must be a valid train setting, checked now:
        a bad one found by a trial fails that trial an hour into the sweep."""
        for name, dim in self.search.space.items():
            problem = _dimension_problem(name, dim, self.train)
            if problem:
                # "search.space.<name>: ..." lets the loader point at that key's line.
                raise ValueError(f"search.space.{name}: {problem}")
        return self

    def locate(self, *path: str) -> str:
        """Where a key was written, for messages: "sweeps/x.yaml:7: dataset.train", the `--set`
        that gave it, or just the dotted key when the spec did not come from a file."""
        if self._origin is not None:
            return self._origin.locate(tuple(path))
        return ".".join(path)

    @field_validator("storage", mode="before")
    @classmethod
    def _storage(cls, storage: Any) -> Any:
        return str(storage) if isinstance(storage, Path) else storage

    @property
    def remote(self) -> bool:
        """Whether the sweep folders are on object storage (a URI), not a file system path."""
        return is_uri(self.storage)

    @property
    def sweep_dir(self) -> Path:
        """The sweep's folder on a file system (for object storage: see `sweep_uri`)."""
        return Path(self.storage) / self.name

    @property
    def sweep_uri(self) -> str:
        """The sweep's folder as given: a path, or a URI on object storage."""
        return f"{self.storage.rstrip('/')}/{self.name}" if self.remote else str(self.sweep_dir)

    def trial_settings(self, params: dict[str, Any]) -> TrainSettings:
        """The fixed settings with one trial's sampled parameters applied, validated."""
        return TrainSettings.model_validate({**self.train.model_dump(), **params})


def _dimension_problem(name: str, dim: Dimension, train: TrainSettings) -> str | None:
    """Why `dim` cannot search the train setting `name`, or None when it can."""
    annotation = TrainSettings.model_fields[name].annotation
    whole_numbers = int in (annotation, *get_args(annotation)) and float not in get_args(annotation)
    if dim.kind in ("loguniform", "uniform") and whole_numbers:
        low, high = dim.values
        return (
            f"{name} is a whole number but {dim.kind} samples fractions; "
            f"write {{int: [{math.ceil(low)}, {math.floor(high)}]}} or {{choice: [...]}}"
        )
    for value in dim.values:  # each choice, or both bounds of a range
        trial = train.model_copy()
        try:
            setattr(trial, name, value)
        except ValidationError as error:
            reason = error.errors()[0]["msg"].removeprefix("Value error, ")
            what = "value" if dim.is_finite else "bound"
            return f"{dim.kind} {what} {value!r} is not a valid {name}: {reason}"
    return None
