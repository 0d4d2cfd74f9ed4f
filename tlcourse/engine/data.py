"""Data for training: profile subsets, a learner's own CSV/JSON or DatasetDict (load_splits: one resolver
for every data spec, with the hash and name result files record), and tokenising with a warning.

    ds = load_table("my_reviews.csv", text_column="review", label_column="stars",
                    labels=["bad", "good"])
    ds = load_splits("my_reviews.csv", "review", "stars")  # any data spec -> train/test splits
    data_hash(ds), data_name("my_reviews.csv")     # what result files record and are named by
    ds = take(tlcourse.load_dataset("rotten_tomatoes"), get_profile())
    enc = tokenize(ds, tokenizer, max_length=64)
"""
import hashlib
import json
import os
from pathlib import Path

from .config import ROOT
from .corpora import DATASETS
from .loaders import load_dataset
from .quiet import no_data_bars, warn

READERS = {".csv": "csv", ".tsv": "csv", ".json": "json", ".jsonl": "json", ".parquet": "parquet"}


class DataError(ValueError):
    """A learner's data cannot be used as given; the message says how to fix it."""


def take(ds, profile, seed: int = 0):
    """The profile's subset of each split: train_size for train (drawn with `seed`), eval_size for
    the others (always drawn with seed 0: every seed is scored on the same items)."""
    import datasets
    out = {}
    for split, part in ds.items():
        n, order = (profile.train_size, seed) if split == "train" else (profile.eval_size, 0)
        out[split] = part if n is None or n >= len(part) else part.shuffle(seed=order).select(range(n))
    return datasets.DatasetDict(out)


VALIDATION_SHARE = 0.2  # of the training split, held out for validation when eval_size is larger or None


def validation_size(n_train: int, profile) -> int:
    """Rows of the training split held out for validation: eval_size, at most a fifth of it."""
    share = max(1, round(VALIDATION_SHARE * n_train))
    return min(profile.eval_size, share) if profile.eval_size else share


def protocol_splits(ds, profile, seed: int = 0, train_size: int | None = None):
    """train / validation / test for the experiments: the same validation and test items for every
    seed and method; the seed draws only the training subset.

    Validation is held out of the training split with seed 0 (so it never overlaps any seed's
    training subset); the test split is the profile's eval_size drawn with seed 0."""
    import datasets
    pool = ds["train"].shuffle(seed=0)
    n_val = validation_size(len(pool), profile)
    val, rest = pool.select(range(n_val)), pool.select(range(n_val, len(pool)))
    n = train_size or profile.train_size
    train = rest if n is None or n >= len(rest) else rest.shuffle(seed=seed).select(range(n))
    test = take(datasets.DatasetDict(test=ds["test"]), profile)["test"]
    return datasets.DatasetDict(train=train, validation=val, test=test)


def training_pool_size(ds, profile) -> int:
    """Rows a training subset can be drawn from: the training split less the validation rows."""
    return len(ds["train"]) - validation_size(len(ds["train"]), profile)


def _read(path: Path, encoding: str):
    import datasets
    no_data_bars()
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


def is_file(data) -> bool:
    """True when a data spec is a file to read with load_table: a Path, an existing file, or a
    name ending in a table suffix (.csv, .json, ...); course and hub names are none of these."""
    if isinstance(data, os.PathLike):
        return True
    return isinstance(data, str) and (Path(data).suffix in READERS or Path(data).is_file())


def course_data(data) -> bool:
    """True for one of the course's own datasets, named (DATASETS): the lessons chose their lengths for
    them and say so. A learner's file, hub id or DatasetDict is not."""
    return isinstance(data, str) and not is_file(data) and data in DATASETS


