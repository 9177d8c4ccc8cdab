"""Tests for recnn_helpers.io: atomic writes, npz caches, safetensors weights, JSON, TensorBoard."""

import json
import logging
import re

import numpy as np
import pytest
import torch
from torch import nn

from recnn_helpers.io import (
    CacheError,
    atomic_write,
    load_arrays,
    load_json,
    load_or_build,
    load_weights,
    save_arrays,
    save_json,
    save_weights,
    tensorboard_writer,
)

META = {"dataset": "ml-100k", "frame_size": 10, "seed": 0}


@pytest.fixture
def arrays():
    rng = np.random.default_rng(0)
    return {
        "items": rng.integers(0, 1682, size=500, dtype=np.int64),
        "offsets": np.array([0, 120, 500], dtype=np.int64),
        "item_embeddings": rng.normal(size=(50, 8)).astype(np.float32),
    }


def test_atomic_write_replaces_on_success(tmp_path):
    path = tmp_path / "sub" / "dir" / "f.txt"
    with atomic_write(path) as tmp:
        assert tmp.parent == path.parent
        tmp.write_text("new")
    assert path.read_text() == "new"
    assert list(path.parent.iterdir()) == [path]


def test_atomic_write_keeps_old_file_when_block_raises(tmp_path):
    path = tmp_path / "f.txt"
    path.write_text("old")
    with pytest.raises(RuntimeError, match="boom"), atomic_write(path) as tmp:
        tmp.write_text("half-written")
        raise RuntimeError("boom")
    assert path.read_text() == "old"
    assert list(tmp_path.iterdir()) == [path]  # temporary file removed


def test_atomic_write_creates_nothing_when_block_raises(tmp_path):
    path = tmp_path / "f.txt"
    with pytest.raises(RuntimeError), atomic_write(path) as tmp:
        tmp.write_text("x")
        raise RuntimeError
    assert not path.exists()
    assert list(tmp_path.iterdir()) == []


def test_arrays_round_trip(tmp_path, arrays):
    path = tmp_path / "cache.npz"
    save_arrays(path, meta=META, **arrays)
    loaded, meta = load_arrays(path, expect_meta=META)
    assert meta == META
    assert set(loaded) == set(arrays)
    for name, array in arrays.items():
        assert loaded[name].dtype == array.dtype
        np.testing.assert_array_equal(loaded[name], array)


def test_arrays_accept_tensors_and_tuple_meta(tmp_path):
    path = tmp_path / "cache.npz"
    save_arrays(path, meta={"sizes": (1, 2)}, x=torch.arange(5, dtype=torch.float32))
    loaded, _ = load_arrays(path, expect_meta={"sizes": (1, 2)})  # tuple == its JSON list
    np.testing.assert_array_equal(loaded["x"], np.arange(5, dtype=np.float32))


def test_load_arrays_missing_file(tmp_path):
    with pytest.raises(CacheError, match=re.escape(str(tmp_path / "nope.npz"))):
        load_arrays(tmp_path / "nope.npz")


def test_load_arrays_rejects_truncated_file(tmp_path, arrays):
    path = tmp_path / "cache.npz"
    save_arrays(path, meta=META, **arrays)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(CacheError, match="corrupt") as info:
        load_arrays(path)
    assert str(path) in str(info.value)
    assert "rebuilt" in str(info.value)


