"""`sweeper init --from llamafactory`: the seed's run becomes a spec that validate accepts, with
every fixed setting equal to the LF config's."""

import json

import pytest
import yaml

from sweeper.cli import main
from sweeper.spec import load_spec

LABELS = ["billing", "shipping", "other"]
TEXTS = {"billing": "refund charge invoice", "shipping": "parcel courier late", "other": "hello thanks bye"}


def seed_flags(model):
    """The seed's LLaMA-Factory flags (BRIEF.md; seeds/000), as a llamafactory-cli train YAML."""
    return {
        "stage": "sft", "do_train": True, "model_name_or_path": str(model), "preprocessing_num_workers": 16,
        "finetuning_type": "lora", "template": "llama3", "flash_attn": "auto", "dataset_dir": "data",
        "dataset": "tickets_w_explain", "cutoff_len": 4096, "learning_rate": 5.0e-05, "num_train_epochs": 3.0,
        "max_samples": 100000, "per_device_train_batch_size": 1, "gradient_accumulation_steps": 8,
        "gradient_checkpointing": True, "lr_scheduler_type": "cosine", "max_grad_norm": 1.0, "logging_steps": 5,
        "save_steps": 100, "warmup_steps": 0, "packing": False, "report_to": "all", "output_dir": "saves/w-explain",
        "fp16": True, "plot_loss": True, "ddp_timeout": 180000000, "optim": "adamw_torch", "lora_rank": 8,
        "lora_alpha": 16, "lora_dropout": 0, "lora_target": "all",
    }
FIXED = {k for k in seed_flags("m") if k not in {
    "stage", "do_train", "model_name_or_path", "preprocessing_num_workers", "finetuning_type", "template",
    "flash_attn", "dataset_dir", "dataset", "max_samples", "packing", "report_to", "output_dir", "plot_loss",
    "ddp_timeout"}}


@pytest.fixture
def lf_project(tmp_path, monkeypatch, model_folders):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "data").mkdir()
    rows = [
        {"instruction": f"{TEXTS[label]} {i}", "input": "", "output": f"{label}\nExplanation: it says {TEXTS[label].split()[0]}"}
        for i in range(6) for label in LABELS
    ]
    (tmp_path / "data" / "tickets.json").write_text(json.dumps(rows, indent=1))
    (tmp_path / "data" / "dataset_info.json").write_text(json.dumps({"tickets_w_explain": {"file_name": "tickets.json"}}))
    return tmp_path, model_folders["llama3"]


def test_init_round_trip_from_the_seed_yaml(lf_project, capsys):
    root, model = lf_project
    (root / "lf.yaml").write_text(yaml.safe_dump(seed_flags(model), sort_keys=False))
    assert main(["init", "--from", "llamafactory", "lf.yaml", "--out", "sweeps/lf.yaml"]) == 0
    spec = load_spec("sweeps/lf.yaml")
    flags = seed_flags(model)
    assert {k: getattr(spec.train, k) for k in FIXED} == {k: flags[k] for k in FIXED}
    assert spec.train.lora_target == "all" and spec.train.optim == "adamw_torch"
    assert spec.model == str(model) and spec.dataset.dataset_name == "tickets_w_explain"
    assert str(spec.dataset.dataset_info) == "data/dataset_info.json" and spec.dataset.max_samples == 100000
    assert spec.dataset.labels == sorted(LABELS)  # read from the combined targets
    assert sorted(spec.search.space) == ["include_explanation", "learning_rate", "lora_rank", "num_train_epochs"]
    assert spec.search.space["learning_rate"].values == [1.67e-05, 0.00015]
    assert spec.resources.gpu == 1  # fp16 needs a GPU
    text = (root / "sweeps/lf.yaml").read_text()
    assert "#   plot_loss: True  (sweeper plots raw loss per trial" in text
    capsys.readouterr()
    # This machine has no GPU: validate with the precision switched off, everything else as written.
    assert main(["validate", "sweeps/lf.yaml", "--set", "train.fp16=false", "--set", "resources.gpu=0"]) == 0
    out = capsys.readouterr().out
    assert "sweeps/lf.yaml: ok" in out and "18 read from the target" in out
    assert main(["init", "--from", "llamafactory", "lf.yaml", "--out", "sweeps/lf.yaml"]) == 2  # never overwrites


def test_init_reads_the_seed_command_line(lf_project):
    root, model = lf_project
    flags = seed_flags(model)
    script = "#!/bin/bash\npython -m torch.distributed.run --nproc_per_node=2 src/train.py \\\n" + "".join(
        f"  --{k} {v} \\\n" for k, v in flags.items()
    )
    (root / "train.sh").write_text(script.rstrip(" \\\n") + "\n")
    assert main(["init", "--from", "llamafactory", "train.sh", "--out", "s.yaml"]) == 0
    spec = load_spec("s.yaml")
    assert {k: getattr(spec.train, k) for k in FIXED} == {k: flags[k] for k in FIXED}


@pytest.mark.parametrize(
    "extra, message",
    [
        ({"packing": True}, r"lf\.yaml:\d+: packing True is not supported: sweeper never packs"),
        ({"quantization_bit": 4}, r"quantization_bit 4 is not supported: sweeper trains the model unquantized"),
        ({"use_magic": 1}, r"lf\.yaml:\d+: use_magic is not a LLaMA-Factory flag sweeper knows"),
    ],
)
def test_init_refuses_what_sweeper_cannot_honour(lf_project, capsys, extra, message):
    import re

    root, model = lf_project
    (root / "lf.yaml").write_text(yaml.safe_dump({**seed_flags(model), **extra}))
    assert main(["init", "--from", "llamafactory", "lf.yaml"]) == 2
    assert re.search(message, capsys.readouterr().err)
