"""Safe file I/O shared by the notebooks: caches, weights, results and TensorBoard runs.

Nothing here uses pickle: arrays go to `.npz` with `allow_pickle=False`, weights to
safetensors, everything else to JSON. Every write is atomic, so a run killed half-way never
leaves a half-written file that a later run would trust.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
import time
import uuid
import zipfile
import zlib
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import save_file

from recnn_helpers import paths, smoke_mode

if TYPE_CHECKING:
    from torch.utils.tensorboard import SummaryWriter

__all__ = [
    "CacheError",
    "atomic_write",
    "check_output_path",
    "load_arrays",
    "load_json",
    "load_or_build",
    "load_weights",
    "policy_path",
    "save_arrays",
    "save_json",
    "save_policy",
    "save_weights",
    "saved_policy_seeds",
    "ScalarLog",
    "tensorboard_writer",
    "to_numpy",
]

logger = logging.getLogger(__name__)

PathLike = str | os.PathLike[str]

# Reserved npz member that holds the JSON-encoded metadata.
_META_KEY = "__meta__"

# What numpy/zipfile raise on a missing, truncated or garbage npz file.
_READ_ERRORS = (OSError, ValueError, EOFError, KeyError, zipfile.BadZipFile, zlib.error)


class CacheError(ValueError):
    """A cache file is missing, unreadable or was built with other settings."""


def to_numpy(x: Any) -> np.ndarray:
    """Return `x` as a numpy array; torch tensors are detached and moved to the CPU.

    Used by `save_arrays` and every plot in `recnn_helpers.plots`.
    """
    if isinstance(x, torch.Tensor):
        return x.detach().cpu().numpy()
    return np.asarray(x)


@contextmanager
def atomic_write(path: PathLike) -> Iterator[Path]:
    """Yield a temporary path next to `path`; move it over `path` only if the block succeeds.

    Used by every save function here and by the plots. On an exception the temporary file
    is removed and whatever was at `path` before is left untouched.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    # Same folder so that os.replace is an atomic rename, never a cross-device copy; the
    # suffix is kept so that writers that infer the format from the name still work.
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex[:8]}.tmp{path.suffix}")
    try:
        yield tmp
        _fsync(tmp)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def check_output_path(path: PathLike) -> Path:
    """Return `path`; raise ValueError if a smoke run would write it into the full run's folders.

    Used by `save_json`, `save_weights` and `plots.save_figure`. With `RECNN_SMOKE=1` nothing
    may land in the full run's `res/` or `models/` folder (`recnn_helpers.paths(smoke=False)`),
    so a smoke run can never overwrite the figures, results or weights of the full run.
    """
    path = Path(path)
    if not smoke_mode():
        return path
    full, smoke = paths(smoke=False), paths(smoke=True)
    target = path.expanduser().resolve()
    for folder, name, smoke_folder in (
        (full.res, "RES_DIR", smoke.res),
        (full.models, "MODELS_DIR", smoke.models),
    ):
        if target.is_relative_to(folder):
            raise ValueError(
                f"{path}: RECNN_SMOKE=1 but this is inside the full run's folder {folder}; "
                f"write under recnn_helpers.{name} ({smoke_folder} in smoke mode), re-running "
                "the import cell after changing RECNN_SMOKE, or unset RECNN_SMOKE"
            )
    return path


def shown_path(path: PathLike) -> str:
    """``path`` as a notebook prints it: relative to the project folder when inside it (the
    same on every machine), else absolute (``RECNN_DATA`` or ``RECNN_RES`` elsewhere)."""
    path = Path(path).expanduser().resolve()
    home = paths().home
    return str(path.relative_to(home)) if path.is_relative_to(home) else str(path)


def _check_readable(path: Path) -> None:
    """Raise a PermissionError that names the fix when `path` exists but cannot be read
    (libraries such as safetensors report that as "No such file or directory")."""
    try:
        open(path, "rb").close()
    except PermissionError as e:
        raise PermissionError(
            f"{path}: cannot be read (permission denied); make it readable (chmod u+r {path})"
        ) from e


