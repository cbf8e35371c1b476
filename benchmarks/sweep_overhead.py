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
   Target >= 0.95.

    python -m benchmarks.sweep_overhead [--epochs 4] [--concurrency 2]

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
from pathlib import Path
from typing import Any

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

    from sweeper.orchestrate.sweep import absolute_paths, run_sweep

    params = {"lora_rank": [8], "include_explanation": [True]}
    with tempfile.TemporaryDirectory() as storage:
        spec = absolute_paths(bench_spec(Path(storage), epochs, params, "throughput"))
        spec = spec.model_copy(update={"train": spec.train.model_copy(update={"eval_steps": None})})
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


def plain_trainer_tokens_per_second(spec_dict: dict[str, Any], params: dict[str, Any]) -> float:
    """The same model, data and settings trained by a stock Trainer: no callbacks, no evaluation."""
    import torch
    from transformers import PrinterCallback, Trainer, TrainingArguments

    from sweeper.spec import SweepSpec
    from sweeper.trial.train import Collator, TrialConfig, prepare

    torch.set_num_threads(1)
    spec = SweepSpec.model_validate(spec_dict)
    settings = spec.trial_settings(params)
    with tempfile.TemporaryDirectory() as work:
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
    tokens = sum(len(item["input_ids"]) for item in items) * settings.num_train_epochs
    return tokens / seconds


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--epochs", type=int, default=2, help="epochs of the short sweep")
    parser.add_argument("--long-epochs", type=int, default=8, help="epochs of the long sweep")
    parser.add_argument("--concurrency", type=int, default=min(2, os.cpu_count() or 1))
    args = parser.parse_args(argv)
    OUT.mkdir(parents=True, exist_ok=True)
    result: dict[str, Any] = {}
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
    (OUT / "sweep_overhead.json").write_text(json.dumps(result, indent=2))
    t = result["throughput"]
    rows = [
        f"| sweep wall / standalone ({o['trials']} trials x {o['epochs']} epochs, concurrency {o['concurrency']}) "
        f"| {o['overhead_ratio']:.2f} ({o['sweep_seconds']:.0f} s vs {o['ideal_seconds']:.0f} s) | <= 1.10 |"
        for o in (short, long)
    ]
    table = "\n".join(
        [
            "| measure | value | target |",
            "|---|---|---|",
            *rows,
            f"| marginal: extra sweep time per second of standalone training (long - short) | {marginal:.2f} | <= 1.10 |",
            f"| fixed start-up and shut-down of a sweep (Ray, worker imports) | {fixed:.0f} s | |",
            f"| trial throughput in sweep / plain Trainer | {t['throughput_ratio']:.2f} "
            f"({t['in_sweep_tokens_per_second']:.0f} vs {t['plain_trainer_tokens_per_second']:.0f} tokens/s) | >= 0.95 |",
        ]
    )
    (OUT / "sweep_overhead.md").write_text(table + "\n")
    print(table)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
