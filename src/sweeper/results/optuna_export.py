"""A sweep as an Optuna study: what `optuna-dashboard` and `optuna.importance` read.

Each trial becomes a FrozenTrial with its parameters and their distributions (from spec.yaml),
its state (completed -> COMPLETE, pruned -> PRUNED, errored and interrupted -> FAIL, running ->
RUNNING), its value (the sweep's metric at the kept checkpoint), its raw label loss (the judged
signal; the mean token loss where no label loss was logged) as intermediate values by training
step, its real start and end times, and verdict, stopping rule and reason as user attributes.
"""

from __future__ import annotations

import math
from datetime import datetime, timezone
from typing import Any

from sweeper.errors import SweeperError
from sweeper.results.sweep_view import SweepView

STATES = {"completed": "COMPLETE", "pruned": "PRUNED", "errored": "FAIL", "interrupted": "FAIL", "running": "RUNNING"}
USER_ATTRS = ("status", "verdict", "stopped_by", "reason", "score_se", "final_score", "steps_done", "max_steps",
              "final_label_loss", "final_explanation_loss", "adapter_path")


def distributions(view: SweepView) -> dict[str, Any]:
    from optuna.distributions import CategoricalDistribution, FloatDistribution, IntDistribution

    found: dict[str, Any] = {}
    for name, dim in view.space.items():
        (kind, values), = dim.items()
        if kind in ("loguniform", "uniform"):
            found[name] = FloatDistribution(float(values[0]), float(values[1]), log=kind == "loguniform")
        elif kind == "int":
            found[name] = IntDistribution(int(values[0]), int(values[1]))
        else:
            found[name] = CategoricalDistribution(list(values))
    return found


def _finite(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def frozen_trials(view: SweepView, extra: dict[str, Any] | None = None) -> list[Any]:
    """The sweep's trials as FrozenTrials; `extra` adds fixed settings as parameters (name ->
    (value, distribution)), so trials of several sweeps fit one study."""
    from optuna.trial import FrozenTrial, TrialState

    dists = distributions(view)
    curves = view.curves()
    written = datetime.fromtimestamp((view.folder / "leaderboard.csv").stat().st_mtime, tz=timezone.utc).replace(tzinfo=None)
    trials = []
    for number, row in enumerate(sorted(view.rows, key=lambda r: str(r["trial_id"]))):
        status = row.get("status")
        if status not in STATES:
            continue  # pending, duplicate: nothing ran (a duplicate's result is its original's)
        state = TrialState[STATES[status]]
        value = row.get("score") if _finite(row.get("score")) else None
        if state == TrialState.COMPLETE and value is None:
            state = TrialState.FAIL  # finished without a single evaluation: no value to rank by
        if state in (TrialState.FAIL, TrialState.RUNNING):
            value = None
        start, end = view.times(str(row["trial_id"]))
        start = start or written  # no Ray result file (a folder copied without trial folders)
        end = None if state == TrialState.RUNNING else (end or start)
        intermediate = {}
        for point in curves.get(str(row["trial_id"]), []):
            signal = point.get("label_loss") if point.get("label_loss") is not None else point.get("loss")
            if signal is not None and not math.isnan(signal):
                intermediate[int(point["step"])] = float(signal)
        params = {name: row.get(name) for name in dists if row.get(name) is not None}
        trial_dists = {name: dists[name] for name in params}
        for name, (fixed_value, dist) in (extra or {}).items():
            params[name], trial_dists[name] = fixed_value, dist
        attrs = {key: row.get(key) for key in USER_ATTRS if row.get(key) is not None}
        attrs.update(trial_id=str(row["trial_id"]), sweep=view.name, metric=view.metric)
        trials.append(
            FrozenTrial(
                number=number, state=state, value=value, datetime_start=start, datetime_complete=end,
                params=params, distributions=trial_dists, user_attrs=attrs, system_attrs={},
                intermediate_values=intermediate, trial_id=number,
            )
        )
    return trials


def export_study(view: SweepView, storage: str, study_name: str | None = None) -> Any:
    """Write the sweep into `storage` (an Optuna storage URL) as a new study; the study."""
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    name = study_name or view.name
    direction = "maximize" if view.mode == "max" else "minimize"
    try:
        study = optuna.create_study(storage=storage, study_name=name, direction=direction)
    except optuna.exceptions.DuplicatedStudyError:
        raise SweeperError(f"{storage}: already holds a study named {name!r}; pass --study-name") from None
    except (ValueError, ImportError) as error:
        raise SweeperError(f"--optuna {storage}: {error}") from None
    study.set_user_attr("sweep_folder", str(view.folder))
    study.set_user_attr("metric", view.metric)
    study.add_trials(frozen_trials(view))
    return study
