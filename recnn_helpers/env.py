"""Offline environments that batch logged transitions for the agents.

``FrameEnv`` (fixed window, the original RecNN layout) is read by the DDPG, TD3, SAC, BCQ,
REINFORCE and DQN notebooks; ``SeqEnv`` (variable-length histories) by the state
representation notebook. Both gather batches with index arithmetic over the flat arrays of
``Interactions``: no per-user Python loop, and every tensor lives on ``device``.

Reward: a rating ``r`` on the data's scale ``low..high`` (``Interactions.rating_scale``,
from the data set; ``rating_scale=`` overrides it) becomes ``(r - mid) / half`` with
``mid = (low + high) / 2`` and ``half = (high - low) / 2``, so it lies in [-1, 1] with 0 for
a middling rating (ML-100K: 1 -> -1, 3 -> 0, 5 -> 1). States carry ratings on that scale too.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator

import numpy as np
import torch

from . import _validate
from . import evaluation as _evaluation
from .data import Interactions
from .evaluation import History, default_device, history_batch

log = logging.getLogger(__name__)


def centred_rating(
    rating: torch.Tensor | np.ndarray, scale: tuple[float, float] = (1.0, 5.0)
) -> torch.Tensor | np.ndarray:
    """Map ratings on ``scale`` to [-1, 1] (the reward; see the module docstring)."""
    low, high = scale[0], scale[1]
    return (rating - (low + high) / 2) / ((high - low) / 2)


class _Env:
    """What both environments share: tensors on the device, seeded epochs and samples.

    ``done`` is 0 on every transition, the last of a user's log included: the log ends because
    the data set was cut there (the validation and test items follow), not because the user
    left, so it is a truncation and the backup bootstraps from the next state there too, as
    it does for the validation transitions. ``last`` marks each user's last transition.
    """

    def __init__(self, data, item_embeddings, batch_size, seed, device, rating_scale):
        self.device = torch.device(device) if device is not None else default_device()
        self.data = data
        table = _validate.finite_table("item_embeddings", item_embeddings, data.num_items)
        self.item_embeddings = table.to(self.device)
        batch_size = _validate.positive_int("batch_size", batch_size)
        seed = _validate.integer("seed", seed)
        # The data's own scale unless told otherwise (ML-20M's half stars: 0.5 .. 5).
        rating_scale = data.rating_scale if rating_scale is None else rating_scale
        rating_scale = _validate.rating_scale("rating_scale", rating_scale)
        self.num_items = data.num_items
        self.batch_size = batch_size
        self.rating_scale = rating_scale
        # On the env's device: a batch is drawn where it is gathered, with no copy per update.
        self.generator = torch.Generator(device=self.device).manual_seed(seed)
        self._items = torch.as_tensor(data.items, dtype=torch.int64, device=self.device)
        self._ratings = torch.as_tensor(
            centred_rating(data.ratings, rating_scale), dtype=torch.float32, device=self.device
        )

    def __len__(self) -> int:
        return len(self.positions)

    def num_batches(self, batch_size: int | None = None) -> int:
        return -(-len(self) // self._batch_size(batch_size))

    def _batch_size(self, batch_size: int | None) -> int:
        """The env's batch size, or ``batch_size`` when given (an int >= 1)."""
        return (
            self.batch_size
            if batch_size is None
            else _validate.positive_int("batch_size", batch_size)
        )

    def epoch(self, batch_size: int | None = None) -> Iterator[dict[str, torch.Tensor]]:
        """Every transition exactly once, in an order shuffled by the env's seeded generator."""
        batch_size = self._batch_size(batch_size)
        order = torch.randperm(len(self), generator=self.generator, device=self.device)
        for start in range(0, len(self), batch_size):
            yield self.batch(order[start : start + batch_size])

    def sample(self, batch_size: int | None = None) -> dict[str, torch.Tensor]:
        """A batch of transitions drawn uniformly with replacement (seeded)."""
        batch_size = self._batch_size(batch_size)
        if not len(self):
            raise ValueError(
                "the environment holds no transition: every user is too short for one (longest: "
                f"{int(self.data.lengths.max(initial=0))} interactions); use a smaller "
                "frame_size / min_history, or data with longer histories"
            )
        idx = torch.randint(len(self), (batch_size,), generator=self.generator, device=self.device)
        return self.batch(idx)

    def _index_transitions(self, per_user: np.ndarray, need: int) -> tuple[np.ndarray, ...]:
        """Lay out ``per_user[u]`` transitions for each user: sets ``users``, ``last`` and
        ``short_users`` (counted and logged, never silently lost) and returns each
        transition's user and its index among that user's transitions."""
        short = np.flatnonzero(per_user == 0)
        self.short_users = short
        if len(short):
            log.warning(
                "%d of %d users have fewer than %d interactions and give no transition "
                "(listed in env.short_users); they are still evaluated.",
                len(short), self.data.num_users, need,
            )  # fmt: skip
        first = np.repeat(np.cumsum(per_user) - per_user, per_user)
        offset_in_user = np.arange(per_user.sum()) - first
        users = np.repeat(np.arange(self.data.num_users), per_user)
        self.users = torch.as_tensor(users, device=self.device)
        self.last = torch.as_tensor(offset_in_user == per_user[users] - 1, device=self.device)
        return users, offset_in_user

    def last_transitions(self, users: np.ndarray | None = None) -> dict[str, torch.Tensor]:
        """The batch of each user's last transition (one per user with a transition): built on
        ``split.history("test")`` its actions are the validation targets.

        ``users`` (user indices) picks whose; by default the users of a validation pass
        (``evaluation.validation_users``: every user up to ``VALIDATION_USERS``, else the same
        seeded sample the evaluator validates on), so that the validation losses are read on
        the users whose NDCG selects the model, and ML-20M's 138,493 states of 1,290 floats
        (0.7 GB, twice with the next states) are never built."""
        if users is None:
            users = _evaluation.validation_users(self.data.num_users)
        last = self.last.nonzero().squeeze(1)
        chosen = torch.as_tensor(np.asarray(users, dtype=np.int64), device=self.device)
        return self.batch(last[torch.isin(self.users[last], chosen)])