def load_splits(data, text_column: str = "text", label_column: str = "label"):
    """The train and test splits, with `text` and a ClassLabel `label`, of any data spec.

    data: a course dataset name (loaders.load_dataset), a csv/tsv/json/jsonl/parquet file
    (load_table, with the column names given) or a datasets.DatasetDict (renamed the same way).
    """
    import datasets
    if isinstance(data, datasets.DatasetDict):
        ds, where = _text_label(data, text_column, label_column), "the DatasetDict"
    elif is_file(data):
        ds, where = load_table(data, text_column, label_column), Path(data).name
    else:
        ds, where = load_dataset(data), repr(data)
    missing = [s for s in ("train", "test") if s not in ds]
    if missing:
        raise DataError(f"{where} has no {' or '.join(missing)} split; its splits are {list(ds)}. "
                        "Experiments train on train and score on test.")
    return datasets.DatasetDict({s: ds[s] for s in ("train", "test")})


def _text_label(ds, text_column: str, label_column: str):
    """A learner's DatasetDict with its columns renamed to text/label and class-indexed labels."""
    import datasets
    columns = next(iter(ds.values())).column_names if ds else []
    missing = [c for c in (text_column, label_column) if c not in columns]
    if missing:
        raise DataError(f"the DatasetDict has no column {', '.join(map(repr, missing))}; its "
                        f"columns are {columns}. Pass text_column=... and label_column=... "
                        "naming yours.")
    ds = ds.rename_columns({c: n for c, n in ((text_column, "text"), (label_column, "label"))
                            if c != n})
    if all(isinstance(part.features["label"], datasets.ClassLabel) for part in ds.values()):
        return ds
    names = [str(v) for v in sorted({v for part in ds.values() for v in part.unique("label")})]
    return datasets.DatasetDict({s: _encode_labels(part, names) for s, part in ds.items()})


def data_hash(ds) -> str:
    """sha256 of every split's texts and labels, in order (16 hex digits): any changed row,
    added row or relabelled row changes it."""
    digest = hashlib.sha256()
    for split in sorted(ds):
        digest.update(json.dumps([split, list(ds[split]["text"]), list(ds[split]["label"])]).encode())
    return digest.hexdigest()[:16]


def data_name(data, text_column: str = "text", label_column: str = "label") -> str:
    """How result files name a data spec: the course name, a file's stem ("<stem>-file" when the
    stem is a course dataset's name), or "custom-<first 8 of its data_hash>" for a DatasetDict."""
    if is_file(data):
        stem = Path(data).stem
        return f"{stem}-file" if stem in DATASETS else stem
    if isinstance(data, str):
        return data
    return f"custom-{data_hash(load_splits(data, text_column, label_column))[:8]}"


def data_source(data) -> str:
    """What a result file records as the data given: the name, a file's path (from the course
    checkout when the file lies inside it, so no machine path is written), or a DatasetDict's shape."""
    if is_file(data) and Path(data).resolve().is_relative_to(ROOT):
        return Path(data).resolve().relative_to(ROOT).as_posix()
    if isinstance(data, (str, os.PathLike)):
        return str(data)
    return "DatasetDict(" + ", ".join(f"{s}: {len(part)} rows" for s, part in data.items()) + ")"


def tokenize(ds, tokenizer, max_length: int, text_column: str = "text", quiet: bool = False):
    """Tokenise without padding (the collator pads each batch); warns how many were truncated.

    quiet: the cut is the caller's own choice, stated where it is made (a lesson's profile length on
    the course's data, masked-LM texts cut to a block): no warning a learner could not act on."""
    import datasets

    def encode(batch):
        full = tokenizer(batch[text_column])["input_ids"]
        enc = tokenizer(batch[text_column], truncation=True, max_length=max_length)
        enc["truncated"] = [len(ids) > max_length for ids in full]
        return enc
    out = ds.map(encode, batched=True, remove_columns=[text_column])
    parts = list(out.values()) if isinstance(out, datasets.DatasetDict) else [out]
    cut, total = sum(sum(p["truncated"]) for p in parts), sum(len(p) for p in parts)
    if cut and not quiet:
        warn(f"{cut} of {total} texts are longer than {max_length} tokens and were "
             "truncated; raise max_length (or the profile's) to keep more of them")
    return out.remove_columns("truncated")
