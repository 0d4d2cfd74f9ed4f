import os

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("TLCOURSE_PROFILE", "smoke")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


def pytest_collection_modifyitems(config, items):
    """GPU-marked tests run only where CUDA is present."""
    import pytest
    import torch
    if torch.cuda.is_available():
        return
    skip = pytest.mark.skip(reason="needs a CUDA GPU")
    for item in items:
        if "gpu" in item.keywords:
            item.add_marker(skip)


@pytest.fixture(scope="module")
def tok():
    """SmolLM2's tokenizer (a module may define its own)."""
    import tlcourse
    return tlcourse.load_tokenizer("smollm2-135m")


@pytest.fixture
def tiny(tok):
    """A randomly initialised 2-layer Llama with SmolLM2's vocabulary (`tok`, the module's tokenizer
    fixture): same code paths as SmolLM2, milliseconds."""
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM
    torch.manual_seed(0)
    config = LlamaConfig(vocab_size=len(tok), hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                         num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=512,
                         tie_word_embeddings=True, bos_token_id=1, eos_token_id=2, pad_token_id=2)
    return LlamaForCausalLM(config).eval()


@pytest.fixture(scope="session")
def pairs():
    """Three French-English verse pairs: (source, target)."""
    return [("Une réponse douce calme la fureur.", "A gentle answer turns away wrath."),
            ("La langue des sages rend la science aimable.", "The tongue of the wise commends knowledge."),
            ("Dieu est amour.", "God is love.")]
