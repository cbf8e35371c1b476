"""Several sweeps side by side, answering "does training with explanations help?".

For every categorical parameter (searched with choice or grid, or a fixed setting that differs
between the sweeps, like `include_explanation`) and each of its values: the best completed trial's
score with its binomial standard error, the median over completed trials with a bootstrap 95%
interval, and the median label and explanation losses. Also each sweep's best trial, the same
configuration across sweeps, Optuna's parameter importance (PED-ANOVA) over all completed
trials, and the fixed settings that differ between the sweeps (from their spec.yaml).
"""

from __future__ import annotations

import math
import random
import statistics
from dataclasses import dataclass, field
from typing import Any

from sweeper.results.sweep_view import SweepView

EXPLAIN = "include_explanation"
Z95 = 1.96


@dataclass
class Comparison:
    views: list[SweepView]
    sweeps: list[dict[str, Any]]  # one summary per sweep
    differing: dict[str, dict[str, Any]]  # fixed setting -> sweep name -> value
    groups: dict[str, list[dict[str, Any]]]  # parameter -> one row per value
    answer: str
    importance: dict[str, float] = field(default_factory=dict)
    importance_note: str = ""
    same_config: list[dict[str, Any]] = field(default_factory=list)
    trials: list[dict[str, Any]] = field(default_factory=list)  # every trial with its sweep and factor values


