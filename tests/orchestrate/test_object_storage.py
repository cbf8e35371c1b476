"""A sweep whose `storage` is an S3 URI, against a real S3-compatible server (moto's, on loopback):
it runs, is SIGKILLed mid-sweep, resumes from the URI, and reads back from it; the credentials
reach every process through the standard variables and are never written into the bucket."""

import io
import json
import os
import socket
import time
import urllib.request

import boto3
import pyarrow.parquet as pq
import pytest
import yaml
from moto.server import ThreadedMotoServer

from sweep_processes import kill_everything, sweeper
from sweeper.cli import main

BUCKET = "sweeps-bucket"
TRIALS = 4
# Unusual strings, so finding one in an object can only mean it was written there.
KEY_ID = "AKIATESTKEYID7Q3ZX9"
SECRET = "s3cr3t-only-in-the-environment-5b1f"


@pytest.fixture
def s3(monkeypatch):
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    # moto keeps its buckets in this process's memory, shared by every server it starts: empty them.
    urllib.request.urlopen(urllib.request.Request(f"http://127.0.0.1:{port}/moto-api/reset", method="POST"))
    env = {
        "AWS_ENDPOINT_URL": f"http://127.0.0.1:{port}",
        "AWS_ACCESS_KEY_ID": KEY_ID,
        "AWS_SECRET_ACCESS_KEY": SECRET,
        "AWS_DEFAULT_REGION": "us-east-1",
    }
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    client = boto3.client("s3", endpoint_url=env["AWS_ENDPOINT_URL"])
    client.create_bucket(Bucket=BUCKET)
    try:
        yield client
    finally:
        server.stop()


def objects(client, prefix=""):
    pages = client.get_paginator("list_objects_v2").paginate(Bucket=BUCKET, Prefix=prefix)
    return [item["Key"] for page in pages for item in page.get("Contents", [])]


def read(client, key):
    return client.get_object(Bucket=BUCKET, Key=key)["Body"].read()


def training_results(client, key):
    """Ray's log of a trial's results that carried points (a finished trial Ray queues again after
    a resume replays its stored result, with no points, and trains nothing)."""
    lines = read(client, key).decode().splitlines()
    return [line for line in lines if json.loads(line).get("points")]


def ledger_ids(client, prefix):
    try:
        text = read(client, f"{prefix}/ledger.jsonl").decode()
    except client.exceptions.NoSuchKey:
        return []
    return [json.loads(line)["trial_id"] for line in text.splitlines() if line.endswith("}")]


def spec_dict(demo_data):
    return {
        "name": "bucketed",
        "storage": f"s3://{BUCKET}/sweeps",
        "dataset": {
            "train": str(demo_data / "train.jsonl"),
            "eval": str(demo_data / "eval.jsonl"),
            "labels": ["positive", "negative", "neutral"],
            "max_samples": 60,
            "test_fraction": 0.2,  # the best trial is scored on it from its checkpoint in the bucket
        },
        "train": {
            "num_train_epochs": 2,
            "per_device_train_batch_size": 8,
            "gradient_accumulation_steps": 1,
            "logging_steps": 1,
            "save_steps": 3,
            "max_eval_samples": 16,
            "cutoff_len": 48,
        },
        "search": {
            "num_samples": TRIALS,
            "seed": 5,
            "space": {"lora_rank": {"choice": [4, 8]}, "learning_rate": {"loguniform": [1e-4, 1e-2]}},
        },
        "resources": {"cpu": 1},
    }


