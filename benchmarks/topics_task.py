"""The second corpus's task: 6-class topic classification, longer inputs, a wider local model.

    python -m benchmarks.topics_task            # writes data/generated/topics/ (data + model)
    python -m benchmarks.corpus --spec benchmarks/corpus-topics.yaml \
        --out benchmarks/corpus/topics_curves.parquet

Made to be unlike the demo task (sweeper.data.demo) on every axis the pruner sees:
- 6 topics instead of 3 sentiments (chance macro-F1 and ln C change);
- inputs of 18-30 words (the demo's are 9-14), cues 2-4 among them, a third of them with a cue of
  another topic;
- 10% of the training labels flipped (the demo: 5%), a larger eval set (180 rows, not 120);
- explanations of 4-10 random words from a 24-word vocabulary per topic;
- a 3-layer LLaMA, hidden 96 (the builtin is 2 layers, hidden 64), saved as a local model folder
  (random weights seeded 7, its word tokenizer built from this data), so the trials load it as a
  user's own model: `AutoModelForCausalLM` from a folder, no download.
"""

from __future__ import annotations

import argparse
import random
from pathlib import Path

from sweeper.data.demo import render_jsonl

OUT = Path("data") / "generated" / "topics"
LABELS = ("sports", "politics", "science", "business", "health", "travel")
NUM_TRAIN, NUM_EVAL = 480, 180
LABEL_NOISE, DISTRACTOR_RATE = 0.10, 0.33

CUES = {
    "sports": "goal match team league coach score season player striker referee tournament stadium".split(),
    "politics": "election vote senate minister policy parliament campaign party law debate reform cabinet".split(),
    "science": "experiment theory physics laboratory molecule telescope research gene climate data atom quantum".split(),
    "business": "market profit shares investor revenue merger startup bank trade earnings supplier budget".split(),
    "health": "doctor patient vaccine hospital diet therapy symptom clinic nurse disease fitness medicine".split(),
    "travel": "flight hotel beach passport tourist island luggage cruise airport journey resort museum".split(),
}
FILLER = (
    "the a this that new report said on in at from with for after before during week year month "
    "people local national city country officials group announced today yesterday early late "
    "major small recent latest another first second many several some most could would might "
    "has had have been was were is are will says told about over under around across"
).split()
EXPLANATION_VOCAB = 24


def _explanation_words(label: str) -> list[str]:
    return [f"{label[:3]}{i:02d}" for i in range(EXPLANATION_VOCAB)]


def records(seed: int = 0) -> tuple[list[dict[str, str]], list[dict[str, str]]]:
    rng = random.Random(seed)
    train = [_record(rng, noisy=rng.random() < LABEL_NOISE) for _ in range(NUM_TRAIN)]
    evals = [_record(rng, noisy=False) for _ in range(NUM_EVAL)]
    return train, evals


def _record(rng: random.Random, noisy: bool) -> dict[str, str]:
    true_label = rng.choice(LABELS)
    words = [rng.choice(FILLER) for _ in range(rng.randint(14, 24))]
    cues = rng.sample(CUES[true_label], rng.randint(2, 4))
    inserted = list(cues)
    if rng.random() < DISTRACTOR_RATE:
        other = rng.choice([label for label in LABELS if label != true_label])
        inserted.append(rng.choice(CUES[other]))
    for word in inserted:
        words.insert(rng.randint(0, len(words)), word)
    label = rng.choice([o for o in LABELS if o != true_label]) if noisy else true_label
    vocab = _explanation_words(label)
    explanation = f"{cues[0]} and {cues[1]} mean {label} : " + " ".join(rng.choice(vocab) for _ in range(rng.randint(4, 10)))
    return {"text": " ".join(words), "label": label, "explanation": explanation}


def write_model(folder: Path, texts: list[str], seed: int = 7) -> None:
    """A 3-layer LLaMA (hidden 96) with random weights and a word tokenizer over `texts`."""
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    from sweeper.trial.model import LM_HEAD_STD
    from sweeper.trial.tokenizer import build_word_tokenizer

    tokenizer = build_word_tokenizer(texts)
    config = LlamaConfig(
        vocab_size=len(tokenizer), max_position_embeddings=128, pad_token_id=tokenizer.pad_token_id,
        bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id, tie_word_embeddings=False,
        hidden_size=96, intermediate_size=192, num_hidden_layers=3, num_attention_heads=4, num_key_value_heads=4,
        initializer_range=0.1,
    )
    torch.manual_seed(seed)
    model = LlamaForCausalLM(config)
    with torch.no_grad():
        model.lm_head.weight.normal_(0.0, LM_HEAD_STD)  # frozen under LoRA: wide enough to be confident
    folder.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.topics_task", description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=str(OUT), help=f"output folder (default {OUT})")
    args = parser.parse_args(argv)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    train, evals = records()
    (out / "train.jsonl").write_text(render_jsonl(train), encoding="utf-8", newline="\n")
    (out / "eval.jsonl").write_text(render_jsonl(evals), encoding="utf-8", newline="\n")
    # Every word the trials will see: texts, explanations, labels and the default template's words.
    template = "Text: Label: Explanation:"
    texts = [r["text"] for r in train + evals] + [r["explanation"] for r in train + evals] + list(LABELS) + [template]
    write_model(out / "model", texts)
    print(f"written: {out}/train.jsonl ({len(train)}), eval.jsonl ({len(evals)}), model/")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