def test_load_arrays_rejects_flipped_byte(tmp_path, arrays):
    path = tmp_path / "cache.npz"
    save_arrays(path, meta=META, **arrays)
    data = bytearray(path.read_bytes())
    data[len(data) // 3] ^= 0xFF  # inside the array data: only the zip CRC can catch it
    path.write_bytes(bytes(data))
    with pytest.raises(CacheError, match="corrupt"):
        load_arrays(path)


def test_load_arrays_rejects_meta_mismatch(tmp_path, arrays):
    path = tmp_path / "cache.npz"
    save_arrays(path, meta=META, **arrays)
    with pytest.raises(CacheError, match="frame_size") as info:
        load_arrays(path, expect_meta={**META, "frame_size": 5})
    assert str(path) in str(info.value)
    with pytest.raises(CacheError, match="extra"):
        load_arrays(path, expect_meta={**META, "extra": 1})


def test_cache_error_is_value_error():
    assert issubclass(CacheError, ValueError)


def test_save_arrays_refuses_object_arrays(tmp_path):
    with pytest.raises(TypeError, match="obj"):
        save_arrays(tmp_path / "c.npz", obj=np.array([{"a": 1}, None], dtype=object))
    assert not (tmp_path / "c.npz").exists()
    assert list(tmp_path.iterdir()) == []


def test_load_arrays_refuses_pickled_object_arrays(tmp_path):
    path = tmp_path / "evil.npz"
    np.savez(path, obj=np.array([{"a": 1}, None], dtype=object))  # pickled by numpy
    with pytest.raises(CacheError, match=r"evil\.npz"):
        load_arrays(path)


def test_save_arrays_refuses_reserved_name(tmp_path):
    with pytest.raises(ValueError, match="reserved"):
        save_arrays(tmp_path / "c.npz", __meta__=np.zeros(1))


def test_load_or_build_builds_then_loads(tmp_path, arrays):
    path = tmp_path / "cache.npz"
    calls = []

    def build():
        calls.append(1)
        return arrays

    first = load_or_build(path, build, META)
    second = load_or_build(path, build, META)
    assert len(calls) == 1
    for name in arrays:
        np.testing.assert_array_equal(first[name], arrays[name])
        np.testing.assert_array_equal(second[name], arrays[name])


def test_load_or_build_rebuilds_corrupt_cache(tmp_path, arrays, caplog):
    path = tmp_path / "cache.npz"
    path.write_bytes(b"\x93NUMPY garbage, not an npz" * 10)
    with caplog.at_level(logging.WARNING, logger="recnn_helpers.io"):
        result = load_or_build(path, lambda: arrays, META)
    for name in arrays:
        np.testing.assert_array_equal(result[name], arrays[name])
    assert str(path) in caplog.text
    # The rebuilt cache is now valid on disk.
    loaded, meta = load_arrays(path, expect_meta=META)
    assert meta == META
    np.testing.assert_array_equal(loaded["items"], arrays["items"])


def test_load_or_build_rebuilds_on_meta_mismatch(tmp_path, caplog):
    path = tmp_path / "cache.npz"
    save_arrays(path, meta={"seed": 0}, x=np.zeros(3))
    with caplog.at_level(logging.WARNING, logger="recnn_helpers.io"):
        result = load_or_build(path, lambda: {"x": np.ones(3)}, {"seed": 1})
    np.testing.assert_array_equal(result["x"], np.ones(3))
    assert "seed" in caplog.text
    np.testing.assert_array_equal(load_arrays(path, {"seed": 1})[0]["x"], np.ones(3))


class Actor(nn.Module):
    def __init__(self, hidden: int = 16):
        super().__init__()
        self.net = nn.Sequential(nn.Linear(8, hidden), nn.ReLU(), nn.Linear(hidden, 4))
        self.norm = nn.BatchNorm1d(4)  # buffers (running stats) must round-trip too


def test_weights_round_trip_exactly(tmp_path):
    torch.manual_seed(0)
    actor = Actor()
    actor.norm.running_mean.normal_()
    path = tmp_path / "w" / "actor.safetensors"
    save_weights(path, actor, meta={"hidden": 16, "frame_size": [10, 20]})
    torch.manual_seed(1)
    other = Actor()
    state, meta = load_weights(path, other)
    assert meta == {"hidden": 16, "frame_size": [10, 20]}
    for name, tensor in actor.state_dict().items():
        assert torch.equal(other.state_dict()[name], tensor), name
        assert torch.equal(state[name], tensor), name


def test_weights_accept_state_dict_with_tied_tensors(tmp_path):
    emb = torch.randn(5, 3)
    save_weights(tmp_path / "w.safetensors", {"a": emb, "b": emb})
    state, meta = load_weights(tmp_path / "w.safetensors")
    assert meta == {}
    assert torch.equal(state["a"], emb) and torch.equal(state["b"], emb)


def test_load_weights_refuses_wrong_shaped_module(tmp_path):
    path = tmp_path / "actor.safetensors"
    save_weights(path, Actor(hidden=16))
    with pytest.raises(RuntimeError, match=r"actor\.safetensors"):
        load_weights(path, Actor(hidden=32))


def test_load_weights_refuses_missing_keys(tmp_path):
    path = tmp_path / "lin.safetensors"
    save_weights(path, nn.Linear(8, 16))
    with pytest.raises(RuntimeError):
        load_weights(path, Actor())


def test_load_weights_missing_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="no saved weights"):
        load_weights(tmp_path / "missing.safetensors")


def test_load_weights_corrupt_file(tmp_path):
    path = tmp_path / "bad.safetensors"
    path.write_bytes(b"not a safetensors file")
    with pytest.raises(ValueError, match=r"bad\.safetensors"):
        load_weights(path)


def test_json_round_trip_sorted_and_numpy_scalars(tmp_path):
    path = tmp_path / "res" / "metrics.json"
    save_json(path, {"b": np.float64(0.5), "a": [1, 2], "c": np.arange(2)})
    text = path.read_text()
    assert text.index('"a"') < text.index('"b"') < text.index('"c"')
    assert "\n  " in text  # indented
    assert load_json(path) == {"a": [1, 2], "b": 0.5, "c": [0, 1]}


def test_save_json_keeps_old_file_on_unserialisable(tmp_path):
    path = tmp_path / "m.json"
    save_json(path, {"ok": 1})
    with pytest.raises(TypeError):
        save_json(path, {"bad": object()})
    assert json.loads(path.read_text()) == {"ok": 1}


def test_load_json_names_file(tmp_path):
    path = tmp_path / "broken.json"
    path.write_text("{not json")
    with pytest.raises(ValueError, match=r"broken\.json"):
        load_json(path)