@pytest.mark.slow
def test_a_sweep_on_s3_is_killed_resumed_from_the_uri_and_read_back(tmp_path, demo_data, s3, capsys):
    spec = tmp_path / "spec.yaml"
    spec.write_text(yaml.safe_dump(spec_dict(demo_data)))
    prefix, uri = "sweeps/bucketed", f"s3://{BUCKET}/sweeps/bucketed"

    driver = sweeper("run", str(spec))
    try:
        deadline = time.monotonic() + 300
        while not ledger_ids(s3, prefix):  # killed once a trial has finished, with others in flight
            assert driver.poll() is None, driver.communicate()[0][-3000:]
            assert time.monotonic() < deadline, "no trial finished within 300 s"
            time.sleep(0.2)
    finally:
        kill_everything(driver)
    finished_before = ledger_ids(s3, prefix)
    assert len(finished_before) < TRIALS
    results_before = {t: training_results(s3, f"{prefix}/trial_{t}/result.json") for t in finished_before}

    assert main(["run", str(spec)]) == 2  # the folder holds a sweep: resume it, or --overwrite
    assert f"sweeper resume {uri}" in capsys.readouterr().err

    resumed = sweeper("resume", uri)
    out, _ = resumed.communicate(timeout=600)
    assert resumed.returncode == 0, out[-3000:]
    assert "Traceback" not in out

    assert main(["leaderboard", uri, "--format", "json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert len(rows) == TRIALS and {row["status"] for row in rows} <= {"completed", "pruned"}, rows
    ledger = ledger_ids(s3, prefix)
    assert sorted(ledger) == sorted(row["trial_id"] for row in rows)  # each trial finished once
    for trial_id, before in results_before.items():  # no finished trial trained again
        assert training_results(s3, f"{prefix}/trial_{trial_id}/result.json") == before, trial_id
    curves = pq.read_table(io.BytesIO(read(s3, f"{prefix}/curves.parquet"))).to_pylist()
    for row in rows:
        steps = [p["step"] for p in curves if p["trial_id"] == row["trial_id"] and p["loss"] is not None]
        assert steps == list(range(1, row["steps_done"] + 1)), (row["trial_id"], steps)
        if row["status"] == "completed":
            assert row["adapter_path"].startswith(f"{uri}/trial_{row['trial_id']}/checkpoint_")
            key = row["adapter_path"].removeprefix(f"s3://{BUCKET}/") + "/adapter_model.safetensors"
            assert key in objects(s3, prefix)
    assert rows[0]["test_accuracy"] is not None and rows[0]["test_macro_f1"] is not None, rows[0]

    written = objects(s3)
    assert not any(key.endswith(".sweeper.lock") for key in written)  # released at the end
    for key in written:
        body = read(s3, key)
        assert KEY_ID.encode() not in body and SECRET.encode() not in body, key

    assert main(["diagnose", uri, "--trial", rows[0]["trial_id"], "--format", "json"]) == 0
    assert json.loads(capsys.readouterr().out)["sweep_decision"]["status"] == rows[0]["status"]


def test_object_storage_refusals_touch_nothing(tmp_path, demo_data, s3, capsys):
    spec = tmp_path / "spec.yaml"
    spec.write_text(yaml.safe_dump(spec_dict(demo_data)))
    s3.put_object(Bucket=BUCKET, Key="sweeps/bucketed/notes/important.txt", Body=b"keep me")
    assert main(["run", str(spec), "--overwrite"]) == 2  # not a sweep's folder: never emptied
    err = capsys.readouterr().err
    assert "holds objects that are not a sweep's; nothing was touched" in err and err.count("\n") == 1
    assert read(s3, "sweeps/bucketed/notes/important.txt") == b"keep me"

    held = f"s3://{BUCKET}/sweeps/held"
    s3.put_object(Bucket=BUCKET, Key="sweeps/held/.sweeper-sweep", Body=b"")
    s3.put_object(Bucket=BUCKET, Key="sweeps/held/spec.yaml", Body=yaml.safe_dump({**spec_dict(demo_data), "name": "held"}).encode())
    lock = f"{socket.gethostname()} pid {os.getpid()} at {time.time():.0f}\n".encode()  # a live holder
    s3.put_object(Bucket=BUCKET, Key="sweeps/held/.sweeper.lock", Body=lock)
    assert main(["resume", held]) == 2
    assert "another sweep is writing to this folder" in capsys.readouterr().err
    assert read(s3, "sweeps/held/.sweeper.lock") == lock

    assert main(["resume", f"s3://{BUCKET}/sweeps/nothing-here"]) == 2
    assert "not a sweep folder" in capsys.readouterr().err
