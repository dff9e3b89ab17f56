"""The dataset file contract: round trip, same bytes, atomic and safe against bad files."""

import json

import numpy as np
import pytest

from toy import toy_dataset
from trajmbrl.data.storage import dataset_paths, load_dataset, save_dataset
from trajmbrl.errors import TrajmbrlError
from trajmbrl.utils.atomic import sha256_file


def test_round_trip_and_manifest(tmp_path):
    data = toy_dataset()
    save_dataset(data, tmp_path / "d", {"env": "toy"})
    back = load_dataset(tmp_path / "d")
    for key in ("states", "actions", "params", "rewards", "lengths", "seeds", "split"):
        np.testing.assert_array_equal(getattr(back, key), getattr(data, key))
    meta = json.loads((tmp_path / "d.json").read_text())
    assert meta["env"] == "toy" and meta["num_train"] == 4 and meta["num_test"] == 2
    train_states = data.states[data.split == 0]
    np.testing.assert_allclose(meta["state_min"], train_states.min(axis=(0, 1)))
    np.testing.assert_allclose(meta["state_max"], train_states.max(axis=(0, 1)))


def test_same_data_gives_same_bytes(tmp_path):
    save_dataset(toy_dataset(seed=1), tmp_path / "a", {})
    save_dataset(toy_dataset(seed=1), tmp_path / "b", {})
    assert (tmp_path / "a.npz").read_bytes() == (tmp_path / "b.npz").read_bytes()


def test_never_silently_overwrites(tmp_path):
    save_dataset(toy_dataset(seed=1), tmp_path / "a", {})
    before = (tmp_path / "a.npz").read_bytes()
    with pytest.raises(TrajmbrlError, match="overwrite=true"):
        save_dataset(toy_dataset(seed=2), tmp_path / "a", {})
    assert (tmp_path / "a.npz").read_bytes() == before
    save_dataset(toy_dataset(seed=2), tmp_path / "a", {}, overwrite=True)
    assert (tmp_path / "a.npz").read_bytes() != before


def test_missing_dataset_names_the_collect_command(tmp_path):
    with pytest.raises(TrajmbrlError, match="trajmbrl mode=collect envs=toy"):
        load_dataset(tmp_path / "nope", hint="trajmbrl mode=collect envs=toy")


def test_corrupt_or_truncated_file_is_reported_and_left_alone(tmp_path):
    save_dataset(toy_dataset(), tmp_path / "a", {})
    npz, js = dataset_paths(tmp_path / "a")
    npz.write_bytes(npz.read_bytes()[:100])
    with pytest.raises(TrajmbrlError, match="sha256"):
        load_dataset(tmp_path / "a")
    meta = json.loads(js.read_text())
    meta.pop("sha256")
    js.write_text(json.dumps(meta))
    with pytest.raises(TrajmbrlError, match="corrupt"):
        load_dataset(tmp_path / "a")
    assert len(npz.read_bytes()) == 100


def test_pickled_object_arrays_are_refused(tmp_path):
    data = toy_dataset()
    arrays = {
        k: getattr(data, k)
        for k in ("states", "actions", "params", "rewards", "lengths", "seeds", "split")
    }
    arrays["states"] = np.empty(data.states.shape, dtype=object)  # needs pickle to load
    path = tmp_path / "evil.npz"
    np.savez(path, **arrays)
    (tmp_path / "evil.json").write_text(json.dumps({"sha256": sha256_file(path)}))
    with pytest.raises(TrajmbrlError, match="corrupt"):
        load_dataset(path)


def test_shape_errors_name_the_array():
    data = toy_dataset()
    with pytest.raises(TrajmbrlError, match="actions"):
        type(data)(
            **{
                **{
                    k: getattr(data, k)
                    for k in ("states", "params", "rewards", "lengths", "seeds", "split")
                },
                "actions": data.actions[:, :-1],
            }
        )


def test_the_manifest_is_optional_and_what_the_writer_adds_is_checked(tmp_path):
    save_dataset(toy_dataset(seed=1), tmp_path / "a")  # manifest=None: nothing of yours
    save_dataset(toy_dataset(seed=1), tmp_path / "b", {})
    assert (tmp_path / "a.json").read_bytes() == (tmp_path / "b.json").read_bytes()
    meta = json.loads((tmp_path / "a.json").read_text())
    assert meta["sha256"] == sha256_file(tmp_path / "a.npz") and meta["horizon"] == 12
    assert load_dataset(tmp_path / "a").meta == meta
    save_dataset(toy_dataset(seed=1), tmp_path / "c", {"state_dim": 99, "source": "mine"})
    meta = json.loads((tmp_path / "c.json").read_text())
    assert meta["state_dim"] == 2 and meta["source"] == "mine"  # the writer's fields win


@pytest.mark.parametrize("manifest", [{1: "a", "b": 2}, "not a dict"])
def test_a_manifest_that_cannot_be_written_leaves_no_file(tmp_path, manifest):
    with pytest.raises(TrajmbrlError, match="manifest"):
        save_dataset(toy_dataset(), tmp_path / "d", manifest)
    assert list(tmp_path.iterdir()) == []


def test_a_failed_manifest_write_leaves_no_half_written_dataset(tmp_path, monkeypatch):
    from trajmbrl.data import storage

    def full_disk(path, text):
        raise TrajmbrlError(f"cannot write {path}: No space left on device")

    monkeypatch.setattr(storage, "atomic_write_text", full_disk)
    with pytest.raises(TrajmbrlError, match="No space left"):
        save_dataset(toy_dataset(), tmp_path / "d", {"env": "toy"})
    assert list(tmp_path.iterdir()) == []  # no npz without its manifest
