"""A trial's checkpoint copied to the sweep's storage is found again only when the copy is whole:
what a trial restarted after a killed driver starts from (sweeper.results.stored_checkpoints)."""

import shutil

from pyarrow.fs import LocalFileSystem

from sweeper.results.stored_checkpoints import persisted_checkpoints
from sweeper.trial.reporting import ListReporter
from sweeper.trial.train import TrialConfig, run_trial


def copied(tmp_path, small_dataset, make_settings):
    """A real run's checkpoints as Ray persists them: trial_x/checkpoint_00000N."""
    config = TrialConfig(
        model="builtin:tiny-llama", dataset=small_dataset, train=make_settings(save_steps=3),
        output_dir=tmp_path / "run", num_threads=1,
    )
    reporter = ListReporter()
    run_trial(config, reporter)
    trial = tmp_path / "trial_x"
    for index, (_, path) in enumerate(reporter.checkpoints[-2:]):
        shutil.copytree(path, trial / f"checkpoint_{index:06d}")
    return trial


def test_whole_copies_are_found_and_cut_off_ones_are_not(tmp_path, small_dataset, make_settings):
    trial = copied(tmp_path, small_dataset, make_settings)
    found = persisted_checkpoints(LocalFileSystem(), str(trial))
    assert [step for step, _ in found] == [9, 12]
    assert found[-1][1] == str(trial / "checkpoint_000001")

    newest = trial / "checkpoint_000001"
    weights = next(newest.glob("adapter_model.*"))
    weights.write_bytes(weights.read_bytes()[:-10])  # the upload was cut off in this file
    assert [step for step, _ in persisted_checkpoints(LocalFileSystem(), str(trial))] == [9]

    (trial / "checkpoint_000000" / "optimizer.pt").unlink()  # never arrived
    assert persisted_checkpoints(LocalFileSystem(), str(trial)) == []


def test_a_checkpoint_without_sweepers_file_list_is_not_trusted(tmp_path, small_dataset, make_settings):
    trial = copied(tmp_path, small_dataset, make_settings)
    (trial / "checkpoint_000001" / "sweeper_state.json").write_text('{"window": {}}')
    (trial / "checkpoint_000000" / "sweeper_state.json").write_text('{"window": {}, "fi')  # cut off
    assert persisted_checkpoints(LocalFileSystem(), str(trial)) == []
    assert persisted_checkpoints(LocalFileSystem(), str(tmp_path / "nowhere")) == []
