"""eval.task=reward (paper 5.5): predict each held-out controller's return, rank controllers."""

from __future__ import annotations

import logging

import numpy as np
from omegaconf import DictConfig

from trajmbrl.errors import TrajmbrlError
from trajmbrl.evaluation.metrics import diverged, normalised_mse
from trajmbrl.evaluation.returns import reward_for
from trajmbrl.evaluation.reward import reward_prediction
from trajmbrl.evaluation.stats import row_label
from trajmbrl.modes.artifacts import (
    data_dims,
    eval_fingerprint,
    is_current,
    layout,
    load_env_dataset,
    model_checkpoint,
    write_result,
)
from trajmbrl.modes.console import reward_outputs
from trajmbrl.modes.prediction import eval_protocols, predict_states, protocols_fingerprint
from trajmbrl.modes.settings import device, eval_size, model_keys

log = logging.getLogger("trajmbrl")


def run(cfg: DictConfig) -> None:
    """True vs predicted returns on the test split: the selected ``models``, GP, direct NN."""
    data = load_env_dataset(cfg)
    train, test = data.train(), data.test()
    horizon = eval_size(cfg, "horizon", test.horizon)  # conf/eval/reward.yaml: all
    if horizon > test.horizon:
        raise TrajmbrlError(f"eval.horizon={horizon} exceeds the test length {test.horizon}")
    run_dir = layout(cfg).run_dir
    keys = model_keys(cfg)
    models = {k: model_checkpoint(cfg, k, data_dims(test)) for k in keys}
    out, dataset = layout(cfg).reward_csv(), data.meta.get("sha256")
    fingerprint = eval_fingerprint(
        cfg,
        horizon,
        models={k: meta["checkpoint_sha256"] for k, (_, meta) in models.items()},
        **protocols_fingerprint(cfg, eval_protocols(cfg)),
    )
    if is_current(out, fingerprint, overwrite=bool(cfg.overwrite), expect={"dataset": dataset}):
        log.info("Reward predictions %s are up to date.", out)
        return
    dev = device(cfg)
    predicted = {}
    for key, (model, _) in models.items():
        model.to(dev)
        for source, pred in predict_states(model, test, horizon, cfg).items():
            predicted[key if source == "direct" else row_label(key, source)] = pred
    lo, hi = np.asarray(data.meta["state_min"]), np.asarray(data.meta["state_max"])
    true = test.states[:, 1 : horizon + 1]
    flags = {
        k: diverged(normalised_mse(true, p[:, :horizon], lo, hi)) for k, p in predicted.items()
    }  # the horizon tables' divergence rule
    _, frame = reward_prediction(
        test,
        train,
        predicted,
        reward_fn=reward_for(cfg.env.name),
        seed=int(cfg.seed),
        horizon=horizon,
        diverged=flags,
    )
    write_result(out, frame, fingerprint, overwrite=bool(cfg.overwrite), dataset=dataset)
    reward_outputs(cfg, frame, run_dir)
