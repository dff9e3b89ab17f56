"""What a finished paper run cost in training FLOPs, and the least time it needs at a GEMM rate.

Usage: ``python scripts/paper_cost.py [OUTPUTS_DIR] [--gflops R]`` (R defaults to this machine's
measured fp32 rate for the paper's hidden-layer GEMM, as in ``scripts/bench_train.py``).
For every ``model.pt`` under ``OUTPUTS_DIR/sec5*``: member-epochs from its ``history.csv`` (one
row per member and epoch; grid cells without per-epoch rows count their ``steps`` x batch),
training samples from the checkpoint meta (``samples.kept`` x (1 - ``val_fraction``)), FLOPs per
member-sample from the layer shapes (3 x forward). A model copied from the model store
(``reused_from`` in its meta) cost nothing: the lines say how many models were trained and how
many reused. The bound ``FLOPs / R`` ignores evaluation, element-wise work and data handling, so
real training is slower: if the bound alone exceeds a time target, no code change meets that
target on this machine at this precision.

``python scripts/paper_cost.py --configs [--scale toy] [--root DIR] [--sec54 OVERRIDES]``:
without training, the models ``make paper`` asks for (``make smoke-paper``: ``--scale toy
--sec54`` with the Makefile's ``SEC54_GRID``), from the experiment configs (each section's sweep,
as the Makefile runs it), against the distinct model fingerprints (``trajmbrl.artifacts.store``):
what the model store trains. A dataset is named by its manifest's sha256 when it is under
``--root``, else by its path (one path, one dataset). FLOPs are an upper bound (every epoch run;
samples from the dataset's sizes, ``keep_rate``/``max_pairs``, as ``data/pairs.py`` draws them).
"""

from __future__ import annotations

import argparse
import itertools
import json
import sys
from collections import defaultdict
from pathlib import Path
from typing import Any

import torch

from trajmbrl.artifacts.layout import CHECKPOINT, HISTORY
from trajmbrl.models.cost import checkpoint_training_flops, training_flops_per_sample
from trajmbrl.models.dynamics import ModelSpec

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_train import gemm_rate  # noqa: E402


def model_flops(path: Path) -> float:
    """Training FLOPs of one checkpoint (all members)."""
    payload = torch.load(path, map_location="cpu", weights_only=True)
    history = path.parent / HISTORY
    member_epochs = max(0, len(history.read_text().splitlines()) - 1) if history.exists() else 0
    return checkpoint_training_flops(payload["spec"], json.loads(payload["meta"]), member_epochs)


#: each section's runs as the Makefile's ``paper`` target trains them: the sweep's parameters
#: (``hydra.sweeper.params``, training over every key of the experiment's list) or, for 5.4,
#: one batched grid per key (``grid.*``)
SECTIONS = ("sec52", "sec53", "sec54", "sec55")


def _sweep(cfg: Any) -> list[list[str]]:
    """The override lists of an experiment's sweep (``hydra.sweeper.params``), models aside."""
    params = cfg.hydra.get("sweeper", {}).get("params", {}) or {}
    axes = [
        [f"{name}={v}" for v in str(values).split(",")]
        for name, values in params.items()
        if name not in ("models", "train.num_traj", "train.t_range", "seed") or name == "seed"
    ]
    return [list(combo) for combo in itertools.product(*axes)]


def _samples(train: dict[str, Any], sizes: dict[str, Any] | None, family: str) -> float | None:
    """Training samples of one model, as ``data/pairs.py`` draws them (None: unknown sizes)."""
    if sizes is None:
        return None
    n = min(int(sizes["num_train"]), int(train["num_traj"] or sizes["num_train"]))
    steps = min(int(sizes["horizon"]), int(train["t_range"] or sizes["horizon"]))
    if family == "one_step":
        return float(n * steps)
    pairs = n * steps * (steps + 1) / 2
    if train["keep_rate"] is not None:
        pairs *= float(train["keep_rate"])
    return float(min(pairs, train["max_pairs"] or pairs))


def _dataset(cfg: Any) -> tuple[str, dict[str, Any] | None]:
    """The dataset's identity (manifest sha256, else its path) and, when it is here, its sizes
    and dimensions (num_train, horizon, state_dim, action_dim, param_dim)."""
    names = ("num_train", "horizon", "state_dim", "action_dim", "param_dim")
    try:
        meta = json.loads(Path(f"{cfg.paths.dataset}.json").read_text())
        sizes = {k: int(meta[k]) for k in names}
        return str(meta["sha256"]), sizes
    except (OSError, ValueError, KeyError, TypeError):
        return f"path:{Path(str(cfg.paths.dataset)).resolve()}", None


def _compose(overrides: list[str], *, hydra: bool = False) -> Any:
    """The config the CLI composes for ``overrides`` (with its ``hydra`` node if asked)."""
    from hydra import compose, initialize_config_dir
    from hydra.core.global_hydra import GlobalHydra

    from trajmbrl.cli import HYDRA_VERSION_BASE, conf_dir

    GlobalHydra.instance().clear()
    with initialize_config_dir(str(conf_dir()), version_base=HYDRA_VERSION_BASE):
        return compose("config", overrides=overrides, return_hydra_config=hydra)


