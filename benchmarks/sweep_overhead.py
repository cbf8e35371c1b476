"""What the sweep machinery costs on top of the training it runs.

1. Overhead: the wall time of a sweep (Ray start to leaderboard) divided by the ideal time of
   the same trials run standalone at the same concurrency: the sum of their `run_trial` times
   (measured in worker processes, imports excluded) divided by the concurrency. Target <= 1.10.
   Measured for a short and a long sweep of the same trials (fewer and more epochs), which
   separates Ray's fixed start-up (ray.init, worker processes importing torch, shutdown) from
   the marginal cost per second of training: (long - short sweep) / (long - short ideal).
2. Throughput: a trial's training tokens/s inside the sweep (the harmonic mean of its raw
   per-logging-window tokens/s, which exclude evaluation) divided by the same training run
   directly with a plain HF Trainer (no sweeper callbacks, no segment losses, no evaluation).
   Target >= 0.97.
3. Host synchronisations per micro-batch of training (evaluation and checkpoint saving
   excluded), counted on CPU by instrumenting tensor reads (benchmarks.host_syncs), for a
   trial's run_trial and for the plain Trainer: what sweeper adds to each step.

    python -m benchmarks.sweep_overhead [--epochs 4] [--concurrency 2]
    python -m benchmarks.sweep_overhead --syncs-only   # part 3 alone, in seconds

Writes results/bench/sweep_overhead.json and .md.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator

REPO = Path(__file__).resolve().parents[1]
OUT = REPO / "results" / "bench"
GRID = {"lora_rank": [4, 8, 16], "include_explanation": [True, False]}


def bench_spec(storage: Path, epochs: int, grid: dict[str, list[Any]], name: str) -> Any:
    """The demo spec with a fixed grid instead of its search, and pruning off."""
    import yaml

    from sweeper.spec import validate_spec

    data = yaml.safe_load((REPO / "sweeps" / "explain.yaml").read_text())
    data.update(name=name, storage=str(storage), pruner={"enabled": False})
    data["train"].update(num_train_epochs=epochs, learning_rate=3e-3)
    data["search"] = {"algorithm": "grid", "num_samples": 1, "space": {k: {"grid": v} for k, v in grid.items()}}
    return validate_spec(data, "sweeps/explain.yaml")


def _configs(grid: dict[str, list[Any]]) -> list[dict[str, Any]]:
    configs: list[dict[str, Any]] = [{}]
    for key, values in grid.items():
        configs = [{**c, key: v} for c in configs for v in values]
    return configs


def _standalone_trial(args: tuple[dict[str, Any], dict[str, Any]]) -> float:
    """One trial run directly with run_trial in a worker process; returns its wall seconds."""
    spec_dict, params = args
    from sweeper.spec import SweepSpec
    from sweeper.trial.reporting import ListReporter
    from sweeper.trial.train import TrialConfig, run_trial

    spec = SweepSpec.model_validate(spec_dict)
    with tempfile.TemporaryDirectory() as work:
        started = time.perf_counter()
        run_trial(
            TrialConfig(spec.model, spec.dataset, spec.trial_settings(params), Path(work), num_threads=1),
            ListReporter(),
        )
        return time.perf_counter() - started


def overhead(epochs: int, concurrency: int) -> dict[str, Any]:
    from sweeper.orchestrate.sweep import absolute_paths, run_sweep

    with tempfile.TemporaryDirectory() as storage:
        spec = absolute_paths(bench_spec(Path(storage), epochs, GRID, "overhead"))
        configs = _configs(GRID)
        with ProcessPoolExecutor(max_workers=concurrency) as pool:
            # warm the workers' imports so only training is timed
            list(pool.map(_warm, range(concurrency)))
            trial_seconds = list(pool.map(_standalone_trial, [(spec.model_dump(mode="json"), c) for c in configs]))
        started = time.perf_counter()
        outcome = run_sweep(spec, num_cpus=concurrency, quiet=True)
        sweep_seconds = time.perf_counter() - started
    ideal = sum(trial_seconds) / concurrency
    return {
        "trials": len(configs),
        "epochs": epochs,
        "concurrency": concurrency,
        "completed": outcome.counts.get("completed", 0),
        "standalone_trial_seconds": [round(s, 2) for s in trial_seconds],
        "ideal_seconds": round(ideal, 2),
        "sweep_seconds": round(sweep_seconds, 2),
        "overhead_ratio": round(sweep_seconds / ideal, 3),
    }


def _warm(_: int) -> None:
    import peft  # noqa: F401
    import torch  # noqa: F401
    import transformers  # noqa: F401


def throughput(epochs: int) -> dict[str, Any]:
    import pyarrow.parquet as pq

    from sweeper.orchestrate.sweep import run_sweep

    with tempfile.TemporaryDirectory() as storage:
        spec = _single_trial_spec(Path(storage), epochs, "throughput")
        run_sweep(spec, num_cpus=1, quiet=True)
        rows = pq.read_table(Path(storage) / "throughput" / "curves.parquet").to_pylist()
    windows = [r["tokens_per_second"] for r in rows if r["tokens_per_second"] is not None]
    in_sweep = statistics.harmonic_mean(windows[1:])  # the first window holds the dataloader's start
    direct = plain_trainer_tokens_per_second(spec.model_dump(mode="json"), {"lora_rank": 8, "include_explanation": True})
    return {
        "epochs": epochs,
        "in_sweep_tokens_per_second": round(in_sweep, 1),
        "plain_trainer_tokens_per_second": round(direct, 1),
        "throughput_ratio": round(in_sweep / direct, 3),
    }


def _single_trial_spec(storage: Path, epochs: int, name: str) -> Any:
    """One demo trial (rank 8, with explanations), no evaluation but at epoch ends."""
    from sweeper.orchestrate.sweep import absolute_paths

    spec = absolute_paths(bench_spec(storage, epochs, {"lora_rank": [8], "include_explanation": [True]}, name))
    return spec.model_copy(update={"train": spec.train.model_copy(update={"eval_steps": None})})


def plain_trainer_tokens_per_second(spec_dict: dict[str, Any], params: dict[str, Any]) -> float:
    """The same model, data and settings trained by a stock Trainer: no callbacks, no evaluation."""
    with tempfile.TemporaryDirectory() as work:
        tokens, seconds = _plain_trainer(spec_dict, params, work)
    return tokens / seconds


def _plain_trainer(spec_dict: dict[str, Any], params: dict[str, Any], work: str) -> tuple[int, float]:
    """Train with a stock Trainer; returns (input tokens trained on, training seconds)."""
    import torch
    from transformers import PrinterCallback, Trainer, TrainingArguments

    from sweeper.spec import SweepSpec
    from sweeper.trial.train import Collator, TrialConfig, prepare

    torch.set_num_threads(1)
    spec = SweepSpec.model_validate(spec_dict)
    settings = spec.trial_settings(params)
    prepared = prepare(TrialConfig(spec.model, spec.dataset, settings, Path(work)))
    items = [{"input_ids": f.input_ids, "labels": f.labels} for f in prepared.train.features]
    collate = Collator(int(prepared.loaded.tokenizer.pad_token_id))

    def collator(batch: list[dict[str, Any]]) -> dict[str, Any]:
        out = collate([{**item, "segments": [0] * len(item["input_ids"])} for item in batch])
        out.pop("segments")
        return out

    args = TrainingArguments(
        output_dir=work,
        per_device_train_batch_size=settings.per_device_train_batch_size,
        gradient_accumulation_steps=settings.gradient_accumulation_steps,
        learning_rate=settings.learning_rate,
        num_train_epochs=settings.num_train_epochs,
        lr_scheduler_type=settings.lr_scheduler_type,
        max_grad_norm=settings.max_grad_norm,
        logging_steps=settings.logging_steps,
        save_strategy="no",
        eval_strategy="no",
        report_to=[],
        disable_tqdm=True,
        remove_unused_columns=False,
        seed=settings.seed,
    )
    trainer = Trainer(model=prepared.loaded.model, args=args, train_dataset=items, data_collator=collator)
    trainer.remove_callback(PrinterCallback)
    started = time.perf_counter()
    trainer.train()
    seconds = time.perf_counter() - started
    return sum(len(item["input_ids"]) for item in items) * settings.num_train_epochs, seconds


class _Discard:
    def report(self, metrics: dict[str, Any], checkpoint: Path | None = None) -> None:
        pass


def host_syncs(spec_dict: dict[str, Any], params: dict[str, Any]) -> dict[str, Any]:
    """Host syncs per micro-batch: the sweeper trial and the plain Trainer, same model and data."""
    from sweeper.spec import SweepSpec
    from sweeper.trial.train import TrialConfig, run_trial

    spec = SweepSpec.model_validate(spec_dict)
    settings = spec.trial_settings(params).model_copy(update={"num_train_epochs": 1})
    runs = {
        "sweeper_trial": lambda work: run_trial(
            TrialConfig(spec.model, spec.dataset, settings, Path(work), num_threads=1), _Discard()
        ),
        "plain_trainer": lambda work: _plain_trainer(spec_dict, {**params, "num_train_epochs": 1}, work),
    }
    results: dict[str, Any] = {}
    for name, run in runs.items():
        with tempfile.TemporaryDirectory() as work, _counted_training() as (syncs, micro_batches):
            run(work)
        own = sum(n for site, n in syncs.sites.items() if "/sweeper/" in site)
        results[name] = {
            "micro_batches": micro_batches[0],
            "host_syncs": syncs.count,
            "per_micro_batch": round(syncs.count / micro_batches[0], 2),
            "sweepers_own_per_micro_batch": round(own / micro_batches[0], 2),  # reads in sweeper's code
            "sites": dict(syncs.sites.most_common(12)),
        }
    return results


@contextmanager
def _counted_training() -> Iterator[tuple[Any, list[int]]]:
    """Counts host syncs inside `Trainer.train` only (not data, model set-up, evaluation or
    checkpoint saving) and the micro-batches trained: patches the Trainer class while it runs."""
    from transformers import Trainer

    from benchmarks.host_syncs import count_host_syncs

    originals = {name: getattr(Trainer, name) for name in ("train", "training_step", "_evaluate", "_save_checkpoint")}
    micro_batches = [0]
    with count_host_syncs() as syncs:
        syncs.paused = True

        def train(self: Any, *args: Any, **kwargs: Any) -> Any:
            syncs.paused = False
            try:
                return originals["train"](self, *args, **kwargs)
            finally:
                syncs.paused = True

        def training_step(self: Any, *args: Any, **kwargs: Any) -> Any:
            micro_batches[0] += 1
            return originals["training_step"](self, *args, **kwargs)

        def uncounted(original: Any) -> Any:
            def call(self: Any, *args: Any, **kwargs: Any) -> Any:
                with syncs.pause():
                    return original(self, *args, **kwargs)

            return call

        Trainer.train, Trainer.training_step = train, training_step
        Trainer._evaluate = uncounted(originals["_evaluate"])
        Trainer._save_checkpoint = uncounted(originals["_save_checkpoint"])
        try:
            yield syncs, micro_batches
        finally:
            for attribute, original in originals.items():
                setattr(Trainer, attribute, original)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--epochs", type=int, default=2, help="epochs of the short sweep")
    parser.add_argument("--long-epochs", type=int, default=8, help="epochs of the long sweep")
    parser.add_argument("--concurrency", type=int, default=min(2, os.cpu_count() or 1))
    parser.add_argument("--syncs-only", action="store_true", help="only count host syncs per micro-batch")
    args = parser.parse_args(argv)
    OUT.mkdir(parents=True, exist_ok=True)
    result: dict[str, Any] = {}
    rows: list[str] = []
    if not args.syncs_only:
        rows += _overhead_rows(result, args)
    print("host syncs per micro-batch: a trial vs a plain Trainer ...", flush=True)
    with tempfile.TemporaryDirectory() as storage:
        params = {"lora_rank": 8, "include_explanation": True}
        spec = _single_trial_spec(Path(storage), 1, "syncs")
        result["host_syncs"] = host_syncs(spec.model_dump(mode="json"), params)
    trial, plain = result["host_syncs"]["sweeper_trial"], result["host_syncs"]["plain_trainer"]
    rows.append(
        f"| host syncs per micro-batch in training: trial / plain Trainer (in sweeper's own code) "
        f"| {trial['per_micro_batch']:.2f} / {plain['per_micro_batch']:.2f} ({trial['sweepers_own_per_micro_batch']:.2f}) | |"
    )
    name = "sweep_overhead_syncs" if args.syncs_only else "sweep_overhead"
    (OUT / f"{name}.json").write_text(json.dumps(result, indent=2))
    table = "\n".join(["| measure | value | target |", "|---|---|---|", *rows])
    (OUT / f"{name}.md").write_text(table + "\n")
    print(table)
    return 0


def _overhead_rows(result: dict[str, Any], args: argparse.Namespace) -> list[str]:
    for key, epochs in (("short", args.epochs), ("long", args.long_epochs)):
        print(f"sweep overhead: {len(_configs(GRID))} trials x {epochs} epochs at concurrency {args.concurrency} ...", flush=True)
        result[key] = overhead(epochs, args.concurrency)
        print(f"  {result[key]}", flush=True)
    short, long = result["short"], result["long"]
    marginal = (long["sweep_seconds"] - short["sweep_seconds"]) / (long["ideal_seconds"] - short["ideal_seconds"])
    fixed = short["sweep_seconds"] - marginal * short["ideal_seconds"]
    result["marginal_ratio"] = round(marginal, 3)
    result["fixed_startup_seconds"] = round(fixed, 1)
    print("throughput: one trial inside a sweep vs a plain Trainer ...", flush=True)
    result["throughput"] = throughput(args.long_epochs)
    print(f"  {result['throughput']}", flush=True)
    t = result["throughput"]
    return [
        *(
            f"| sweep wall / standalone ({o['trials']} trials x {o['epochs']} epochs, concurrency {o['concurrency']}) "
            f"| {o['overhead_ratio']:.2f} ({o['sweep_seconds']:.0f} s vs {o['ideal_seconds']:.0f} s) | <= 1.10 |"
            for o in (short, long)
        ),
        f"| marginal: extra sweep time per second of standalone training (long - short) | {marginal:.2f} | <= 1.10 |",
        f"| fixed start-up and shut-down of a sweep (Ray, worker imports) | {fixed:.0f} s | |",
        f"| trial throughput in sweep / plain Trainer | {t['throughput_ratio']:.2f} "
        f"({t['in_sweep_tokens_per_second']:.0f} vs {t['plain_trainer_tokens_per_second']:.0f} tokens/s) | >= 0.97 |",
    ]


if __name__ == "__main__":
    raise SystemExit(main())