def _fsync(path: Path) -> None:
    # Flush to disk before the rename, or a power cut could leave an empty file at `path`.
    with open(path, "rb") as f:
        os.fsync(f.fileno())


def _canonical(meta: Mapping[str, Any] | None) -> dict[str, Any]:
    # A JSON round trip turns tuples into lists, so compare metadata in that form.
    return json.loads(json.dumps(dict(meta or {}), sort_keys=True, default=_json_default))


def save_arrays(path: PathLike, meta: Mapping[str, Any] | None = None, **arrays: Any) -> None:
    """Write numeric arrays and JSON metadata to an `.npz` file, atomically and without pickle.

    Used for the data caches (sequences, embeddings) in the vanilla RL, BCQ and REINFORCE
    notebooks. The metadata should hold whatever the arrays depend on (dataset, split, seed).
    """
    if _META_KEY in arrays:
        raise ValueError(f"{path}: {_META_KEY!r} is reserved for the metadata; rename that array")
    arrays = {name: to_numpy(value) for name, value in arrays.items()}
    for name, array in arrays.items():
        if array.dtype.hasobject:
            raise TypeError(
                f"{path}: array {name!r} has dtype object, which needs pickle; "
                "convert it to a numeric or fixed-width string dtype"
            )
    meta_json = np.array(json.dumps(_canonical(meta), sort_keys=True))
    with atomic_write(path) as tmp, open(tmp, "wb") as f:
        # A file object, not a name: np.savez would append ".npz" to the temporary name.
        np.savez(f, allow_pickle=False, **arrays, **{_META_KEY: meta_json})


def load_arrays(
    path: PathLike, expect_meta: Mapping[str, Any] | None = None
) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    """Read a file written by `save_arrays` and return `(arrays, meta)`.

    Used through `load_or_build` by the vanilla RL, BCQ and REINFORCE notebooks. Raises
    `CacheError` when the file is missing, truncated, not an npz, holds pickled objects, or
    (when `expect_meta` is given) was built with different metadata.
    """
    path = Path(path)
    if not path.is_file():
        raise CacheError(f"{path}: cache file not found; build it (load_or_build does this)")
    _check_readable(path)
    try:
        arrays = _read_npz(path)
    except _READ_ERRORS as e:
        raise CacheError(
            f"{path}: cache file is corrupt or unreadable ({type(e).__name__}: {e}); "
            "delete it so that it is rebuilt"
        ) from e
    meta = _decode_meta(path, arrays.pop(_META_KEY, None))
    if expect_meta is not None and meta != _canonical(expect_meta):
        raise CacheError(
            f"{path}: cache was built with other settings ({_meta_diff(meta, expect_meta)}); "
            "delete it so that it is rebuilt"
        )
    return arrays, meta


def _read_npz(path: Path) -> dict[str, np.ndarray]:
    # Our own handle: np.load leaks its file when the archive is corrupt.
    with open(path, "rb") as f:
        npz = np.load(f, allow_pickle=False)
        if not isinstance(npz, np.lib.npyio.NpzFile):
            raise ValueError("a single .npy array, not an .npz archive")
        with npz:
            # Read every member now, so a truncated or corrupt file fails here, not later.
            return {name: npz[name] for name in npz.files}


def _decode_meta(path: Path, meta_json: np.ndarray | None) -> dict[str, Any]:
    if meta_json is None:
        return {}
    try:
        meta = json.loads(str(meta_json))
    except ValueError as e:
        raise CacheError(
            f"{path}: unreadable metadata ({e}); delete it so that it is rebuilt"
        ) from e
    if not isinstance(meta, dict):
        raise CacheError(f"{path}: metadata is not a JSON object; delete it so that it is rebuilt")
    return meta


def _meta_diff(found: Mapping[str, Any], expected: Mapping[str, Any]) -> str:
    expected = _canonical(expected)
    keys = sorted(set(found) | set(expected))
    diffs = [
        f"{k}: file has {found.get(k, '<missing>')!r}, expected {expected.get(k, '<missing>')!r}"
        for k in keys
        if found.get(k, "<missing>") != expected.get(k, "<missing>")
    ]
    return "; ".join(diffs)


