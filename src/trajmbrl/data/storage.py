"""The dataset file contract (design.md section 3): ``<name>.npz`` + ``<name>.json`` manifest.

Arrays (N trajectories, T steps, variable lengths NaN-padded):

- ``states``  (N, T+1, ds) float64; index 0 is the reset observation
- ``actions`` (N, T, du) float64; ``actions[:, t]`` is applied *at* ``states[:, t]``
- ``params``  (N, dp) float64; controller parameters theta (dp may be 0)
- ``rewards`` (N, T) float64
- ``lengths`` (N,) int64; valid steps (actions); states valid up to ``lengths``
- ``seeds``   (N,) int64; the seed each trajectory was generated from (-1 for imported logs)
- ``split``   (N,) int8; 0 = train, 1 = test
"""

from __future__ import annotations

import hashlib
import io
import json
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from trajmbrl.errors import TrajmbrlError
from trajmbrl.utils import inputs
from trajmbrl.utils.atomic import atomic_write, atomic_write_text, guard_overwrite, sha256_file

ARRAYS = ("states", "actions", "params", "rewards", "lengths", "seeds", "split")
TRAIN, TEST = 0, 1


@dataclass
class TrajectoryData:
    """N closed-loop trajectories with their controller parameters (shapes in the module doc)."""

    states: np.ndarray
    actions: np.ndarray
    params: np.ndarray
    rewards: np.ndarray
    lengths: np.ndarray
    seeds: np.ndarray
    split: np.ndarray
    meta: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.validate()

    @property
    def num(self) -> int:
        return int(self.states.shape[0])

    @property
    def horizon(self) -> int:
        """T, the padded number of steps."""
        return int(self.actions.shape[1])

    @property
    def state_dim(self) -> int:
        return int(self.states.shape[2])

    @property
    def action_dim(self) -> int:
        return int(self.actions.shape[2])

    @property
    def param_dim(self) -> int:
        return int(self.params.shape[1])

    def validate(self) -> None:
        """Check shapes and dtypes; raise TrajmbrlError naming the offending array."""
        inputs.dataset_arrays(self, ARRAYS)
        n = self.states.shape[0] if self.states.ndim == 3 else -1
        if self.states.ndim != 3:
            raise TrajmbrlError(f"states must be (N, T+1, ds), got shape {self.states.shape}")
        t = self.states.shape[1] - 1
        expect = {
            "actions": (n, t, None),
            "params": (n, None),
            "rewards": (n, t),
            "lengths": (n,),
            "seeds": (n,),
            "split": (n,),
        }
        for name, shape in expect.items():
            arr = getattr(self, name)
            ok = arr.ndim == len(shape) and all(
                s is None or a == s for a, s in zip(arr.shape, shape)
            )
            if not ok:
                raise TrajmbrlError(
                    f"dataset array '{name}' has shape {arr.shape}, expected "
                    f"{tuple('*' if s is None else s for s in shape)} for N={n}, T={t}"
                )
        if n and (self.lengths.min() < 1 or self.lengths.max() > t):
            raise TrajmbrlError(f"dataset 'lengths' must lie in [1, {t}]")

    def subset(self, index: np.ndarray) -> TrajectoryData:
        """The trajectories at ``index`` (same meta)."""
        return TrajectoryData(**{k: getattr(self, k)[index] for k in ARRAYS}, meta=dict(self.meta))

    def train(self) -> TrajectoryData:
        return self.subset(np.flatnonzero(self.split == TRAIN))

    def test(self) -> TrajectoryData:
        return self.subset(np.flatnonzero(self.split == TEST))

    def state_bounds(self) -> tuple[np.ndarray, np.ndarray]:
        """Per-dimension (min, max) over the valid states. :returns: two (ds,) arrays."""
        valid = _valid_state_mask(self.lengths, self.states.shape[1])
        s = self.states[valid]
        return np.nanmin(s, axis=0), np.nanmax(s, axis=0)


def _valid_state_mask(lengths: np.ndarray, t_plus_1: int) -> np.ndarray:
    """(N, T+1) bool: state index k is valid when k <= lengths[n]."""
    return np.arange(t_plus_1)[None, :] <= lengths[:, None]


