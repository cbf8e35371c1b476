from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"
DEMO_DATA = REPO / "data" / "explain-demo"


@pytest.fixture
def shared_dir() -> Path:
    if not (SHARED / "fixtures" / "real-logs").is_dir():
        pytest.skip(f"{SHARED}/fixtures/real-logs not found: the shared folder sits beside the checkout in CI")
    return SHARED


@pytest.fixture
def demo_data() -> Path:
    return DEMO_DATA


# Chat templates as the model folders of Llama-3 and Qwen (ChatML) instruct models write them.
LLAMA3_CHAT = (
    "{{ bos_token }}{% for message in messages %}{{ '<|start_header_id|>' + message['role'] + "
    "'<|end_header_id|>\n\n' + message['content'] | trim + '<|eot_id|>' }}{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|start_header_id|>assistant<|end_header_id|>\n\n' }}{% endif %}"
)
CHATML_CHAT = (
    "{% for message in messages %}{{ '<|im_start|>' + message['role'] + '\n' + message['content'] + "
    "'<|im_end|>' + '\n' }}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}"
)
MODEL_STYLES = {
    "llama3": dict(
        specials=["<|begin_of_text|>", "<|end_of_text|>", "<|start_header_id|>", "<|end_header_id|>", "<|eot_id|>"],
        bos="<|begin_of_text|>", eos="<|end_of_text|>", chat=LLAMA3_CHAT,
    ),
    "chatml": dict(
        specials=["<|endoftext|>", "<|im_start|>", "<|im_end|>"], bos=None, eos="<|endoftext|>", chat=CHATML_CHAT,
    ),
}


def build_model_folder(folder: Path, style: str, texts, *, chat: bool = True) -> Path:
    """A model folder as a download looks: a BPE tokenizer trained with `tokenizers` on `texts`,
    a tiny random LLaMA, both saved with save_pretrained (safetensors)."""
    import torch
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers
    from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

    info = MODEL_STYLES[style]
    backend = Tokenizer(models.BPE())
    backend.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    backend.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=600, special_tokens=info["specials"], initial_alphabet=pre_tokenizers.ByteLevel.alphabet()
    )
    backend.train_from_iterator(list(texts), trainer)
    if info["bos"]:  # LLaMA's tokenizer puts bos in front of every single sequence
        bos = info["bos"]
        backend.post_processor = processors.TemplateProcessing(
            single=f"{bos} $A", special_tokens=[(bos, backend.token_to_id(bos))]
        )
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=backend, bos_token=info["bos"], eos_token=info["eos"], pad_token=info["eos"]
    )
    if chat:
        tokenizer.chat_template = info["chat"]
    folder.mkdir(parents=True, exist_ok=True)
    tokenizer.save_pretrained(folder)
    torch.manual_seed(0)
    config = LlamaConfig(
        vocab_size=len(tokenizer), hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=4,
        num_key_value_heads=4, max_position_embeddings=256, tie_word_embeddings=False,
        bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id, pad_token_id=tokenizer.pad_token_id,
    )
    LlamaForCausalLM(config).save_pretrained(folder)
    return folder


@pytest.fixture(scope="session")
def model_folders(tmp_path_factory):
    """Model folders with chat templates, by style: {"llama3": path, "chatml": path}."""
    from sweeper.data.demo import demo_records

    train, _ = demo_records(0)
    texts = [r["text"] + " " + r["explanation"] + " " + r["label"] for r in train] + ["billing refund Explanation Label"]
    root = tmp_path_factory.mktemp("models")
    return {style: build_model_folder(root / style, style, texts) for style in MODEL_STYLES}


@pytest.fixture
def make_model_folder():
    return build_model_folder
