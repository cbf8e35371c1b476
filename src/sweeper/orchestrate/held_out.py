"""The held-out test set (`dataset.test` or `dataset.test_fraction`), scored once at the end.

No trial evaluates on it, so neither the pruner nor the searcher ever sees it. After the sweep,
the leaderboard's first trial (best by the spec's metric) is rebuilt exactly as it trained
(same data, tokenizer, seed), its adapter is loaded from the checkpoint the leaderboard keeps
for it (`adapter_path`: the best eval whose checkpoint is on disk), and it
is scored on the test examples the way evaluation scores eval examples (likelihood of each
label when the label comes first, generation otherwise). The scores are a point of that trial
(`test_accuracy`, `test_macro_f1` at the checkpoint's step) that the leaderboard shows beside
its eval metrics.
"""

from __future__ import annotations

import contextlib
import json
import tempfile
from pathlib import Path
from typing import Any, Iterator

from sweeper.results.leaderboard import TrialRecord, leaderboard_rows
from sweeper.spec import SweepSpec
from sweeper.uri import is_uri

ADAPTER = "adapter_model.safetensors"


def has_test_set(spec: SweepSpec) -> bool:
    return spec.dataset.test is not None or spec.dataset.test_fraction is not None


def score_best_on_test(spec: SweepSpec, records: dict[str, TrialRecord], sweep_dir: Path | str) -> str | None:
    """Score the best trial with a checkpoint on the test set; its id, or None when there is nothing to score.
    `sweep_dir` holds the trials' folders: a path, or a URI on object storage."""
    if not has_test_set(spec):
        return None
    rows = leaderboard_rows(records.values(), list(spec.search.space), spec.search.metric, sweep_dir)
    for row in rows:
        if row["status"] == "errored" or not row.get("adapter_path"):
            continue
        with _local(row["adapter_path"]) as checkpoint:
            if not (checkpoint / ADAPTER).is_file():
                continue
            record = records[row["trial_id"]]
            step = int(json.loads((checkpoint / "trainer_state.json").read_text()).get("global_step", 0))
            record.points.append({"step": step, **score_checkpoint(spec, record.params, checkpoint)})
            return record.trial_id
    return None


@contextlib.contextmanager
def _local(checkpoint: str) -> Iterator[Path]:
    """The checkpoint folder on this machine: itself, or a download of one on object storage."""
    if not is_uri(checkpoint):
        yield Path(checkpoint)
        return
    import pyarrow.fs as pafs

    with tempfile.TemporaryDirectory(prefix="sweeper-checkpoint-") as work:
        filesystem, path = pafs.FileSystem.from_uri(checkpoint)
        pafs.copy_files(path, work, source_filesystem=filesystem, destination_filesystem=pafs.LocalFileSystem())
        yield Path(work)


def score_checkpoint(spec: SweepSpec, params: dict[str, Any], checkpoint: Path) -> dict[str, float]:
    """test_accuracy and test_macro_f1 of the adapter in `checkpoint`, trained with `params`."""
    from peft import set_peft_model_state_dict
    from safetensors.torch import load_file

    from sweeper.data.examples import load_examples
    from sweeper.trial.encode import encode_examples
    from sweeper.trial.evaluate import evaluate, make_plan
    from sweeper.trial.train import TrialConfig, prepare

    settings = spec.trial_settings(params)
    with tempfile.TemporaryDirectory(prefix="sweeper-test-") as work:
        prepared = prepare(TrialConfig(spec.model, spec.dataset, settings, Path(work)))
    model, tokenizer = prepared.loaded.model, prepared.loaded.tokenizer
    set_peft_model_state_dict(model, load_file(str(checkpoint / ADAPTER)))
    test = load_examples(spec.dataset, explanations_needed=settings.include_explanation).test
    encoded = encode_examples(
        test,
        tokenizer,
        spec.dataset.template,
        include_explanation=settings.include_explanation,
        explanation_position=settings.explanation_position,
        cutoff_len=settings.cutoff_len,
        overlength="truncate",  # every test example is scored; eval's rule decided the rest
    )
    plan = make_plan(
        encoded.features,
        tokenizer,
        spec.dataset.template,
        spec.dataset.labels,
        include_explanation=settings.include_explanation,
        explanation_position=settings.explanation_position,
        batch_size=settings.per_device_eval_batch_size,
        max_new_tokens=prepared.plan.max_new_tokens,
    )
    metrics = evaluate(model, plan, tokenizer)
    return {"test_accuracy": round(metrics["eval_accuracy"], 4), "test_macro_f1": round(metrics["eval_macro_f1"], 4)}