def write_npz(fh: Any, arrays: dict[str, np.ndarray]) -> None:
    """Write an ``np.load``-compatible compressed npz with fixed zip timestamps (same bytes)."""
    with zipfile.ZipFile(fh, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for name, arr in arrays.items():
            buf = io.BytesIO()
            np.lib.format.write_array(buf, arr, allow_pickle=False)
            info = zipfile.ZipInfo(f"{name}.npy", date_time=(1980, 1, 1, 0, 0, 0))
            info.compress_type = zipfile.ZIP_DEFLATED
            zf.writestr(info, buf.getvalue())


def dataset_paths(path: str | Path) -> tuple[Path, Path]:
    """The (npz, json) pair for a dataset path given with or without suffix."""
    p = Path(path)
    if p.suffix in (".npz", ".json"):
        p = p.with_suffix("")
    return p.with_suffix(".npz"), p.with_suffix(".json")


def save_dataset(
    data: TrajectoryData,
    path: str | Path,
    manifest: dict[str, Any] | None = None,
    *,
    overwrite: bool = False,
) -> Path:
    """Write ``<path>.npz`` and its manifest ``<path>.json``, each atomically.

    :param manifest: what to record beside the arrays (a JSON-serialisable dict, e.g. ``source``,
        ``env``, ``state_names``, the collection ``config``; non-JSON values are stored as their
        ``str``), or None for none. The writer adds ``sha256`` (of the npz) and the fields
        :func:`shape_fields` derives from the arrays (counts, dimensions, and ``state_min`` /
        ``state_max`` of the train split: the metric's normaliser), replacing keys of the same
        name; :func:`load_dataset` checks all of them.
    :param overwrite: replace an existing dataset (refused otherwise).
    :returns: the npz path.

    Everything is checked and encoded before the first byte is written, so a bad argument or a
    manifest that cannot be encoded leaves no file behind; if the manifest's write fails (a full
    disk), the new npz is removed again: no npz is left without its manifest.
    """
    inputs.save_dataset(data, path, manifest, TrajectoryData)
    npz, js = dataset_paths(path)
    guard_overwrite(npz, overwrite=overwrite, what="Dataset")
    arrays = {k: np.ascontiguousarray(getattr(data, k)) for k in ARRAYS}
    buffer = io.BytesIO()
    write_npz(buffer, arrays)
    blob = buffer.getvalue()
    full = {**(manifest or {}), "sha256": hashlib.sha256(blob).hexdigest(), **shape_fields(data)}
    try:
        text = json.dumps(full, indent=2, sort_keys=True, default=str) + "\n"
    except (TypeError, ValueError) as exc:  # mixed key types, a cycle
        raise TrajmbrlError(f"manifest cannot be written as JSON: {exc}") from None
    atomic_write(npz, lambda fh: fh.write(blob))
    try:
        atomic_write_text(js, text)
    except BaseException:
        npz.unlink(missing_ok=True)  # arrays without a manifest are no dataset
        raise
    data.meta = full
    return npz


def load_dataset(path: str | Path, *, hint: str = "") -> TrajectoryData:
    """Load a dataset without pickle and check it against its manifest.

    :param hint: the command that creates the dataset, shown when it is missing.
    """
    inputs.load_dataset(path)
    npz, js = dataset_paths(path)
    if not npz.exists():
        msg = f"Dataset not found: {npz}"
        if hint:
            msg += f"\n  Create it with: {hint}"
        raise TrajmbrlError(msg)
    if not js.exists():
        raise TrajmbrlError(f"Dataset manifest missing: {js} (the .npz needs its .json beside it)")
    try:
        manifest = json.loads(js.read_text())
    except json.JSONDecodeError as exc:
        raise TrajmbrlError(f"Dataset manifest is not valid JSON: {js} ({exc})") from None
    digest = sha256_file(npz)
    if not manifest.get("sha256"):
        raise TrajmbrlError(
            f"Dataset manifest {js} records no sha256: the dataset cannot be "
            "verified; collect it again"
        )
    if manifest["sha256"] != digest:
        raise TrajmbrlError(
            f"Dataset file does not match its manifest (sha256 differs): {npz}\n"
            "  The file was changed or truncated after it was written; collect it again."
        )
    try:
        with open(npz, "rb") as fh, np.load(fh, allow_pickle=False) as z:
            missing = [k for k in ARRAYS if k not in z.files]
            if missing:
                raise TrajmbrlError(f"Dataset {npz} lacks arrays: {', '.join(missing)}")
            arrays = {k: z[k] for k in ARRAYS}
    except (zipfile.BadZipFile, OSError, ValueError, EOFError) as exc:
        raise TrajmbrlError(
            f"Dataset file is corrupt or not an npz archive: {npz} ({exc})"
        ) from None
    data = TrajectoryData(**arrays, meta=manifest)
    _check_manifest(data, js)
    return data


def shape_fields(data: TrajectoryData) -> dict[str, Any]:
    """The manifest fields that follow from the arrays: counts, dimensions and the normaliser's
    state range (training split; all trajectories when there is none)."""
    train = data.train()
    lo, hi = train.state_bounds() if train.num else data.state_bounds()
    return {
        "num_trajectories": data.num,
        "num_train": int((data.split == TRAIN).sum()),
        "num_test": int((data.split == TEST).sum()),
        "horizon": data.horizon,
        "state_dim": data.state_dim,
        "action_dim": data.action_dim,
        "param_dim": data.param_dim,
        "state_min": lo.tolist(),
        "state_max": hi.tolist(),
    }


def _check_manifest(data: TrajectoryData, js: Path) -> None:
    """The manifest's shape and normaliser fields must describe the arrays (an edited
    ``state_min``/``state_max`` would silently rescale every error)."""
    for name, value in shape_fields(data).items():
        recorded = data.meta.get(name)
        same = (
            recorded is not None
            and np.shape(recorded) == np.shape(value)
            and np.allclose(recorded, value, rtol=0, atol=0, equal_nan=True)
        )
        if not same:
            raise TrajmbrlError(
                f"Dataset manifest {js} does not describe its arrays: {name} is {recorded!r} in "
                f"the manifest but {value!r} in the data (edited?); collect it again"
            )