def test_tensorboard_writer_logs_hyperparameters(tmp_path):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    writer = tensorboard_writer("td3", {"gamma": 0.99, "batch_size": 64}, root=tmp_path)
    writer.close()
    (run,) = tmp_path.iterdir()
    assert re.fullmatch(r"td3-\d{8}-\d{6}", run.name)
    events = EventAccumulator(str(run))
    events.Reload()
    (tag,) = events.Tags()["tensors"]
    assert tag.startswith("hyperparameters")
    text = events.Tensors(tag)[0].tensor_proto.string_val[0].decode()
    assert "|gamma|0.99|" in text and "|batch_size|64|" in text


def test_weights_probe_catches_a_class_that_drifted(tmp_path):
    import torch
    from torch import nn

    from recnn_helpers.io import load_weights, save_weights

    class Actor(nn.Module):
        def __init__(self, scale=1.0):
            super().__init__()
            self.net = nn.Linear(3, 2)
            self.scale = scale

        def forward(self, x):
            return self.scale * torch.tanh(self.net(x))

    torch.manual_seed(0)
    path = tmp_path / "actor.safetensors"
    saved = Actor()
    save_weights(path, saved, meta={"notebook": "n.ipynb"}, probe_input=torch.randn(4, 3))
    state, _ = load_weights(path, Actor())  # the same class: loads, probe passes
    assert set(state) == {"net.weight", "net.bias"}
    with pytest.raises(RuntimeError, match="copy its class again from the notebook"):
        load_weights(path, Actor(scale=2.0))  # same weights, other forward: caught


def test_policies_saved_per_seed_are_found_and_checked(tmp_path, monkeypatch):
    from recnn_helpers.io import policy_path, save_policy, saved_policy_seeds

    monkeypatch.setenv("RECNN_HOME", str(tmp_path))
    monkeypatch.setenv("RECNN_DATA", str(tmp_path / "data"))
    monkeypatch.delenv("RECNN_SMOKE", raising=False)
    torch.manual_seed(0)
    probe = torch.randn(4, 3)
    assert saved_policy_seeds("td3-bc") == []  # no folder yet: nothing, no error
    for seed in (2, 0):
        path = save_policy("td3-bc", seed, nn.Linear(3, 2), probe_input=probe, alpha=0.0)
        assert path == policy_path("td3-bc", seed)
    save_policy("td3", 1, nn.Linear(3, 2), probe_input=probe)
    assert saved_policy_seeds("td3-bc") == [0, 2]  # 'td3' is another policy
    _, meta = load_weights(policy_path("td3-bc", 2), nn.Linear(3, 2))
    assert meta == {"alpha": 0.0, "policy": "td3-bc", "seed": 2}

    class Drifted(nn.Linear):
        def forward(self, x):
            return torch.tanh(super().forward(x))

    with pytest.raises(RuntimeError, match="computes other outputs"):
        load_weights(policy_path("td3-bc", 0), Drifted(3, 2))


@pytest.mark.parametrize("slug", ["", "td3/bc", "../x", "td3 bc", None])
def test_policy_path_refuses_names_that_leave_the_folder(slug):
    from recnn_helpers.io import policy_path

    with pytest.raises(ValueError, match="policy name"):
        policy_path(slug, 0)


def test_policy_path_refuses_bad_seeds():
    from recnn_helpers.io import policy_path

    for seed in (-1, 1.5, True, "0"):
        with pytest.raises(ValueError, match="seed"):
            policy_path("td3", seed)


def test_scalar_log_reads_the_device_once_every_n_steps(tmp_path, monkeypatch):
    import torch
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    from recnn_helpers.io import ScalarLog

    reads = []
    for method in ("item", "tolist", "__float__"):
        original = getattr(torch.Tensor, method)

        def counted(self, *a, _original=original, **k):
            reads.append(self.numel())
            return _original(self, *a, **k)

        monkeypatch.setattr(torch.Tensor, method, counted)
    writer = tensorboard_writer("run", {}, root=tmp_path)
    log = ScalarLog(writer, every=5)
    for step in range(1, 8):
        loss = torch.tensor(float(step), requires_grad=True) * 2
        log.add(step, {"loss": loss, "mean_q": loss / 4})
        if step == 5:
            log.add(step, {"valid_ndcg": 0.5})  # a number waits with the tensors
        if step < 5:
            assert not reads and not log.history, "read before the 5th step"
    assert reads == [10]  # steps 1-5, two tensors each, in one transfer
    log.close()  # steps 6 and 7
    assert len(reads) == 2
    assert log.history["loss"] == [(s, 2.0 * s) for s in range(1, 8)]
    assert log.values("mean_q") == [s / 2 for s in range(1, 8)]
    assert log.last("valid_ndcg") == 0.5 and log.history["valid_ndcg"] == [(5, 0.5)]
    (run,) = tmp_path.iterdir()
    events = EventAccumulator(str(run))
    events.Reload()
    assert [(e.step, e.value) for e in events.Scalars("loss")] == log.history["loss"]
    with pytest.raises(ValueError, match="every must be an int >= 1"):
        ScalarLog(every=0)
    with pytest.raises(ValueError, match="a scalar is one value"):
        ScalarLog().add(1, {"x": torch.ones(2)})
    with pytest.raises(KeyError, match="no scalar 'nope'"):
        log.last("nope")
