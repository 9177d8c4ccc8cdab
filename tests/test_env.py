"""Property tests for recnn_helpers.env: FrameEnv and SeqEnv on random small data sets.

Each user rates each item at most once, so an item identifies its position in the user's
sequence; the expected sequences are rebuilt independently with a pandas sort.
"""

import numpy as np
import pandas as pd
import pytest
import torch
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from recnn_helpers.data import leave_one_out, to_interactions
from recnn_helpers.env import FrameEnv, SeqEnv
from recnn_helpers.evaluation import history_batch

NUM_ITEMS = 40
DIM = 3
ITEM_IDS = np.arange(NUM_ITEMS, dtype=np.int64) * 10 + 5  # raw ids of the catalogue
EMBEDDINGS = np.random.default_rng(0).normal(size=(NUM_ITEMS, DIM)).astype(np.float32)
EMB = torch.as_tensor(EMBEDDINGS)

SETTINGS = settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@st.composite
def ratings_frames(draw) -> pd.DataFrame:
    """1-8 users with 0-30 interactions each, timestamps with many ties, ratings 1-5,
    rows of all users interleaved in a random order."""
    rows = []
    for u in range(draw(st.integers(1, 8))):
        items = draw(st.lists(st.integers(0, NUM_ITEMS - 1), max_size=30, unique=True))
        n = len(items)
        ratings = draw(st.lists(st.integers(1, 5), min_size=n, max_size=n))
        times = draw(st.lists(st.integers(0, 6), min_size=n, max_size=n))
        rows += [
            (7 * u + 3, ITEM_IDS[i], float(r), t)
            for i, r, t in zip(items, ratings, times, strict=True)
        ]
    order = draw(st.permutations(range(len(rows))))
    return pd.DataFrame(
        [rows[i] for i in order], columns=["user_id", "item_id", "rating", "timestamp"]
    )


class Case:
    """A leave-one-out split of a random frame plus the independently sorted sequences."""

    def __init__(self, frame: pd.DataFrame):
        assume(len(frame) > 0)  # the empty frame is covered in test_data.py
        data = to_interactions(frame, ITEM_IDS)
        data = data.subset(np.flatnonzero(data.lengths >= 3))
        assume(data.num_users > 0)
        self.split = leave_one_out(data)
        ref = frame.assign(row=np.arange(len(frame))).sort_values(["user_id", "timestamp", "row"])
        ref["item"] = np.searchsorted(ITEM_IDS, ref.item_id)
        groups = dict(list(ref.groupby("user_id")))
        # Per user index: full item and rating sequences in time order (ties: file order).
        self.items = [groups[u].item.to_numpy() for u in data.user_ids]
        self.ratings = [groups[u].rating.to_numpy() for u in data.user_ids]
        for j in range(data.num_users):
            np.testing.assert_array_equal(data.user(j)[0], self.items[j])

    @property
    def num_users(self) -> int:
        return self.split.num_users

    def history(self, j: int, phase: str) -> tuple[np.ndarray, np.ndarray]:
        end = len(self.items[j]) - (2 if phase == "valid" else 1)
        return self.items[j][:end], self.ratings[j][:end]


def centred(r) -> np.ndarray:
    return (np.asarray(r, dtype=np.float32) - 3) / 2


def frame_state(items: np.ndarray, ratings: np.ndarray, frame_size: int) -> np.ndarray:
    """The FrameEnv layout, zero-padded on the left: embeddings flattened, then ratings."""
    pad = frame_size - len(items)
    emb = np.concatenate([np.zeros((pad, DIM), np.float32), EMBEDDINGS[items]])
    return np.concatenate([emb.ravel(), np.zeros(pad, np.float32), centred(ratings)])


def seq_state(items: np.ndarray, ratings: np.ndarray, width: int) -> np.ndarray:
    """The SeqEnv layout ``[width, DIM + 1]``: left-aligned, zero-padded at the end."""
    out = np.zeros((width, DIM + 1), np.float32)
    out[: len(items), :DIM] = EMBEDDINGS[items]
    out[: len(items), DIM] = centred(ratings)
    return out


# --------------------------------------------------------------------------- FrameEnv


