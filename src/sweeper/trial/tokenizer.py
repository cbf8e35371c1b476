"""A word-level tokenizer for the builtin tiny model, built from the data's own words.

Words are what the `tokenizers` Whitespace pre-tokenizer yields (runs of word characters, runs
of punctuation); newlines and spaces are not tokens. The vocabulary is the four specials
followed by every word sorted by its text, so the same data always gives the same ids.
Single sequences get `<s>` in front (like LLaMA's tokenizer); `</s>` ends each target.
"""

from __future__ import annotations

from typing import Any, Iterable

from tokenizers import Tokenizer, models, pre_tokenizers, processors
from transformers import PreTrainedTokenizerFast

PAD, BOS, EOS, UNK = "<pad>", "<s>", "</s>", "<unk>"
SPECIALS = (PAD, BOS, EOS, UNK)


def words_of(texts: Iterable[str]) -> set[str]:
    """The distinct words the tokenizer will see in `texts`."""
    splitter = pre_tokenizers.Whitespace()
    out: set[str] = set()
    for text in texts:
        out.update(word for word, _ in splitter.pre_tokenize_str(text))
    return out


def build_word_tokenizer(texts: Iterable[str]) -> PreTrainedTokenizerFast:
    """A deterministic word-level tokenizer over the words of `texts`, plus pad/bos/eos/unk."""
    words = sorted(words_of(texts) - set(SPECIALS))
    vocab = {token: index for index, token in enumerate(list(SPECIALS) + words)}
    backend = Tokenizer(models.WordLevel(vocab=vocab, unk_token=UNK))
    backend.pre_tokenizer = pre_tokenizers.Whitespace()
    backend.post_processor = processors.TemplateProcessing(
        single=f"{BOS} $A", pair=f"{BOS} $A $B", special_tokens=[(BOS, vocab[BOS])]
    )
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=backend, pad_token=PAD, bos_token=BOS, eos_token=EOS, unk_token=UNK
    )
    tokenizer.padding_side = "right"
    return tokenizer


def local_tokenizer(path: str, where: str | None = None) -> Any:
    """The tokenizer of a local model folder, right-padded, pad = eos when it has no pad token.

    Never downloads. Raises SweeperError naming the folder (after `where`, e.g. the spec's file,
    line and key) when it cannot be read.
    """
    from pathlib import Path

    from transformers import AutoTokenizer

    from sweeper.errors import SweeperError

    where = where or f"model {path!r}"
    folder = Path(path).expanduser()
    try:
        tokenizer = AutoTokenizer.from_pretrained(str(folder), local_files_only=True)
    except (OSError, ValueError, KeyError, TypeError) as error:
        reason = " ".join(str(error).split()) or type(error).__name__
        reason = reason if len(reason) <= 240 else reason[:237] + "..."
        raise SweeperError(f"{where}: cannot load the tokenizer of {path}: {reason}") from None
    if tokenizer.eos_token_id is None:
        raise SweeperError(f"{where}: the tokenizer of {path} has no eos token")
    if tokenizer.pad_token_id is None:
        tokenizer.pad_token = tokenizer.eos_token
    tokenizer.padding_side = "right"
    return tokenizer
