"""`sweeper export --optuna`: the sweep as an Optuna study that optuna.load_study and optuna-dashboard open."""

import json
import threading
import urllib.request
from wsgiref.simple_server import WSGIRequestHandler, make_server

import pyarrow.parquet as pq
import pytest

from sweeper.cli import main
from sweeper.results.leaderboard import read_leaderboard

from browser import free_port

pytestmark = pytest.mark.slow


class _Quiet(WSGIRequestHandler):
    def log_message(self, *args):
        pass


def test_export_opens_in_optuna_and_the_dashboard(sweeps, tmp_path, capsys):
    import optuna
    import optuna_dashboard

    storage = f"sqlite:///{tmp_path / 'sweep.db'}"
    assert main(["export", str(sweeps["with"]), "--optuna", storage]) == 0
    assert main(["export", str(sweeps["with"]), "--optuna", storage]) == 2  # the study exists: refused
    assert "already holds a study" in capsys.readouterr().err

    study = optuna.load_study(study_name="explain-with", storage=storage)
    rows = {row["trial_id"]: row for row in read_leaderboard(sweeps["with"])}
    assert len(study.trials) == len(rows) == 3
    state = {"completed": "COMPLETE", "pruned": "PRUNED", "errored": "FAIL"}
    curves = pq.read_table(sweeps["with"] / "curves.parquet").to_pylist()
    for trial in study.trials:
        row = rows[trial.user_attrs["trial_id"]]
        assert trial.state.name == state[row["status"]]
        assert trial.params["learning_rate"] == float(row["learning_rate"])
        assert trial.user_attrs["verdict"] == row["verdict"] and trial.user_attrs["reason"] == row["reason"]
        if trial.state.name == "COMPLETE":
            assert trial.value == float(row["score"])
        expected = {c["step"]: c["label_loss"] for c in curves if c["trial_id"] == row["trial_id"] and c["label_loss"] is not None}
        assert trial.intermediate_values == pytest.approx(expected)
        assert (trial.datetime_complete - trial.datetime_start).total_seconds() > 0.5

    server = make_server("127.0.0.1", free_port(), optuna_dashboard.wsgi(storage), handler_class=_Quiet)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        base = f"http://127.0.0.1:{server.server_port}"
        with urllib.request.urlopen(f"{base}/api/studies", timeout=30) as answer:
            assert answer.status == 200
            listed = json.load(answer)["study_summaries"]
        study_id = listed[0]["study_id"]
        with urllib.request.urlopen(f"{base}/api/studies/{study_id}", timeout=30) as answer:
            assert answer.status == 200
            detail = json.load(answer)
        assert len(detail["trials"]) == 3
        assert {t["state"] for t in detail["trials"]} == {"Complete", "Pruned"}
        assert detail["has_intermediate_values"]
    finally:
        server.shutdown()
        server.server_close()
