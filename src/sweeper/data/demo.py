"""The embedded demo dataset: 3-class review classification with explanations, made from a seed.

Designed so that a sweep over it shows the user's problems on a CPU in minutes:

- The label is learnable by the tiny model: a review holds 2-3 cue words of its class among
  shared filler words; a fifth of them also hold one cue of another class (the majority wins).
- The explanation carries irreducible variation: after a short learnable part ("<cue> and <cue>
  set the tone :", never naming the label, so an explanation-first target does not hand the
  label to the model), 5-8 words are drawn at random from a class-specific vocabulary of
  EXPLANATION_VOCAB words, so explanation tokens cost at least about ln(32) = 3.5 nats each
  whatever the model does. A w-explain run's mean token loss therefore stays well above a
  wo-explain run's, converged or not.
- About 5% of the training labels are flipped to another class (the explanation follows the
  flipped label), so high learning rates over several epochs can memorise them: staircases at
  epoch boundaries while eval stalls. Eval labels are clean, so 0.9 accuracy is reachable.

`write_demo_dataset` writes `train.jsonl` and `eval.jsonl`; the committed copy in
data/explain-demo/ is this generator's output for seed 0 (a test checks byte for byte).
"""

from __future__ import annotations

import json
import random
from pathlib import Path
from typing import NamedTuple

DEMO_LABELS = ("positive", "negative", "neutral")
NUM_TRAIN = 600
NUM_EVAL = 120
TRAIN_LABEL_NOISE = 0.05
DISTRACTOR_RATE = 0.2
EXPLANATION_VOCAB = 32

CUES = {
    "positive": (
        "excellent delightful superb wonderful great lovely fantastic pleasant brilliant charming"
    ).split(),
    "negative": ("terrible awful broken horrible disappointing poor rude dreadful faulty useless").split(),
    "neutral": ("average ordinary standard typical adequate moderate plain usual acceptable fair").split(),
}

FILLER = (
    "the a this our my their service delivery product staff room food price screen battery order "
    "package hotel meal support app seller update design size colour box manual cable phone laptop "
    "chair table coffee bread shop visit trip stay week day night was is felt seemed looked arrived "
    "came worked ran with and but for after before during really quite very overall again today"
).split()

# Words an explanation draws from at random: the irreducible part of the explanation loss.
EXPLANATION_WORDS = {
    "positive": (
        "praise joy satisfied happy recommend enjoy thrilled impressed grateful glad pleased smile "
        "favourite love admire warm kind generous success reward bright cheerful eager proud "
        "comfort relief trust delight win gift hope applause"
    ).split(),
    "negative": (
        "complaint anger refund regret upset annoyed frustrated waste failure problem fault issue "
        "damage delay loss pain worry fear blame angry sad bitter harsh cold dirty noisy slow "
        "crack leak error mistake broke"
    ).split(),
    "neutral": (
        "fact note mention describe state report list record remark observe detail unbiased mild "
        "balanced even steady routine common regular normal expected middle moderate calm flat "
        "level simple basic general plain usual typical"
    ).split(),
}


class DemoPaths(NamedTuple):
    train: Path
    eval: Path


def demo_records(seed: int = 0) -> tuple[list[dict[str, str]], list[dict[str, str]]]:
    """The train and eval records for `seed`: dicts with text, label and explanation."""
    for label, words in EXPLANATION_WORDS.items():
        if len(set(words)) != EXPLANATION_VOCAB:  # a guard on the tables above, not on input
            raise RuntimeError(f"EXPLANATION_WORDS[{label!r}] must hold {EXPLANATION_VOCAB} distinct words")
    rng = random.Random(seed)
    train = [_record(rng, noisy=rng.random() < TRAIN_LABEL_NOISE) for _ in range(NUM_TRAIN)]
    evals = [_record(rng, noisy=False) for _ in range(NUM_EVAL)]
    return train, evals


def _record(rng: random.Random, noisy: bool) -> dict[str, str]:
    true_label = rng.choice(DEMO_LABELS)
    n_filler = rng.randint(7, 11)
    words = [rng.choice(FILLER) for _ in range(n_filler)]
    cues = rng.sample(CUES[true_label], rng.randint(2, 3))
    inserted = list(cues)
    if rng.random() < DISTRACTOR_RATE:
        other = rng.choice([label for label in DEMO_LABELS if label != true_label])
        inserted.append(rng.choice(CUES[other]))
    for word in inserted:
        words.insert(rng.randint(0, len(words)), word)
    label = true_label
    if noisy:
        label = rng.choice([other for other in DEMO_LABELS if other != true_label])
    random_part = [rng.choice(EXPLANATION_WORDS[label]) for _ in range(rng.randint(5, 8))]
    explanation = f"{cues[0]} and {cues[1]} set the tone : " + " ".join(random_part)
    return {"text": " ".join(words), "label": label, "explanation": explanation}


def render_jsonl(records: list[dict[str, str]]) -> str:
    return "".join(json.dumps(record, ensure_ascii=False) + "\n" for record in records)


def write_demo_dataset(out_dir: str | Path, seed: int = 0) -> DemoPaths:
    """Write `train.jsonl` and `eval.jsonl` under `out_dir` (created if needed)."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    train, evals = demo_records(seed)
    paths = DemoPaths(train=out / "train.jsonl", eval=out / "eval.jsonl")
    paths.train.write_text(render_jsonl(train), encoding="utf-8", newline="\n")
    paths.eval.write_text(render_jsonl(evals), encoding="utf-8", newline="\n")
    return paths