class FrameEnv(_Env):
    """Transitions of ``frame_size + 1`` consecutive interactions of one user.

    A batch is a dict of tensors: ``state`` = the frame's item embeddings flattened, then
    their ratings (``frame_size * (dim + 1)``, the original RecNN layout); ``action`` /
    ``action_id`` = the next item's embedding / index; ``reward`` = its centred rating;
    ``next_state`` = the frame shifted by one; ``done`` = 0 (see ``_Env``);
    ``items`` / ``ratings`` = the raw windows ``[B, frame_size + 1]``; ``users``.
    """

    def __init__(
        self,
        data: Interactions,
        item_embeddings: torch.Tensor | np.ndarray,
        frame_size: int = 10,
        batch_size: int = 256,
        seed: int = 0,
        device: str | torch.device | None = None,
        rating_scale: tuple[float, float] | None = None,
    ):
        frame_size = _validate.positive_int("frame_size", frame_size)
        super().__init__(data, item_embeddings, batch_size, seed, device, rating_scale)
        self.frame_size = frame_size
        per_user = np.maximum(data.lengths - frame_size, 0)
        users, offset_in_user = self._index_transitions(per_user, frame_size + 1)
        self.positions = torch.as_tensor(data.offsets[users] + offset_in_user, device=self.device)
        self.state_dim = frame_size * (self.item_embeddings.shape[1] + 1)
        self._window = torch.arange(frame_size + 1, device=self.device)

    def state(
        self, items: torch.Tensor, ratings: torch.Tensor, mask: torch.Tensor | None = None
    ) -> torch.Tensor:
        """State vectors ``[B, frame_size * (dim + 1)]`` from item windows and centred ratings;
        padded positions (``mask`` False) get zero embeddings and zero ratings."""
        emb = self.item_embeddings[items]
        if mask is not None:
            emb = emb * mask.unsqueeze(-1)
            ratings = ratings * mask
        return torch.cat([emb.flatten(1), ratings], dim=1)

    def batch(self, idx: torch.Tensor) -> dict[str, torch.Tensor]:
        pos = self.positions[idx].unsqueeze(1) + self._window
        # index_select is several times faster than advanced indexing (``x[pos]``) for these
        # gathers; pos and items are valid indices by construction. The window's embeddings
        # are gathered once and shared by state, action and next_state.
        items = self._items.index_select(0, pos.flatten()).view(pos.shape)
        ratings = self._ratings.index_select(0, pos.flatten()).view(pos.shape)
        f = self.frame_size
        dim = self.item_embeddings.shape[1]
        emb = self.item_embeddings.index_select(0, items.flatten()).view(*items.shape, dim)
        return {
            "state": torch.cat([emb[:, :f].flatten(1), ratings[:, :f]], dim=1),
            "action": emb[:, f].clone(memory_format=torch.contiguous_format),
            "action_id": items[:, f],
            "reward": ratings[:, f],
            "next_state": torch.cat([emb[:, 1:].flatten(1), ratings[:, 1:]], dim=1),
            "done": torch.zeros(len(idx), device=self.device),
            "items": items,
            "ratings": ratings,
            "users": self.users[idx],
        }

    def rewards(self) -> torch.Tensor:
        """The reward of every transition, without building their states: ``batch`` over all
        of ML-20M's 18 M transitions would hold 90 GB of states."""
        return self._ratings[self.positions + self.frame_size]

    def state_from_history(self, history: History) -> torch.Tensor:
        """States for the evaluator's right-aligned histories: the last ``frame_size`` items,
        zero-padded on the left for users with a shorter history."""
        h = history.last(self.frame_size)
        pad = self.frame_size - h.items.shape[1]
        items, ratings, mask = h.items, h.ratings, h.mask
        if pad > 0:
            items = torch.nn.functional.pad(items, (pad, 0))
            ratings = torch.nn.functional.pad(ratings, (pad, 0))
            mask = torch.nn.functional.pad(mask, (pad, 0))
        ratings = torch.where(mask, centred_rating(ratings, self.rating_scale), 0.0)
        return self.state(items.to(self.device), ratings.to(self.device), mask.to(self.device))

    def eval_states(self, history: Interactions) -> torch.Tensor:
        """One state per user from the last ``frame_size`` items of ``history`` (the train part
        for validation, train + validation for test: ``split.history(phase)``)."""
        batch = history_batch(history, np.arange(history.num_users), self.frame_size)
        return self.state_from_history(batch)