@SETTINGS
@given(frame=ratings_frames(), frame_size=st.integers(1, 5), batch_size=st.integers(1, 16))
def test_frame_env_transitions(frame, frame_size, batch_size):
    case = Case(frame)
    f = frame_size
    env = FrameEnv(case.split.train, EMBEDDINGS, frame_size=f, batch_size=batch_size, device="cpu")
    train_len = [len(case.items[j]) - 2 for j in range(case.num_users)]
    expected = {(j, k) for j in range(case.num_users) for k in range(train_len[j] - f)}
    assert len(env) == len(expected)
    assert set(env.short_users.tolist()) == {
        j for j in range(case.num_users) if train_len[j] < f + 1
    }
    if len(env) == 0:
        return
    b = env.batch(torch.arange(len(env)))
    assert b["state"].shape == (len(env), f * (DIM + 1)) == (len(env), env.state_dim)
    assert b["items"].shape == b["ratings"].shape == (len(env), f + 1)
    seen = set()
    for i in range(len(env)):
        j = int(b["users"][i])
        items, ratings = case.items[j], case.ratings[j]
        k = int(np.flatnonzero(items == int(b["items"][i, 0]))[0])
        seen.add((j, k))
        window = slice(k, k + f + 1)
        # One real user, frame_size + 1 consecutive interactions, all in train.
        assert k + f < train_len[j]
        np.testing.assert_array_equal(b["items"][i].numpy(), items[window])
        np.testing.assert_allclose(b["ratings"][i].numpy(), centred(ratings[window]))
        assert case.split.valid_target[j] not in items[window]
        assert case.split.test_target[j] not in items[window]
        assert bool(env.last[i]) == (k == train_len[j] - f - 1)
        assert b["done"][i].item() == 0.0  # the end of the log is a truncation
        np.testing.assert_allclose(
            b["state"][i].numpy(), frame_state(items[k : k + f], ratings[k : k + f], f)
        )
        np.testing.assert_allclose(
            b["next_state"][i].numpy(),
            frame_state(items[k + 1 : k + f + 1], ratings[k + 1 : k + f + 1], f),
        )
        assert int(b["action_id"][i]) == items[k + f]
        np.testing.assert_allclose(b["action"][i].numpy(), EMBEDDINGS[items[k + f]])
        assert b["reward"][i].item() == pytest.approx((ratings[k + f] - 3) / 2)
    assert seen == expected
    # Exactly one last transition per user that has transitions.
    last_users = b["users"][env.last].tolist()
    assert sorted(last_users) == sorted({j for j, _ in expected})
    assert torch.equal(env.last_transitions()["users"], b["users"][env.last])


def epoch_order(env: FrameEnv) -> tuple[list[dict], list[tuple[int, int]]]:
    batches = list(env.epoch())
    keys = [
        (int(u), int(a))
        for bt in batches
        for u, a in zip(bt["users"], bt["action_id"], strict=True)
    ]
    return batches, keys


@SETTINGS
@given(
    frame=ratings_frames(),
    frame_size=st.integers(1, 4),
    batch_size=st.integers(1, 16),
    seed=st.integers(0, 2**16),
)
def test_frame_env_epoch_is_a_seeded_permutation(frame, frame_size, batch_size, seed):
    case = Case(frame)
    train = case.split.train

    def make(s):
        return FrameEnv(
            train, EMBEDDINGS, frame_size=frame_size, batch_size=batch_size, seed=s, device="cpu"
        )

    env = make(seed)
    batches, keys = epoch_order(env)
    assert len(batches) == env.num_batches()
    assert all(len(bt["users"]) <= batch_size for bt in batches)
    # (user, action item) identifies a transition since a user rates an item once.
    action_id = env.batch(torch.arange(len(env)))["action_id"]
    all_keys = [(int(u), int(a)) for u, a in zip(env.users, action_id, strict=True)]
    assert len(keys) == len(env)
    assert sorted(keys) == sorted(all_keys)
    assert len(set(keys)) == len(keys)

    same_batches, same_keys = epoch_order(make(seed))
    assert same_keys == keys
    for a, b in zip(batches, same_batches, strict=True):
        assert a.keys() == b.keys()
        for name in a:
            assert torch.equal(a[name], b[name])
    if len(env) >= 8:
        _, other_keys = epoch_order(make(seed + 1))
        assert other_keys != keys
        assert sorted(other_keys) == sorted(keys)


