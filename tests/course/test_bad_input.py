"""Bad input ends in a clear message that says what to do."""
import pytest

import tlcourse
from tlcourse.engine.data import DataError, load_table, tokenize


def write(tmp_path, name, content, mode="w"):
    path = tmp_path / name
    (path.write_bytes if mode == "wb" else path.write_text)(content)
    return path


def test_missing_columns_are_named_with_the_fix(tmp_path):
    path = write(tmp_path, "reviews.csv", "review,stars\ngreat film,good\nawful,bad\n")
    with pytest.raises(DataError, match=r"no column 'text'.*\['review', 'stars'\].*text_column="):
        load_table(path)
    ds = load_table(path, text_column="review", label_column="stars", labels=["bad", "good"],
                    test_size=0)
    assert ds["label"] == [1, 0] and ds.features["label"].names == ["bad", "good"]


def test_empty_file_and_header_only(tmp_path):
    with pytest.raises(DataError, match="empty"):
        load_table(write(tmp_path, "empty.csv", ""))
    with pytest.raises(DataError, match="no rows"):
        load_table(write(tmp_path, "header.csv", "text,label\n"))


def test_labels_outside_the_declared_set(tmp_path):
    path = write(tmp_path, "r.csv", "text,label\na,pos\nb,neg\nc,meh\n")
    with pytest.raises(DataError, match=r"\['meh'\] are outside the declared set"):
        load_table(path, labels=["neg", "pos"])
    ints = write(tmp_path, "i.jsonl", '{"text": "a", "label": 0}\n{"text": "b", "label": 7}\n')
    with pytest.raises(DataError, match=r"\[7\] are outside"):
        load_table(ints, labels=["neg", "pos"])


def test_non_utf8_text_says_how_to_read_it(tmp_path):
    path = write(tmp_path, "latin.csv", "text,label\ncaf\xe9 cr\xe8me,1\nbad,0\n".encode("latin-1"),
                 mode="wb")
    with pytest.raises(DataError, match="encoding='latin-1'"):
        load_table(path)
    assert load_table(path, encoding="latin-1", test_size=0)["text"][0] == "café crème"


def test_long_texts_are_truncated_with_a_count(tmp_path):
    import datasets
    tok = tlcourse.load_tokenizer("minilm-l6")
    ds = datasets.Dataset.from_dict({"text": ["short one", "word " * 100], "label": [0, 1]})
    with pytest.warns(UserWarning, match="1 of 2 texts are longer than 16 tokens"):
        enc = tokenize(ds, tok, max_length=16)
    assert max(len(ids) for ids in enc["input_ids"]) == 16


def test_a_cut_the_course_chose_is_not_warned_about(tmp_path):
    """The learner's own data is warned about; the course's data at a lesson's length, and masked-LM
    texts cut to their block (lesson 08's adaptation), are the lesson's choice: no warning."""
    import warnings
    import datasets
    from tlcourse.engine.data import course_data
    from tlcourse.methods.adapt import continue_pretraining, DAPTConfig
    tok = tlcourse.load_tokenizer("minilm-l6")
    ds = datasets.Dataset.from_dict({"text": ["short one", "word " * 100], "label": [0, 1]})
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # any warning fails
        enc = tokenize(ds, tok, max_length=16, quiet=True)
        mlm = tlcourse.load_model("minilm-l6", task="masked-lm")
        continue_pretraining(mlm, tok, ["word " * 100] * 2, DAPTConfig(steps=1, batch_size=2, block_size=16), masked=True)
    assert max(len(ids) for ids in enc["input_ids"]) == 16
    assert course_data("rotten_tomatoes") and not course_data(str(write(tmp_path, "mine.csv", "text,label\na,0\n")))


def test_unknown_task_is_refused():
    with pytest.raises(ValueError, match="unknown task 'regression'"):
        tlcourse.load_model("minilm-l6", task="regression")


def test_online_only_name_offline_names_the_equivalent():
    from tlcourse.engine.loaders import UnknownNameError
    with pytest.raises(UnknownNameError, match="offline.*nearest offline model is 'smollm2-135m'"):
        tlcourse.load_model("HuggingFaceTB/SmolLM2-360M")


@pytest.mark.parametrize("field, value", [("batch_size", 0), ("lr", -1e-3), ("epochs", 0),
                                          ("schedule", "cosine"), ("mixed_precision", "fp8")])
def test_impossible_train_config_values(field, value):
    from tlcourse.engine.train import TrainConfig
    with pytest.raises(ValueError, match=f"impossible TrainConfig values: {field}="):
        TrainConfig(**{field: value})


def test_unknown_method_is_refused():
    from tlcourse.experiments.method_grid import Experiment
    with pytest.raises(ValueError, match="unknown method 'prompt-tuning'.*lora"):
        Experiment("prompt-tuning")


def test_out_of_memory_names_the_step_and_a_smaller_setting(tmp_path, monkeypatch):
    import datasets
    import torch
    from tlcourse.engine.failures import OutOfMemoryError
    from tlcourse.engine.train import TrainConfig, fit
    tok = tlcourse.load_tokenizer("minilm-l6")
    ds = datasets.Dataset.from_dict(dict(tok(["a b c"] * 8), labels=[0, 1] * 4))
    model = tlcourse.load_model("minilm-l6", task="classification", num_labels=2)
    real = model.forward
    calls = {"n": 0}

    def forward(*args, **kwargs):  # the third batch does not fit
        calls["n"] += 1
        if calls["n"] == 3:
            raise torch.OutOfMemoryError("CUDA out of memory (simulated)")
        return real(*args, **kwargs)
    monkeypatch.setattr(model, "forward", forward)
    config = TrainConfig(batch_size=2, epochs=1, progress=False, checkpoint_dir=str(tmp_path),
                         checkpoint_every=1)
    with pytest.raises(OutOfMemoryError, match=r"step 3\. Try batch_size=1 with grad_accum=2.*resume=True"):
        fit(model, ds, None, config, tokenizer=tok)
    assert any(p.name.startswith("step-") for p in tmp_path.iterdir())  # steps 1-2 are kept


def test_no_tokens_or_machine_paths_in_committed_outputs():
    import re
    from tlcourse.engine.config import ROOT
    bad = re.compile(r"hf_[A-Za-z0-9]{20,}|/work/|/root/|/home/\w+/|/tmp/")
    files = [*ROOT.glob("notebooks/*.ipynb"), *ROOT.glob("solutions/*.ipynb"),
             *ROOT.glob("exercises/*.ipynb"), *ROOT.glob("results/**/*.json")]
    leaks = [f.name for f in files if bad.search(f.read_text())]
    assert not leaks, f"outputs hold a token or machine path: {leaks}"
