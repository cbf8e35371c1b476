"""A word-level tokenizer for the builtin tiny model, built from the data's own words.

Words are what the `tokenizers` Whitespace pre-tokenizer yields (runs of word characters, runs
of punctuation); newlines and spaces are not tokens. The vocabulary is the four specials
followed by every word sorted by its text, so the same data always gives the same ids.
Single sequences get `<s>` in front (like LLaMA's tokenizer); `</s>` ends each target.
"""

from __future__ import annotations

from typing import Iterable

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