class SeqEnv(_Env):
    """Variable-length transitions for learned state encoders.

    For each interaction ``t`` of a user with at least ``min_history`` items before it, the
    state is the up to ``max_len`` items before ``t``, the action is item ``t``. States are
    left-aligned and zero-padded at the end, as ``pack_padded_sequence`` expects:
    ``state`` ``[B, L, dim + 1]`` (embedding then centred rating), ``state_items``,
    ``state_lengths``; the same for ``next_state`` (history including ``t``); plus
    ``action``, ``action_id``, ``reward``, ``done``, ``users``. ``L`` is the longest history
    in the batch.
    """

    def __init__(
        self,
        data: Interactions,
        item_embeddings: torch.Tensor | np.ndarray,
        max_len: int = 50,
        min_history: int = 1,
        batch_size: int = 256,
        seed: int = 0,
        device: str | torch.device | None = None,
        rating_scale: tuple[float, float] | None = None,
    ):
        max_len = _validate.positive_int("max_len", max_len)
        min_history = _validate.positive_int("min_history", min_history)  # a state needs an item
        super().__init__(data, item_embeddings, batch_size, seed, device, rating_scale)
        self.max_len = max_len
        per_user = np.maximum(data.lengths - min_history, 0)
        users, offset_in_user = self._index_transitions(per_user, min_history + 1)
        t = offset_in_user + min_history  # index of the action inside the user's sequence
        self.positions = torch.as_tensor(data.offsets[users] + t, device=self.device)
        self.history_len = torch.as_tensor(np.minimum(t, max_len), device=self.device)
        self.next_len = torch.as_tensor(np.minimum(t + 1, max_len), device=self.device)
        self.state_dim = self.item_embeddings.shape[1] + 1

    def _windows(self, end: torch.Tensor, lengths: torch.Tensor):
        """Left-aligned windows of ``lengths`` items ending before flat position ``end``."""
        width = int(lengths.max()) if len(lengths) else 1
        col = torch.arange(width, device=self.device)
        mask = col < lengths.unsqueeze(1)
        pos = torch.where(mask, (end - lengths).unsqueeze(1) + col, 0)
        items = torch.where(mask, self._items[pos], 0)
        ratings = torch.where(mask, self._ratings[pos], 0.0)
        return items, ratings, mask

    def state(self, items: torch.Tensor, ratings: torch.Tensor, mask: torch.Tensor):
        """``[B, L, dim + 1]``: item embedding then centred rating, zeros on padding."""
        emb = self.item_embeddings[items] * mask.unsqueeze(-1)
        return torch.cat([emb, (ratings * mask).unsqueeze(-1)], dim=-1)

    def batch(self, idx: torch.Tensor) -> dict[str, torch.Tensor]:
        pos = self.positions[idx]
        s_items, s_ratings, s_mask = self._windows(pos, self.history_len[idx])
        n_items, n_ratings, n_mask = self._windows(pos + 1, self.next_len[idx])
        action_id = self._items[pos]
        return {
            "state": self.state(s_items, s_ratings, s_mask),
            "state_items": s_items,
            "state_lengths": self.history_len[idx],
            "action": self.item_embeddings[action_id],
            "action_id": action_id,
            "reward": self._ratings[pos],
            "next_state": self.state(n_items, n_ratings, n_mask),
            "next_state_items": n_items,
            "next_state_lengths": self.next_len[idx],
            "done": torch.zeros(len(idx), device=self.device),
            "users": self.users[idx],
        }

    def state_from_history(self, history: History) -> tuple[torch.Tensor, torch.Tensor]:
        """(state ``[B, L, dim + 1]``, lengths) for the evaluator's right-aligned histories,
        re-aligned to the left and cut to the last ``max_len`` items."""
        h = history.last(self.max_len)
        width = h.items.shape[1]
        lengths = h.lengths.to(self.device)
        col = torch.arange(width, device=self.device)
        src = (col.unsqueeze(0) + (width - lengths).unsqueeze(1)).clamp(max=width - 1)
        mask = col < lengths.unsqueeze(1)
        items = h.items.to(self.device).gather(1, src)
        ratings = centred_rating(h.ratings.to(self.device).gather(1, src), self.rating_scale)
        return self.state(items * mask, ratings, mask), lengths

    def eval_states(self, history: Interactions) -> tuple[torch.Tensor, torch.Tensor]:
        """(state, lengths) per user from the last ``max_len`` items of ``history``."""
        batch = history_batch(history, np.arange(history.num_users), self.max_len)
        return self.state_from_history(batch)
