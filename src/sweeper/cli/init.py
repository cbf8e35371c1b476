"""`sweeper init --from llamafactory CONFIG`: a sweep spec from an LLaMA-Factory training config.

CONFIG is a `llamafactory-cli train` YAML, or a shell script of `--flag value` arguments (as the
`python src/train.py ...` command lines people share). Every fixed setting of that run is kept;
a default search space around it is added (learning rate, epochs, LoRA rank, and
include_explanation when the data carries explanations). Flags that do not change what a trial
learns are written as comments; flags sweeper cannot honour (packing, quantization, ...) are
refused with what sweeper does instead. The label set is read from the data (the label of each
target) unless --labels gives it.
"""

from __future__ import annotations

import argparse
import shlex
from pathlib import Path
from typing import Any

from sweeper.errors import SweeperError

MAX_GUESSED_LABELS = 20


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("init", help="write a sweep spec from an LLaMA-Factory config", description=__doc__)
    parser.add_argument("config", type=Path, help="LLaMA-Factory train YAML (or a script of --flag value arguments)")
    parser.add_argument("--from", dest="source", choices=["llamafactory"], required=True, help="the config's tool")
    parser.add_argument("--out", type=Path, help="spec file to write (default: print it); never overwritten")
    parser.add_argument("--name", help="sweep name (default: the config file's name)")
    parser.add_argument("--labels", help="comma-separated label set (default: read from the data)")
    parser.set_defaults(func=command)


def command(args: argparse.Namespace) -> int:
    import yaml

    from sweeper.spec.llamafactory import default_space, translate
    from sweeper.spec.schema import TrainSettings

    flags = read_flags(args.config)
    try:
        moved, train, comments = translate(flags, set(TrainSettings.model_fields))
    except ValueError as error:
        raise SweeperError(str(error)) from None
    for key in ("model", "dataset.dataset_name"):
        if key not in moved:
            lf_name = {"model": "model_name_or_path", "dataset.dataset_name": "dataset"}[key]
            raise SweeperError(f"{args.config}: no {lf_name}; sweeper needs the model folder and the dataset")
    dataset: dict[str, Any] = {"dataset_info": moved.pop("dataset.dataset_info", "data/dataset_info.json")}
    for dotted in [key for key in moved if key.startswith("dataset.")]:
        dataset[dotted.removeprefix("dataset.")] = moved.pop(dotted)
    name = args.name or _name(args.config)
    labels, with_explanations = _labels(args, dataset)
    dataset["labels"] = labels
    gpu = 1 if train.get("fp16") or train.get("bf16") else 0
    spec: dict[str, Any] = {
        "name": name,
        "model": moved["model"],
        "dataset": dataset,
        "train": train,
        "search": {
            "algorithm": "optuna-tpe",
            "num_samples": 12,
            "metric": "eval_macro_f1",
            "space": default_space(train, with_explanations),
        },
        "resources": {"cpu": 1, "gpu": gpu},
    }
    header = [f"# Written by `sweeper init --from llamafactory {args.config}`: the run's fixed settings under train,",
              "# a search space around them. Not carried (no effect on what a trial learns):"]
    header += [f"#   {line}" for line in comments] or ["#   (nothing)"]
    text = "\n".join(header) + "\n" + yaml.safe_dump(spec, sort_keys=False)
    from sweeper.spec import validate_spec

    try:
        validate_spec(spec)
    except SweeperError as error:
        raise SweeperError(f"{args.config}: the translated spec is not valid: {error}") from None
    if args.out is None:
        print(text, end="")
        return 0
    if args.out.exists():
        raise SweeperError(f"--out {args.out}: already exists; sweeper does not overwrite it")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(text, encoding="utf-8")
    print(f"wrote {args.out}: sweep {name}, {len(train)} fixed settings, space {sorted(spec['search']['space'])}")
    return 0


def read_flags(path: Path) -> dict[str, tuple[object, str]]:
    """Each flag of an LF YAML or `--flag value` script, with `file:line` of where it is written."""
    import yaml

    try:
        text = path.read_text(encoding="utf-8")
    except OSError as error:
        raise SweeperError(f"{path}: cannot read: {error.strerror}") from None
    if "--" in text and not text.lstrip().startswith(("{", "stage:", "model_name_or_path:")):
        return _script_flags(text, path)
    try:
        node = yaml.compose(text)
        values = yaml.safe_load(text)
    except yaml.YAMLError as error:
        raise SweeperError(f"{path}: not valid YAML: {' '.join(str(error).split())}") from None
    if not isinstance(values, dict) or node is None:
        raise SweeperError(f"{path}: expected a mapping of LLaMA-Factory flags")
    lines = {key.value: key.start_mark.line + 1 for key, _ in node.value}
    return {str(key): (value, f"{path}:{lines.get(key, 1)}") for key, value in values.items()}


def _script_flags(text: str, path: Path) -> dict[str, tuple[object, str]]:
    """The `--flag value` arguments after the training entry point (`src/train.py`, `llamafactory-cli train`);
    the launcher's own flags before it (`--nproc_per_node=2`) are not LF's."""
    import yaml

    words: list[tuple[str, int]] = []
    for number, line in enumerate(text.splitlines(), start=1):
        words.extend((word, number) for word in shlex.split(line.rstrip().rstrip("\\"), comments=True))
    starts = [i for i, (word, _) in enumerate(words) if word.endswith(".py") or word == "train"]
    words = words[starts[-1] + 1 :] if starts else words
    out: dict[str, tuple[object, str]] = {}
    for index, (word, number) in enumerate(words):
        if word.startswith("--") and index + 1 < len(words) and not words[index + 1][0].startswith("--"):
            out[word[2:]] = (_scalar(yaml, words[index + 1][0]), f"{path}:{number}")
    if not out:
        raise SweeperError(f"{path}: no --flag value arguments found")
    return out


def _scalar(yaml: Any, word: str) -> object:
    """`True`, `5e-05`, `3.0`, `q_proj,v_proj` as LF's argument parser reads them."""
    if word.lower() in ("true", "false"):
        return word.lower() == "true"
    try:
        return int(word)
    except ValueError:
        pass
    try:
        return float(word)
    except ValueError:
        return yaml.safe_load(word) if word.startswith(("[", "{")) else word


def _name(config: Path) -> str:
    import re

    name = re.sub(r"[^A-Za-z0-9._-]+", "-", config.stem).strip("-._")
    return name or "sweep"


def _labels(args: argparse.Namespace, dataset: dict[str, Any]) -> tuple[list[str], bool]:
    """The label set (--labels, else the label of every target) and whether the data has explanations."""
    from sweeper.data.examples import load_examples
    from sweeper.data.targets import guess_label
    from sweeper.spec.schema import DatasetSpec

    if args.labels:
        labels = [label.strip() for label in args.labels.split(",") if label.strip()]
    else:
        from sweeper.data.examples import raw_targets

        targets = raw_targets(DatasetSpec.model_validate({**dataset, "labels": ["?", "??"]}))
        labels = sorted({guess_label(target) for target in targets})
        if len(labels) > MAX_GUESSED_LABELS:
            raise SweeperError(
                f"{dataset['dataset_info']}: the targets give {len(labels)} different labels (e.g. {labels[:3]}); "
                "pass --labels a,b,c"
            )
    data = load_examples(DatasetSpec.model_validate({**dataset, "labels": labels}))
    return labels, all(ex.explanation for ex in data.train + data.eval)