def load_or_build(
    path: PathLike, build: Callable[[], Mapping[str, Any]], meta: Mapping[str, Any]
) -> dict[str, np.ndarray]:
    """Return the arrays cached at `path`, or call `build()`, cache its arrays and return them.

    Used by the data preparation of the vanilla RL, BCQ and REINFORCE notebooks. A corrupt
    cache, or one built with other `meta`, is rebuilt with a logged warning, never trusted.
    """
    path = Path(path)
    if path.exists():
        try:
            return load_arrays(path, expect_meta=meta)[0]
        except CacheError as e:
            logger.warning("Rebuilding cache: %s", e)
    else:
        logger.info("Building cache %s", path)
    arrays = build()
    if not isinstance(arrays, Mapping):
        raise TypeError(f"build() for {path} must return a dict of arrays, got {type(arrays)}")
    arrays = {name: to_numpy(value) for name, value in arrays.items()}
    save_arrays(path, meta=meta, **arrays)
    return arrays


def save_weights(
    path: PathLike,
    module_or_state_dict: torch.nn.Module | Mapping[str, torch.Tensor],
    meta: Mapping[str, Any] | None = None,
    probe_input: torch.Tensor | None = None,
) -> None:
    """Save a module's weights (or a state dict) to a safetensors file, atomically.

    Used for the actor, critic and autoencoder checkpoints of the vanilla RL, BCQ and
    REINFORCE notebooks. `meta` values are JSON-encoded into the file's metadata. Given
    `probe_input`, the module's output on it is stored too, and `load_weights` checks that the
    module it loads into computes the same: a copy of a class in another notebook (the
    recommend notebook copies the actor) cannot drift from the one that saved the weights.
    """
    state = module_or_state_dict
    probe = {}
    if isinstance(state, torch.nn.Module):
        if probe_input is not None:
            probe = {PROBE_INPUT: probe_input, PROBE_OUTPUT: _probe(state, probe_input)}
        state = state.state_dict()
    elif probe_input is not None:
        raise TypeError(f"{path}: probe_input needs the module, not a state dict")
    state = {**state, **probe}
    tensors = {}
    for name, value in state.items():
        if not isinstance(value, torch.Tensor):
            raise TypeError(
                f"{path}: state entry {name!r} is a {type(value).__name__}, not a tensor"
            )
        # clone: safetensors refuses tensors that share memory (tied embeddings).
        tensors[name] = value.detach().cpu().contiguous().clone()
    metadata = {str(k): json.dumps(v, default=_json_default) for k, v in (meta or {}).items()}
    check_output_path(path)
    with atomic_write(path) as tmp:
        save_file(tensors, tmp, metadata=metadata)


