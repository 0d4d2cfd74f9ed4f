"""Data for training: profile subsets, a learner's own CSV/JSON, and tokenising with a warning.

    ds = load_table("my_reviews.csv", text_column="review", label_column="stars",
                    labels=["bad", "good"])
    ds = take(tlcourse.load_dataset("rotten_tomatoes"), get_profile())
    enc = tokenize(ds, tokenizer, max_length=64)
"""
from pathlib import Path

from .quiet import warn

READERS = {".csv": "csv", ".tsv": "csv", ".json": "json", ".jsonl": "json", ".parquet": "parquet"}


class DataError(ValueError):
    """A learner's data cannot be used as given; the message says how to fix it."""


def take(ds, profile, seed: int = 0):
    """The profile's subset of each split: train_size for train, eval_size for the others."""
    import datasets
    out = {}
    for split, part in ds.items():
        n = profile.train_size if split == "train" else profile.eval_size
        out[split] = part if n is None or n >= len(part) else part.shuffle(seed=seed).select(range(n))
    return datasets.DatasetDict(out)


def _read(path: Path, encoding: str):
    import datasets
    if not path.exists():
        raise DataError(f"{path} does not exist")
    if path.suffix not in READERS:
        raise DataError(f"{path.name}: use one of {', '.join(READERS)} files")
    if path.stat().st_size == 0:
        raise DataError(f"{path.name} is empty: it needs a header and at least one row")
    kwargs = {"delimiter": "\t"} if path.suffix == ".tsv" else {}
    if READERS[path.suffix] == "csv":
        kwargs["encoding"] = encoding
    try:
        return datasets.load_dataset(READERS[path.suffix], data_files=str(path), split="train",
                                     **kwargs)
    except Exception as err:  # the reader's own message is deep in a chained traceback
        cause = err
        while cause.__cause__ or cause.__context__:
            if isinstance(cause, UnicodeDecodeError):
                break
            cause = cause.__cause__ or cause.__context__
        if isinstance(cause, UnicodeDecodeError):
            raise DataError(f"{path.name} is not valid {encoding} text ({cause.reason} at byte "
                            f"{cause.start}): re-save it as UTF-8, or pass encoding='latin-1' "
                            "(or the file's real encoding)") from err
        if "corresponds to no data" in str(err):
            raise DataError(f"{path.name} has a header but no rows") from err
        raise DataError(f"{path.name} could not be read as {READERS[path.suffix]}: {err}") from err


def load_table(path, text_column: str = "text", label_column: str | None = "label",
               labels=None, encoding: str = "utf-8", test_size: float = 0.2, seed: int = 0):
    """A learner's CSV/TSV/JSON(L)/parquet as a DatasetDict with `text` and integer `label`.

    labels: the class names; string labels are mapped to their index, integer labels must
    lie in range(len(labels)). Rows are split into train/test with a fixed seed.
    """
    ds = _read(Path(path), encoding)
    wanted = [c for c in (text_column, label_column) if c]
    missing = [c for c in wanted if c not in ds.column_names]
    if missing:
        raise DataError(f"{Path(path).name} has no column {', '.join(map(repr, missing))}; its "
                        f"columns are {ds.column_names}. Pass text_column=... and "
                        "label_column=... naming yours.")
    if len(ds) == 0:
        raise DataError(f"{Path(path).name} has a header but no rows")
    ds = ds.rename_columns({c: n for c, n in ((text_column, "text"), (label_column, "label"))
                            if c and c != n})
    if label_column:
        ds = _encode_labels(ds, labels)
    return ds.train_test_split(test_size=test_size, seed=seed) if test_size else ds


def _encode_labels(ds, labels):
    import datasets
    values = ds.unique("label")
    names = list(labels) if labels is not None else sorted(map(str, values))
    if all(isinstance(v, str) for v in values):
        outside = sorted(set(values) - set(names))
        to_id = {name: i for i, name in enumerate(names)}
        ds = ds.map(lambda row: {"label": to_id.get(row["label"], -1)}) if not outside else ds
    else:
        outside = sorted(v for v in values if v not in range(len(names)))
    if outside:
        raise DataError(f"labels {outside[:10]} are outside the declared set {names}: fix those "
                        "rows, or pass labels=[...] listing every class")
    return ds.cast_column("label", datasets.ClassLabel(names=names))


def tokenize(ds, tokenizer, max_length: int, text_column: str = "text"):
    """Tokenise without padding (the collator pads each batch); warns how many were truncated."""
    import datasets

    def encode(batch):
        full = tokenizer(batch[text_column])["input_ids"]
        enc = tokenizer(batch[text_column], truncation=True, max_length=max_length)
        enc["truncated"] = [len(ids) > max_length for ids in full]
        return enc
    out = ds.map(encode, batched=True, remove_columns=[text_column])
    parts = list(out.values()) if isinstance(out, datasets.DatasetDict) else [out]
    cut, total = sum(sum(p["truncated"]) for p in parts), sum(len(p) for p in parts)
    if cut:
        warn(f"{cut} of {total} texts are longer than {max_length} tokens and were "
             "truncated; raise max_length (or the profile's) to keep more of them")
    return out.remove_columns("truncated")