def _finite(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def differing_settings(views: list[SweepView]) -> dict[str, dict[str, Any]]:
    fixed = [view.fixed() for view in views]
    keys = sorted(set().union(*fixed)) if fixed else []
    found = {}
    for key in keys:
        values = {view.name: f.get(key) for view, f in zip(views, fixed)}
        if len({repr(v) for v in values.values()}) > 1:
            found[key] = values
    return found


def _categorical(views: list[SweepView], differing: dict[str, dict[str, Any]]) -> list[str]:
    names: list[str] = []
    for view in views:
        for name, dim in view.space.items():
            if ("choice" in dim or "grid" in dim) and name not in names:
                names.append(name)
    for key in differing:
        if key.startswith("train.") and key[len("train."):] not in names:
            names.append(key[len("train."):])
    if EXPLAIN not in names and any(EXPLAIN in view.params or EXPLAIN in view.spec.get("train", {}) for view in views):
        names.insert(0, EXPLAIN)
    else:
        names.sort(key=lambda n: n != EXPLAIN)
    return names


def _trials(views: list[SweepView], factors: list[str]) -> list[dict[str, Any]]:
    out = []
    for view in views:
        fixed = view.spec.get("train", {})
        for row in view.rows:
            trial = {"sweep": view.name, **row}
            for name in factors:
                trial[name] = row.get(name) if name in view.params else fixed.get(name)
            out.append(trial)
    return out


def bootstrap_median(values: list[float], rounds: int = 2000, seed: int = 0) -> tuple[float | None, float | None]:
    """A 95% percentile-bootstrap interval of the median (None with fewer than 2 values)."""
    if len(values) < 2:
        return None, None
    rng = random.Random(seed)
    medians = sorted(statistics.median(rng.choices(values, k=len(values))) for _ in range(rounds))
    return medians[int(0.025 * rounds)], medians[int(0.975 * rounds) - 1]


def _group(trials: list[dict[str, Any]], sign: float) -> dict[str, Any]:
    done = [t for t in trials if t.get("status") == "completed" and _finite(t.get("score"))]
    best = max(done, key=lambda t: sign * t["score"], default=None)
    scores = [t["score"] for t in done]
    low, high = bootstrap_median(scores)

    def median(key: str) -> float | None:
        values = [t[key] for t in done if _finite(t.get(key))]
        return round(statistics.median(values), 4) if values else None

    return {
        "completed": len(done),
        "pruned": sum(t.get("status") == "pruned" for t in trials),
        "best": best["score"] if best else None,
        "best_se": best.get("score_se") if best else None,
        "best_trial": f"{best['sweep']}/{best['trial_id']}" if best else None,
        "median": round(statistics.median(scores), 4) if scores else None,
        "median_low": None if low is None else round(low, 4),
        "median_high": None if high is None else round(high, 4),
        "label_loss": median("final_label_loss"),
        "explanation_loss": median("final_explanation_loss"),
    }


def _best_text(group: dict[str, Any]) -> str:
    if group["best"] is None:
        return f"no completed trial ({group['pruned']} pruned)"
    se = f" +- {Z95 * group['best_se']:.2f}" if _finite(group["best_se"]) else ""
    return f"best {group['best']:.2f}{se}"


def answer_line(groups: list[dict[str, Any]], sign: float, metric: str) -> str:
    """The one line for include_explanation: each side's best with its 95% half-width, and which is higher."""
    by_value = {g["value"]: g for g in groups}
    if True not in by_value or False not in by_value:
        only = "with" if True in by_value else "without"
        return f"only trials {only} explanations ran: nothing to compare"
    w, wo = by_value[True], by_value[False]
    line = (
        f"with explanations: {_best_text(w)}, without: {_best_text(wo)} ({metric}, 95% binomial interval) "
        f"over {w['completed']} vs {wo['completed']} completed trials"
    )
    if w["best"] is None or wo["best"] is None:
        return line
    better, worse, label = (w, wo, "with explanations") if sign * w["best"] > sign * wo["best"] else (wo, w, "without explanations")
    if better["best"] == worse["best"]:
        return line + ": a tie"
    overlap = ""
    if _finite(w["best_se"]) and _finite(wo["best_se"]):
        apart = abs(w["best"] - wo["best"]) > Z95 * (w["best_se"] + wo["best_se"])
        overlap = "; the intervals do not overlap" if apart else "; the intervals overlap: not distinguishable at this eval size"
    return line + f": {label} is better ({better['best']:.2f} vs {worse['best']:.2f}){overlap}"


def _importance(views: list[SweepView], differing: dict[str, dict[str, Any]]) -> tuple[dict[str, float], str]:
    import optuna
    from optuna.distributions import CategoricalDistribution
    from optuna.importance import PedAnovaImportanceEvaluator, get_param_importances

    from sweeper.results.optuna_export import frozen_trials

    optuna.logging.set_verbosity(optuna.logging.ERROR)
    study = optuna.create_study(direction="maximize" if views[0].mode == "max" else "minimize")
    fixed_params = [key for key in differing if key.startswith("train.")]
    for view in views:
        extra = {}
        for key in fixed_params:
            choices = sorted({repr(v) for v in differing[key].values()})
            extra[key[len("train."):]] = (repr(differing[key][view.name]), CategoricalDistribution(choices))
        study.add_trials(frozen_trials(view, extra))
    complete = [t for t in study.trials if t.state == optuna.trial.TrialState.COMPLETE]
    if len(complete) < 2:
        return {}, f"parameter importance needs 2 or more completed trials (has {len(complete)})"
    try:
        found = get_param_importances(study, evaluator=PedAnovaImportanceEvaluator())
    except (ValueError, RuntimeError, ZeroDivisionError) as error:
        return {}, f"parameter importance: {error}"
    if not found:
        return {}, "parameter importance: no parameter varies over the completed trials"
    return {name: round(float(value), 4) for name, value in found.items()}, "Optuna PED-ANOVA over the completed trials"


def _same_config(trials: list[dict[str, Any]], views: list[SweepView]) -> list[dict[str, Any]]:
    shared = [name for name in views[0].params if all(name in view.params for view in views[1:])]
    if len(views) < 2 or not shared:
        return []
    by_config: dict[tuple, dict[str, Any]] = {}
    for trial in trials:
        key = tuple(repr(trial.get(name)) for name in shared)
        entry = by_config.setdefault(key, {**{name: trial.get(name) for name in shared}})
        if _finite(trial.get("score")):
            previous = entry.get(trial["sweep"])
            entry[trial["sweep"]] = trial["score"] if previous is None else max(previous, trial["score"])
        entry.setdefault(f"{trial['sweep']} status", trial.get("status"))
    return [e for e in by_config.values() if sum(view.name in e for view in views) >= 2]


def compare(views: list[SweepView]) -> Comparison:
    differing = differing_settings(views)
    factors = _categorical(views, differing)
    trials = _trials(views, factors)
    sign = 1.0 if views[0].mode == "max" else -1.0
    groups: dict[str, list[dict[str, Any]]] = {}
    for name in factors:
        values: list[Any] = []
        for trial in trials:
            if trial.get(name) is not None and trial[name] not in values:
                values.append(trial[name])
        groups[name] = [{"value": v, **_group([t for t in trials if t.get(name) == v], sign)} for v in values]
    summaries = []
    for view in views:
        statuses = [row.get("status") for row in view.rows]
        best = _group([{"sweep": view.name, **row} for row in view.rows], sign)
        summaries.append({
            "sweep": view.name, "trials": len(view.rows), "completed": statuses.count("completed"),
            "pruned": statuses.count("pruned"), "errored": statuses.count("errored"),
            "best_trial": best["best_trial"], "best": best["best"], "best_se": best["best_se"],
        })
    answer = answer_line(groups.get(EXPLAIN, []), sign, views[0].metric) if EXPLAIN in groups else (
        "include_explanation is the same for every trial: nothing to compare")
    importance, note = _importance(views, differing)
    trials.sort(key=lambda t: (t.get("status") != "completed", -sign * t["score"] if _finite(t.get("score")) else math.inf))
    return Comparison(views, summaries, differing, groups, answer, importance, note, _same_config(trials, views), trials)