@SETTINGS
@given(frame=ratings_frames(), frame_size=st.integers(1, 5))
def test_frame_env_eval_states(frame, frame_size):
    case = Case(frame)
    env = FrameEnv(case.split.train, EMBEDDINGS, frame_size=frame_size, device="cpu")
    for phase in ("valid", "test"):
        states = env.eval_states(case.split.history(phase))
        assert states.shape == (case.num_users, env.state_dim)
        for j in range(case.num_users):
            items, ratings = case.history(j, phase)
            expected = frame_state(items[-frame_size:], ratings[-frame_size:], frame_size)
            np.testing.assert_allclose(states[j].numpy(), expected, atol=1e-6)
    # The test state is the state of the last transition of an env over all interactions.
    full = FrameEnv(case.split.full, EMBEDDINGS, frame_size=frame_size, device="cpu")
    states = env.eval_states(case.split.history("test"))
    if len(full):
        b = full.batch(torch.arange(len(full)))
        last = full.last
        np.testing.assert_allclose(b["state"][last], states[b["users"][last]], atol=1e-6)


def test_frame_env_rejects_wrong_embeddings():
    frame = pd.DataFrame(
        {"user_id": [1, 1, 1], "item_id": ITEM_IDS[:3], "rating": 3.0, "timestamp": [1, 2, 3]}
    )
    data = to_interactions(frame, ITEM_IDS)
    with pytest.raises(ValueError, match="rows"):
        FrameEnv(data, EMBEDDINGS[:-1], frame_size=1, device="cpu")


# --------------------------------------------------------------------------- SeqEnv


@SETTINGS
@given(frame=ratings_frames(), max_len=st.integers(1, 6), min_history=st.integers(1, 3))
def test_seq_env_transitions(frame, max_len, min_history):
    case = Case(frame)
    env = SeqEnv(
        case.split.train, EMBEDDINGS, max_len=max_len, min_history=min_history, device="cpu"
    )
    train_len = [len(case.items[j]) - 2 for j in range(case.num_users)]
    expected = {(j, t) for j in range(case.num_users) for t in range(min_history, train_len[j])}
    assert len(env) == len(expected)
    assert set(env.short_users.tolist()) == {
        j for j in range(case.num_users) if train_len[j] < min_history + 1
    }
    if len(env) == 0:
        return
    b = env.batch(torch.arange(len(env)))
    width = b["state"].shape[1]
    assert width == int(b["state_lengths"].max())
    assert b["next_state"].shape[1] == int(b["next_state_lengths"].max())
    seen = set()
    for i in range(len(env)):
        j = int(b["users"][i])
        items, ratings = case.items[j], case.ratings[j]
        t = int(np.flatnonzero(items == int(b["action_id"][i]))[0])
        seen.add((j, t))
        assert t < train_len[j]
        n = min(t, max_len)
        assert int(b["state_lengths"][i]) == n
        np.testing.assert_array_equal(b["state_items"][i, :n].numpy(), items[t - n : t])
        assert not b["state_items"][i, n:].any()
        np.testing.assert_allclose(
            b["state"][i].numpy(), seq_state(items[t - n : t], ratings[t - n : t], width)
        )
        m = min(t + 1, max_len)
        assert int(b["next_state_lengths"][i]) == m
        np.testing.assert_array_equal(
            b["next_state_items"][i, :m].numpy(), items[t + 1 - m : t + 1]
        )
        np.testing.assert_allclose(
            b["next_state"][i].numpy(),
            seq_state(
                items[t + 1 - m : t + 1], ratings[t + 1 - m : t + 1], b["next_state"].shape[1]
            ),
        )
        np.testing.assert_allclose(b["action"][i].numpy(), EMBEDDINGS[items[t]])
        assert b["reward"][i].item() == pytest.approx((ratings[t] - 3) / 2)
        assert bool(env.last[i]) == (t == train_len[j] - 1)
        assert b["done"][i].item() == 0.0
    assert seen == expected