def load_weights(
    path: PathLike, module: torch.nn.Module | None = None, device: str | torch.device = "cpu"
) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    """Read a file written by `save_weights` and return `(state_dict, meta)`.

    Used by the evaluation cells of the vanilla RL, BCQ and REINFORCE notebooks and by the
    results notebook. When `module` is given the weights are loaded into it with
    `strict=True`, so a module built with other sizes is refused.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(
            f"{path}: no saved weights here; run the training cells that save them, or fix the path"
        )
    _check_readable(path)
    try:
        with safe_open(path, framework="pt", device=str(device)) as f:
            meta = {k: json.loads(v) for k, v in (f.metadata() or {}).items()}
            state = {name: f.get_tensor(name) for name in f.keys()}  # noqa: SIM118
    except (SafetensorError, OSError, ValueError) as e:
        raise ValueError(f"{path}: not a readable safetensors file ({e}); save it again") from e
    probe_input, probe_output = state.pop(PROBE_INPUT, None), state.pop(PROBE_OUTPUT, None)
    if module is not None:
        try:
            module.load_state_dict(state, strict=True)
        except RuntimeError as e:
            raise RuntimeError(
                f"{path}: weights do not fit {type(module).__name__}; build the module with the "
                f"settings it was saved with (file metadata: {meta}).\n{e}"
            ) from e
        if probe_input is not None:
            got = _probe(module, probe_input.to(device))
            if not torch.allclose(got.cpu(), probe_output.cpu(), atol=1e-5, rtol=1e-4):
                raise RuntimeError(
                    f"{path}: {type(module).__name__} here computes other outputs than the module "
                    "that saved these weights (largest difference "
                    f"{(got.cpu() - probe_output.cpu()).abs().max().item():.3g}); copy its class "
                    f"again from the notebook that saved it ({meta.get('notebook', 'see meta')})"
                )
    return state, meta


PROBE_INPUT, PROBE_OUTPUT = "__probe_input__", "__probe_output__"

# ----------------------------------------------------------------------------- policies


def _check_slug(slug: str) -> str:
    if not isinstance(slug, str) or not slug or not all(c.isalnum() or c in "-_." for c in slug):
        raise ValueError(
            f"policy name must be letters, digits, '-', '_' or '.', got {slug!r}; "
            "use e.g. 'td3-bc' or 'reinforce-topk'"
        )
    return slug


def policy_path(slug: str, seed: int) -> Path:
    """``MODELS_DIR/policies/<slug>-seed<seed>.safetensors``: where an agent notebook saves the
    policy it reports for one training seed, and where the simulator notebook reads it."""
    if isinstance(seed, bool) or not isinstance(seed, int | np.integer) or seed < 0:
        raise ValueError(f"seed must be an integer >= 0, got {seed!r}")
    return paths().models / "policies" / f"{_check_slug(slug)}-seed{int(seed)}.safetensors"


def save_policy(
    slug: str, seed: int, module: torch.nn.Module, *, probe_input: torch.Tensor, **meta: Any
) -> Path:
    """Save the policy of one training seed (the module the notebook evaluated on test) with
    its probe, so that another notebook's copy of the class is checked on load.

    ``meta`` holds what rebuilding the module needs (sizes, the setting validation chose);
    the slug and seed are added. Returns the path written.
    """
    path = policy_path(slug, seed)
    save_weights(path, module, meta={**meta, "policy": slug, "seed": int(seed)},
                 probe_input=probe_input)  # fmt: skip
    return path


def saved_policy_seeds(slug: str) -> list[int]:
    """The training seeds whose policy ``save_policy`` wrote for ``slug`` in this mode."""
    folder = paths().models / "policies"
    prefix = f"{_check_slug(slug)}-seed"
    seeds = []
    for path in folder.glob(f"{prefix}*.safetensors"):
        tail = path.name[len(prefix) : -len(".safetensors")]
        if tail.isdigit():
            seeds.append(int(tail))
    return sorted(seeds)


@torch.no_grad()
def _probe(module: torch.nn.Module, x: torch.Tensor) -> torch.Tensor:
    was_training = module.training
    module.eval()
    try:
        return module(x.to(next(module.parameters()).device)).detach().cpu()
    finally:
        module.train(was_training)


def _json_default(obj: Any) -> Any:
    # Results often hold numpy scalars, arrays or paths, which json cannot encode by itself.
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, np.ndarray | torch.Tensor):
        return to_numpy(obj).tolist()
    if isinstance(obj, os.PathLike):
        return os.fspath(obj)
    raise TypeError(f"{type(obj).__name__} is not JSON serializable")


def save_json(path: PathLike, obj: Any) -> None:
    """Write `obj` as pretty JSON with sorted keys, atomically.

    Used for the metric tables that the vanilla RL, BCQ and REINFORCE notebooks write and
    the results notebook reads.
    """
    text = json.dumps(obj, indent=2, sort_keys=True, default=_json_default) + "\n"
    check_output_path(path)
    with atomic_write(path) as tmp:
        tmp.write_text(text, encoding="utf-8")


def load_json(path: PathLike) -> Any:
    """Read a JSON file; a malformed one raises ValueError naming the file.

    Used by the results notebook to collect the metric tables of the other notebooks.
    """
    path = Path(path)
    _check_readable(path)
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as e:
        raise ValueError(f"{path}: invalid JSON ({e}); write it again with save_json") from e


def tensorboard_writer(run_name: str, hparams: Any, root: PathLike | None = None) -> SummaryWriter:
    """Open a TensorBoard writer in `root/<run_name>-<YYYYmmdd-HHMMSS>` and log `hparams`.

    Used by the training loops of the vanilla RL, BCQ and REINFORCE notebooks. `hparams` is
    a dict or an `Args` dataclass; it is logged as a markdown table, as CleanRL does.
    """
    # Imported here: tensorboard is slow to import and only the training cells need it.
    from torch.utils.tensorboard import SummaryWriter

    if dataclasses.is_dataclass(hparams) and not isinstance(hparams, type):
        hparams = dataclasses.asdict(hparams)
    if root is None:
        root = paths().runs  # RUNS_DIR as it is now (runs/smoke in smoke mode)
    writer = SummaryWriter(Path(root) / f"{run_name}-{time.strftime('%Y%m%d-%H%M%S')}")
    writer.add_text("hyperparameters", _markdown_table(hparams))
    return writer


class ScalarLog:
    """A training loop's scalars, for TensorBoard and for the notebook's figures, read from
    the device once every ``every`` steps instead of once per update.

    Reading a value from a tensor (``.item()``, ``float()``) waits until the device has run
    every kernel queued before it: on a GPU, a read per update keeps the queue empty, and on
    every device the per-update Python work grows with each scalar. ``add`` keeps the 0-d
    tensors (detached) as they are; every ``every`` steps, and on ``flush`` / ``close``, they
    are stacked and read in one transfer, then written to the TensorBoard ``writer`` (when one
    is given) and to ``history``: ``{name: [(step, value), ...]}``, every step kept. Numbers
    (a validation metric) are welcome too and wait with the rest.
    """

    def __init__(self, writer: SummaryWriter | None = None, every: int = 100):
        if isinstance(every, bool) or not isinstance(every, int) or every < 1:
            raise ValueError(f"every must be an int >= 1 (steps between reads), got {every!r}")
        self.writer, self.every = writer, every
        self.history: dict[str, list[tuple[int, float]]] = {}
        self._pending: list[tuple[str, int, Any]] = []

    def add(self, step: int, scalars: Mapping[str, Any]) -> None:
        """Keep ``scalars`` (0-d tensors or numbers) for ``step``; read them all when ``step``
        is a multiple of ``every``."""
        for name, value in scalars.items():
            if isinstance(value, torch.Tensor):
                if value.numel() != 1:
                    raise ValueError(
                        f"{name}: a scalar is one value, got shape {tuple(value.shape)}"
                    )
                value = value.detach().reshape(())
            self._pending.append((name, step, value))
        if step % self.every == 0:
            self.flush()

    def flush(self) -> None:
        """Read every kept value (one transfer per device) and write it out."""
        pending, self._pending = self._pending, []
        tensors = [i for i, (_, _, v) in enumerate(pending) if isinstance(v, torch.Tensor)]
        read: dict[int, float] = {}
        by_device: dict[torch.device, list[int]] = {}
        for i in tensors:
            by_device.setdefault(pending[i][2].device, []).append(i)
        for indices in by_device.values():
            stacked = torch.stack([pending[i][2].to(torch.float64) for i in indices])
            read |= dict(zip(indices, stacked.tolist(), strict=True))
        for i, (name, step, value) in enumerate(pending):
            value = read[i] if i in read else float(value)
            self.history.setdefault(name, []).append((step, value))
            if self.writer is not None:
                self.writer.add_scalar(name, value, step)

    def last(self, name: str) -> float:
        """The latest value of ``name`` (read now if it waits)."""
        self.flush()
        if name not in self.history:
            raise KeyError(f"no scalar {name!r} was logged; logged: {sorted(self.history)}")
        return self.history[name][-1][1]

    def values(self, name: str) -> list[float]:
        """Every value of ``name``, in step order (read now if some wait)."""
        self.flush()
        return [v for _, v in self.history.get(name, [])]

    def close(self) -> None:
        """Read what waits, then close the writer."""
        self.flush()
        if self.writer is not None:
            self.writer.close()


def _markdown_table(hparams: Mapping[str, Any]) -> str:
    # A "|" inside a value would split its cell.
    rows = [f"|{k}|{str(v).replace('|', '&#124;')}|" for k, v in hparams.items()]
    return "\n".join(["|param|value|", "|-|-|", *rows])