def planned(scale: str | None, root: Path, sec54: list[str]) -> list[tuple[str, str, float | None]]:
    """(section, fingerprint, FLOP upper bound) of every model the paper's sections train."""
    from trajmbrl.artifacts.store import fingerprint, weight_inputs
    from trajmbrl.modes.settings import device, model_settings, to_dict

    extra = [f"paths.root={root}"] + ([f"scale={scale}"] if scale else [])
    rows = []
    for section in SECTIONS:
        grid = section == "sec54"
        base = [f"experiment={section}", *extra, "mode=train", *(sec54 if grid else [])]
        for combo in [[]] if grid else _sweep(_compose(base, hydra=True)):
            cfg = _compose([*base, *combo])
            sha, sizes = _dataset(cfg)
            train = to_dict(cfg.train)
            cells = [(train["num_traj"], train["t_range"], int(cfg.seed))]
            if grid:
                cells = list(itertools.product(cfg.grid.num_traj, cfg.grid.t_range, cfg.grid.seeds))
            for key in cfg.models:
                settings = model_settings(cfg, str(key))
                for num_traj, t_range, seed in cells:
                    cell = {**train, "num_traj": num_traj, "t_range": t_range}
                    inputs = weight_inputs(
                        dataset_sha256=sha,
                        model=settings,
                        train=cell,
                        seed=seed,
                        device=device(cfg).type,
                        threads=torch.get_num_threads(),
                        trainer="grid" if grid else "fit",
                    )
                    rows.append((section, fingerprint(inputs), _flops(cell, settings, sizes)))
    return rows


def _flops(
    train: dict[str, Any], settings: dict[str, Any], sizes: dict[str, Any] | None
) -> float | None:
    """Upper bound of one model's training FLOPs (every epoch run, or its step budget)."""
    samples = _samples(train, sizes, str(settings["family"]))
    if samples is None or sizes is None:
        return None
    dims = {k: sizes[k] for k in ("state_dim", "action_dim", "param_dim")}
    spec = ModelSpec.from_settings(settings, **dims)
    fps = training_flops_per_sample(spec)  # k-step and sequence windows counted
    members = int(settings["ensemble_size"])
    if train["steps"]:
        return float(train["steps"]) * min(int(settings["batch_size"]), samples) * members * fps
    kept = samples * (1 - float(train["val_fraction"] or 0))
    return float(settings["epochs"]) * kept * members * fps


def report_planned(scale: str | None, root: Path, rate: float, sec54: list[str]) -> None:
    """Print models asked for vs distinct fingerprints per section, with the FLOP bounds."""
    rows = planned(scale, root, sec54)
    seen: set[str] = set()
    print(
        f"models `make paper{' SCALE=' + scale if scale else ''}` asks for vs distinct "
        f"fingerprints (trained once by the model store; {torch.get_num_threads()} threads); "
        f"FLOPs: upper bound, every epoch run; time >= FLOPs / {rate:.1f} GFLOP/s"
    )
    totals = [0, 0, 0.0, 0.0, 0]
    for section in SECTIONS:
        mine = [r for r in rows if r[0] == section]
        new = [r for r in mine if r[1] not in seen and not seen.add(r[1])]  # type: ignore[func-returns-value]
        known = [r for r in mine if r[2] is not None]
        flops_all = sum(r[2] for r in known)  # type: ignore[misc]
        flops_new = sum(r[2] for r in new if r[2] is not None)
        unknown = len(mine) - len(known)
        note = f" ({unknown} models of unknown size: collect first)" if unknown else ""
        print(
            f"  {section}: {len(mine):5d} models, {len(new):5d} distinct; "
            f"{flops_all / 1e12:9.3f} -> {flops_new / 1e12:9.3f} TFLOP "
            f">= {flops_new / rate / 1e9 / 60:6.1f} min{note}"
        )
        totals = [
            totals[0] + len(mine),
            totals[1] + len(new),
            totals[2] + flops_all,
            totals[3] + flops_new,
            totals[4] + unknown,
        ]
    print(
        f"  all:   {totals[0]:5d} models, {totals[1]:5d} distinct; {totals[2] / 1e12:9.3f} -> "
        f"{totals[3] / 1e12:9.3f} TFLOP >= {totals[3] / rate / 1e9 / 60:6.1f} min"
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("root", nargs="?", default="outputs", type=Path)
    ap.add_argument("--gflops", type=float, help="GEMM rate to bound with (default: measured)")
    ap.add_argument("--configs", action="store_true", help="count from the configs, no outputs")
    ap.add_argument("--scale", help="with --configs: e.g. toy (make smoke-paper)")
    ap.add_argument("--root", dest="data_root", type=Path, default=Path("."), help="paths.root")
    ap.add_argument("--sec54", default="", help="with --configs: the Makefile's SEC54_GRID")
    args = ap.parse_args()
    rate = args.gflops or gemm_rate(256, 250, 250, 1500, 3)
    if args.configs:
        report_planned(args.scale, args.data_root, rate, args.sec54.split())
        return
    totals: dict[str, float] = defaultdict(float)
    counts: dict[str, int] = defaultdict(int)
    reused: dict[str, int] = defaultdict(int)
    for path in sorted(args.root.glob(f"sec5*/*/*/models/**/{CHECKPOINT}")):
        section = path.relative_to(args.root).parts[0]
        counts[section] += 1
        if "reused_from" in json.loads(
            torch.load(path, map_location="cpu", weights_only=True)["meta"]
        ):
            reused[section] += 1
            continue
        totals[section] += model_flops(path)
    print(
        f"training FLOPs under {args.root}; bound = FLOPs / {rate:.1f} GFLOP/s "
        f"({torch.get_num_threads()} threads)"
    )
    for section in sorted(counts):
        print(
            f"  {section}: {counts[section]:5d} models ({reused[section]} reused from the "
            f"store) {totals[section] / 1e12:8.1f} TFLOP "
            f">= {totals[section] / rate / 1e9 / 60:6.1f} min"
        )
    total = sum(totals.values())
    print(
        f"  all:   {sum(counts.values()):5d} models ({sum(reused.values())} reused) "
        f"{total / 1e12:8.1f} TFLOP >= {total / rate / 1e9 / 60:6.1f} min"
    )


if __name__ == "__main__":
    main()