@SETTINGS
@given(frame=ratings_frames(), max_len=st.integers(1, 6), max_history=st.sampled_from([None, 2]))
def test_seq_env_state_from_history(frame, max_len, max_history):
    case = Case(frame)
    env = SeqEnv(case.split.train, EMBEDDINGS, max_len=max_len, device="cpu")
    users = np.arange(case.num_users)
    for phase in ("valid", "test"):
        # What the evaluator hands a score function: right-aligned histories.
        history = history_batch(case.split.history(phase), users, max_history)
        state, lengths = env.state_from_history(history)
        keep = min(max_len, max_history or max_len)
        width = state.shape[1]
        for j in users:
            items, ratings = case.history(j, phase)
            n = min(len(items), keep)
            assert int(lengths[j]) == n
            expected = seq_state(items[len(items) - n :], ratings[len(items) - n :], width)
            np.testing.assert_allclose(state[j].numpy(), expected, atol=1e-6)
        eval_state, eval_lengths = env.eval_states(case.split.history(phase))
        if max_history is None:
            assert torch.equal(eval_lengths, lengths)
            np.testing.assert_allclose(eval_state.numpy(), state.numpy(), atol=1e-6)

    # The same layout as the transition whose action is the test target.
    full = SeqEnv(case.split.full, EMBEDDINGS, max_len=max_len, device="cpu")
    state, lengths = env.eval_states(case.split.history("test"))
    b = full.batch(torch.arange(len(full)))
    last = full.last.nonzero().flatten()
    for i in last.tolist():
        j = int(b["users"][i])
        n = int(b["state_lengths"][i])
        assert int(lengths[j]) == n
        np.testing.assert_allclose(b["state"][i, :n].numpy(), state[j, :n].numpy(), atol=1e-6)


def test_rewards_of_every_transition_match_the_batches():
    rng = np.random.default_rng(0)
    frame = pd.DataFrame({"user_id": np.repeat(np.arange(6), 9),
                          "item_id": rng.integers(0, 20, 54),
                          "rating": rng.integers(1, 6, 54).astype(float),
                          "timestamp": np.arange(54)})  # fmt: skip
    frame = frame.drop_duplicates(["user_id", "item_id"])
    split = leave_one_out(to_interactions(frame, np.arange(20)))
    env = FrameEnv(split.train, np.eye(20, 3, dtype=np.float32), frame_size=2)
    everything = env.batch(torch.arange(len(env)))
    assert torch.equal(env.rewards(), everything["reward"])


def test_last_transitions_read_the_validation_users(monkeypatch):
    from recnn_helpers import evaluation

    frame = pd.DataFrame(
        {
            "user_id": np.repeat(np.arange(6), 4),
            "item_id": np.tile(np.arange(4), 6),
            "rating": 4.0,
            "timestamp": np.tile(np.arange(4), 6),
        }
    )
    data = to_interactions(frame, np.arange(4))
    env = FrameEnv(data, np.eye(4, dtype=np.float32), frame_size=2)
    everyone = env.last_transitions()["users"].tolist()
    assert everyone == list(range(6))  # fewer users than a validation pass: all of them
    monkeypatch.setattr(evaluation, "VALIDATION_USERS", 3)
    sample = evaluation.validation_users(6, 3)
    assert env.last_transitions()["users"].tolist() == sample.tolist()
    assert env.last_transitions(users=[4, 1])["users"].tolist() == [1, 4]
    # The evaluator validates on the same users: the size is read when called, not when the
    # module was imported.
    split = leave_one_out(data)
    scored = []

    def score(users, history):
        scored.extend(users.tolist())
        return torch.zeros(len(users), split.num_items)

    evaluation.evaluate(score, split, "valid")
    assert scored == sample.tolist()


def test_validation_users_obey_recnn_validation_users(monkeypatch):
    from recnn_helpers import evaluation

    monkeypatch.setenv("RECNN_VALIDATION_USERS", "250")
    assert evaluation._validation_users_from_env() == 250
    monkeypatch.setenv("RECNN_VALIDATION_USERS", "0")
    with pytest.raises(ValueError, match="RECNN_VALIDATION_USERS must be a positive integer"):
        evaluation._validation_users_from_env()
    monkeypatch.delenv("RECNN_VALIDATION_USERS")
    assert evaluation._validation_users_from_env() == 10_000
