"""The builtin word-level tokenizer: deterministic, with specials, offsets and bos."""

from sweeper.trial.tokenizer import SPECIALS, build_word_tokenizer, words_of


def test_same_texts_give_same_ids_whatever_the_order():
    a = build_word_tokenizer(["b a", "c: d"])
    b = build_word_tokenizer(["c: d", "a b", "a"])
    assert a.get_vocab() == b.get_vocab()
    assert a.convert_ids_to_tokens(list(range(4))) == list(SPECIALS)


def test_specials_bos_and_unknown_words():
    tok = build_word_tokenizer(["hello world"])
    ids = tok("hello there", add_special_tokens=True)["input_ids"]
    assert tok.convert_ids_to_tokens(ids) == ["<s>", "hello", "<unk>"]
    assert tok("hello", add_special_tokens=False)["input_ids"] == [tok.convert_tokens_to_ids("hello")]
    assert (tok.pad_token_id, tok.bos_token_id, tok.eos_token_id, tok.unk_token_id) == (0, 1, 2, 3)
    assert tok.padding_side == "right"


def test_punctuation_is_split_and_newlines_are_not_tokens():
    assert words_of(["Label:\nyes"]) == {"Label", ":", "yes"}
    tok = build_word_tokenizer(["Label:\nyes"])
    encoding = tok(" Label:\nyes", add_special_tokens=False, return_offsets_mapping=True)
    assert tok.convert_ids_to_tokens(encoding["input_ids"]) == ["Label", ":", "yes"]
    assert [tuple(span) for span in encoding["offset_mapping"]] == [(1, 6), (6, 7), (8, 11)]
