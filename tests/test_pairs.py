"""Alignment of training samples on a toy linear system with a known solution."""

import numpy as np
import pytest

from toy import A, B, closed_loop, toy_dataset
from trajmbrl.data.pairs import count_pairs, one_step_samples, select_training, trajectory_pairs
from trajmbrl.errors import ArgumentError


def test_trajectory_pairs_target_the_state_h_steps_later():
    data = toy_dataset(n=5, horizon=15)
    x, y, report = trajectory_pairs(data, t_range=15, keep_rate=None, max_pairs=None, seed=0)
    assert report.candidates == 5 * 15 * 16 // 2 == len(x)
    s_i, h, theta = x[:, :2], x[:, 2].astype(int), x[:, 3:]
    assert h.min() == 1 and h.max() == 15
    for k in range(0, len(x), 7):
        expect = np.linalg.matrix_power(closed_loop(theta[k].astype(float)), h[k]) @ s_i[k]
        np.testing.assert_allclose(y[k], expect, rtol=1e-4, atol=1e-5)


def test_pair_sampling_is_uniform_capped_reported_and_seeded():
    data = toy_dataset(n=4, horizon=20)
    x1, _, rep = trajectory_pairs(data, t_range=20, keep_rate=0.25, max_pairs=50, seed=3)
    x2, _, _ = trajectory_pairs(data, t_range=20, keep_rate=0.25, max_pairs=50, seed=3)
    x3, _, _ = trajectory_pairs(data, t_range=20, keep_rate=0.25, max_pairs=50, seed=4)
    assert len(x1) == rep.kept == 50 and rep.candidates == 4 * 210
    np.testing.assert_array_equal(x1, x2)
    assert not np.array_equal(x1, x3)
    assert "kept" in rep.describe()


def test_t_range_limits_the_horizon_and_truncates():
    data = toy_dataset(n=3, horizon=12)
    sel, t_range = select_training(data, num_traj=None, t_range=5, seed=0)
    x, _, rep = trajectory_pairs(sel, t_range=t_range, keep_rate=None, max_pairs=None, seed=0)
    assert x[:, 2].max() == 5 and rep.candidates == count_pairs(sel.lengths, 5).sum() == 3 * 15
    xs, _, _ = one_step_samples(sel)
    assert len(xs) == 3 * 5


def test_one_step_samples_pair_the_action_applied_at_the_state():
    data = toy_dataset(n=4, horizon=10)
    x, y, rep = one_step_samples(data)
    assert rep.kept == 40 and x.shape == (40, 3) and y.shape == (40, 2)
    s, a = x[:, :2].astype(float), x[:, 2:].astype(float)
    np.testing.assert_allclose(y, s @ (A - np.eye(2)).T + a @ B.T, atol=1e-5)


def test_variable_lengths_never_pair_padding():
    data = toy_dataset(n=3, horizon=10)
    data.lengths[1] = 4
    data.states[1, 5:] = np.nan
    data.actions[1, 4:] = np.nan
    x, y, rep = trajectory_pairs(data, t_range=10, keep_rate=None, max_pairs=None, seed=0)
    assert np.isfinite(x).all() and np.isfinite(y).all()
    assert rep.candidates == 2 * 55 + 10
    xs, ys, _ = one_step_samples(data)
    assert len(xs) == 24 and np.isfinite(xs).all()


@pytest.mark.parametrize(
    ("kwargs", "key"),
    [
        ({"num_traj": 0}, "train.num_traj"),
        ({"num_traj": 99}, "train.num_traj"),
        ({"t_range": 50}, "train.t_range"),
        ({"t_range": -1}, "train.t_range"),
    ],
)
def test_bad_sizes_name_the_key(kwargs, key):
    from trajmbrl.modes.schema import cli_message

    args = {"num_traj": None, "t_range": None, **kwargs}
    arg = key.split(".")[1]
    with pytest.raises(ArgumentError, match=f"^{arg}") as info:  # the argument from Python ...
        select_training(toy_dataset(), seed=0, **args)
    assert cli_message(info.value).startswith(key)  # ... and the key on the command line


def test_num_traj_is_a_seeded_subset():
    data = toy_dataset(n=8, test=0)
    a, _ = select_training(data, num_traj=3, t_range=None, seed=1)
    b, _ = select_training(data, num_traj=3, t_range=None, seed=1)
    assert a.num == 3
    np.testing.assert_array_equal(a.seeds, b.seeds)
