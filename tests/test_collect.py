"""The collector: disjoint seeded streams, acceptance, divergence accounting."""

import numpy as np

from trajmbrl.controllers.lqr import LQRSampler
from trajmbrl.data.collect import collect


def run(mode, n=6, horizon=150, seed=0):
    sampler = LQRSampler(mode=mode)
    return collect(
        "trajmbrl/Cartpole-v0",
        sampler,
        num_train=n,
        num_test=2,
        horizon=horizon,
        seed=seed,
        env_kwargs=sampler.env_overrides(),
        progress=False,
    )


def test_divergence_share_per_data_mode():
    _, stable = run("stable")
    _, unstable = run("unstable")
    assert stable.to_dict()["diverged_share"] == 0.0 and stable.rejected == 0
    assert unstable.to_dict()["diverged_share"] >= 0.5 and unstable.rejected == 0


def test_train_and_test_streams_are_disjoint_and_reproducible():
    a, _ = run("stable", seed=3)
    b, _ = run("stable", seed=3)
    np.testing.assert_array_equal(a.states, b.states)
    assert set(a.seeds[a.split == 0]).isdisjoint(a.seeds[a.split == 1])
    np.testing.assert_allclose(
        a.actions[:, 0],
        np.clip(-(a.params * a.states[:, 0]).sum(axis=1, keepdims=True), -1, 1),
        rtol=1e-12,
    )
