"""mode=control (issue 13): optimise controller parameters in a learned model, prove them on the
system; one tidy CSV per (method, model, seed), then the learning-curve figure and final table
redrawn from every CSV of the env."""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pandas as pd
from omegaconf import DictConfig

from trajmbrl.artifacts.layout import Layout, parse_control_run
from trajmbrl.artifacts.manifest import write_manifest
from trajmbrl.artifacts.status import csv_status
from trajmbrl.configs import model_config, resolve_model
from trajmbrl.control.fit import ModelRecipe
from trajmbrl.control.loop import Budget, run_control
from trajmbrl.control.methods import METHODS, NEEDS_MODEL, Settings, method_model_key
from trajmbrl.control.mpc import CEMSettings
from trajmbrl.control.search import CMASettings
from trajmbrl.control.tasks import ControlTask, make_task
from trajmbrl.control.tuning import COLUMNS, Tuning, choose, own_hidden, tune, with_candidate
from trajmbrl.envs.spec import find_system
from trajmbrl.errors import TrajmbrlError
from trajmbrl.modes.artifacts import is_current, layout, write_hashed_csv
from trajmbrl.modes.settings import model_keys, models_override, positive, to_dict, typed
from trajmbrl.training.trainer import TrainConfig
from trajmbrl.utils.atomic import atomic_write_text, config_hash
from trajmbrl.utils.hashed_csv import read_hashed_csv, read_header
from trajmbrl.utils.locks import artifact_lock
from trajmbrl.utils.threads import single_thread

log = logging.getLogger("trajmbrl")


def model_key(cfg: DictConfig, method: str) -> str | None:
    """The key ``method`` trains (None: no model), from the one selected ``models=`` key."""
    keys = model_keys(cfg)
    if len(keys) != 1 and method in NEEDS_MODEL:
        raise TrajmbrlError(
            f"mode=control uses one model key, got {models_override(keys)}; "
            "sweep them with -m models=te,t"
        )
    return method_model_key(method, keys[0])


def recipe(cfg: DictConfig, key: str) -> ModelRecipe:
    """Model ``key`` (its YAML + the ``model.*`` overrides) with its training settings."""
    node = cfg.models[key] if key in cfg.models else model_config(key)
    s = resolve_model(key, to_dict(node), to_dict(cfg.get("model") or {}))
    train = TrainConfig(
        epochs=s["epochs"],
        batch_size=s["batch_size"],
        lr=float(s["lr"]),
        weight_decay=float(s["weight_decay"]),
        patience=positive(cfg, "train.patience", allow_none=False),
        val_fraction=float(cfg.train.val_fraction),
        # a single model trains on all its data; resampling only diversifies ensemble members
        resample=cfg.train.resample if int(s["ensemble_size"]) > 1 else "none",
        seed=int(cfg.seed),
    )
    return ModelRecipe(key, s, train, positive(cfg, "control.max_pairs"))


def settings(cfg: DictConfig, key: str | None) -> tuple[Settings, Budget]:
    """Plain settings and budget from the `control` node (checked by the schema and by the
    dataclasses themselves)."""
    c = cfg.control
    st = typed(
        Settings,
        c,
        cma=typed(CMASettings, c.cma),
        mpc=typed(CEMSettings, c.mpc),
        recipe=recipe(cfg, key) if key else None,
    )
    return st, typed(Budget, c)


def tuned(
    cfg: DictConfig,
    files: Layout,
    task: Callable[[], ControlTask],
    method: str,
    st: Settings,
    budget: Budget,
) -> Settings:
    """``st`` with kappa and the model's width chosen on the tuning seeds (``control.tune``);
    unchanged when the method is not tuned.

    The study is cached in its own hashed CSV, one row per (kappa, hidden, seed), shared by
    every reported seed of the setting; its name and fingerprint leave the grid out, so a grid
    that grows runs only its new cells. ``task`` builds the task when a cell must run.
    """
    tuning = typed(Tuning, cfg.control.tune)
    if not tuning.applies(method):
        return st
    own = own_hidden(st)
    assert st.recipe is not None  # own_hidden checked it
    content = _tuning_content(cfg, st)
    named = config_hash(content)[:12]
    path = files.control_tuning(method, st.recipe.key, named)
    fingerprint = config_hash({**content, "tuning": COLUMNS})
    earlier = _tuning_content(cfg, st, earlier=True)
    before = files.control_tuning(method, st.recipe.key, config_hash(earlier)[:12])
    with artifact_lock(Layout.lock_for(path), f"control tuning {path}"):
        if not path.exists():
            with artifact_lock(Layout.lock_for(before), f"control tuning {before}"):
                hashed = config_hash({**earlier, "tuning": "kappa"})
                _rekey(before, hashed, path, fingerprint, named, hidden=own)
        study = None
        if is_current(path, fingerprint, overwrite=False):
            study = read_hashed_csv(path, hint="Delete it to tune again")
        missing = len(tuning.cells(own)) - _count_cells(study, tuning, own)
        if missing:
            log.info(
                "Tuning kappa x hidden of %s: %d cells on seeds %s (never reported) ...",
                method,
                missing,
                tuning.seeds,
            )

            def save(frame: pd.DataFrame) -> None:
                write_hashed_csv(path, frame, fingerprint, settings=named)

            with single_thread():  # every cell saved: an interrupted study resumes
                study = tune(task(), method, st, budget, tuning, done=study, save=save)
    kappa, hidden = choose(study, tuning, own)
    log.info(
        "%s: kappa %s, hidden %d chosen on the tuning seeds (study %s)", method, kappa, hidden, path
    )
    return with_candidate(st, kappa, hidden)


def _count_cells(study: pd.DataFrame | None, tuning: Tuning, own: int) -> int:
    """How many cells of the grid ``study`` already has."""
    if study is None:
        return 0
    keys = ["kappa", "hidden", "seed"]
    return len(tuning.cells(own).merge(study[keys].astype({"hidden": int, "seed": int}), on=keys))


def run(cfg: DictConfig) -> None:
    """Run ``control.method`` for ``seed`` (unless up to date), then redraw the report."""
    files = layout(cfg)
    if not cfg.control.report_only:
        method = str(cfg.control.method)
        if method not in METHODS:
            raise TrajmbrlError(
                f"control.method={method!r} is unknown; choose one of {', '.join(METHODS)}"
            )
        key = model_key(cfg, method)
        st, budget = settings(cfg, key)
        tuning = typed(Tuning, cfg.control.tune)
        if tuning.applies(method):  # checked before any file (lock included) is touched
            tuning.check_disjoint(int(cfg.seed))

        def task() -> ControlTask:
            return make_task(str(cfg.env.name), control_horizon(cfg))

        # the run is named and fingerprinted by the settings it runs with: the tuned ones
        given, st = st, tuned(cfg, files, task, method, st, budget)
        fingerprint, named = _fingerprint(cfg, st), _settings_hash(cfg, st)
        path = files.control_run(method, key, int(cfg.seed), named)
        legacy = files.legacy_control_run(method, key, int(cfg.seed))
        overwrite = bool(cfg.overwrite)
        # one writer per run CSV; its name carries the settings, so runs of other settings
        # (another control.kappa, say) started at the same time each keep their own CSV
        with artifact_lock(Layout.lock_for(path), f"control run {path}"):
            if not path.exists() and not overwrite:
                _rekey_run(cfg, files, method, key, given, path, fingerprint, named)
            if is_current(path, fingerprint, overwrite=overwrite) or (
                not path.exists() and _legacy_current(legacy, fingerprint, overwrite)
            ):
                log.info("Control run %s is up to date.", path if path.exists() else legacy)
            else:
                with single_thread():  # tiny batches: one thread is 4-10x faster on a busy host
                    frame = run_control(
                        task(), method, st, budget, int(cfg.seed), progress=cfg.progress
                    )
                write_hashed_csv(path, frame, fingerprint, settings=named)
                if overwrite:  # replaced as asked: the run under its earlier name goes too
                    legacy.unlink(missing_ok=True)
                last = frame.iloc[-1]
                log.info(
                    "%s seed %s: true score %.3f after %d episodes (predicted %.3f), %.1f s",
                    method,
                    cfg.seed,
                    last.true_score,
                    last.episodes,
                    last.predicted_score,
                    last.wall_clock,
                )
        if st is not given:  # tuned: runs of the candidates it did not choose are set aside
            set_aside(cfg, files, method, key, given, path)
    if cfg.control.report or cfg.control.report_only:
        with artifact_lock(files.control_report_lock(), "the control report"):
            report(files, list(cfg.plot.formats), typed(Tuning, cfg.control.tune))


def control_horizon(cfg: DictConfig) -> int | None:
    """Episode length: ``control.horizon``, else the env YAML's ``env.horizon`` (None: the
    system spec's)."""
    horizon = positive(cfg, "control.horizon")
    return horizon if horizon is not None else cfg.env.get("horizon")


def set_aside(
    cfg: DictConfig, files: Layout, method: str, key: str | None, given: Settings, chosen: Path
) -> list[Path]:
    """Move this seed's intact runs of the tuning candidates not chosen (another kappa or width,
    every other setting the same: an earlier grid's choice) to ``runs/superseded/``, kept but
    out of the report, which reads only the current choice's runs.

    :returns: the paths moved.
    """
    tuning, seed = typed(Tuning, cfg.control.tune), int(cfg.seed)
    moved = []
    for kappa, hidden in tuning.candidates(own_hidden(given)):
        st = with_candidate(given, kappa, hidden)
        path = files.control_run(method, key, seed, _settings_hash(cfg, st))
        if path == chosen or not path.exists():
            continue
        with artifact_lock(Layout.lock_for(path), f"control run {path}"):
            if csv_status(path, _fingerprint(cfg, st)).done:
                dest = files.control_runs_dir / "superseded" / path.name
                dest.parent.mkdir(parents=True, exist_ok=True)
                path.replace(dest)
                moved.append(dest)
                log.info(
                    "%s: set aside (kappa %s, hidden %d were not chosen)", path.name, kappa, hidden
                )
    return moved


def _rekey_run(
    cfg: DictConfig,
    files: Layout,
    method: str,
    key: str | None,
    given: Settings,
    path: Path,
    fingerprint: str,
    named: str,
) -> None:
    """:func:`_rekey` of the run CSV of these settings hashed as before (``given``: the
    settings as configured, before tuning), if there is one."""
    seed = int(cfg.seed)
    earlier = _content(cfg, given, earlier=True)
    before = files.control_run(
        method, key, seed, config_hash(_seedless(cfg, given, earlier=True))[:12]
    )
    with artifact_lock(Layout.lock_for(before), f"control run {before}"):
        _rekey(before, config_hash({**earlier, "seed": seed}), path, fingerprint, named)


def _legacy_current(legacy: Path, fingerprint: str, overwrite: bool) -> bool:
    """A run CSV under the earlier name (no settings hash) that is current counts as done; one
    of other settings is left alone (this run writes its own, hashed name)."""
    return not overwrite and csv_status(legacy, fingerprint).done


def _content(cfg: DictConfig, st: Settings, *, earlier: bool = False) -> dict[str, Any]:
    """Everything that changes a run's numbers except the seed: the ``control`` node with the
    kappa it runs with (``st``'s: the tuned one), and ``st``'s model; not the report switches,
    nor ``control.tune`` (a run depends on the tuning only through what it chose).

    ``earlier``: the content runs and studies were hashed by before the width was tuned (the
    whole ``control`` node, ``tune`` and the given kappa included; :func:`_rekey`).
    """
    control = {k: v for k, v in to_dict(cfg.control).items() if k not in ("report", "report_only")}
    if earlier:
        control["tune"] = {k: v for k, v in control["tune"].items() if k != "hidden" or v}
    else:
        control = {k: v for k, v in control.items() if k != "tune"} | {"kappa": float(st.kappa)}
    spec = find_system(str(cfg.env.name))
    horizon = control_horizon(cfg)
    if control["horizon"] is None and spec is not None and horizon not in (None, spec.horizon):
        control["horizon"] = horizon  # env.horizon differs from the spec's default
    model: Any = None
    if st.recipe is not None:
        model = {"settings": st.recipe.settings, "train": st.recipe.train.to_dict()}
    return {"control": control, "model": model, "env": str(cfg.env.name)}


def _tuning_content(cfg: DictConfig, st: Settings, *, earlier: bool = False) -> dict[str, Any]:
    """:func:`_seedless` without what the study tries (kappa, the model's width): it names and
    fingerprints a tuning study, whose rows say which kappa, width and seed made them."""
    content = _seedless(cfg, st, earlier=earlier)
    control = {k: v for k, v in content["control"].items() if k != "kappa"}
    if earlier:  # the width was part of the setting then
        return {**content, "control": control}
    settings = {k: v for k, v in content["model"]["settings"].items() if k != "hidden"}
    return {**content, "control": control, "model": {**content["model"], "settings": settings}}


def _rekey(
    old: Path, fingerprint: str, new: Path, new_fingerprint: str, named: str, hidden: int = 0
) -> bool:
    """Move a run CSV or tuning study hashed as earlier versions did (:func:`_content`
    ``earlier``) to its current name and fingerprint when it is intact and was made with the
    same settings (``fingerprint``: the earlier hash of the current config): the same numbers,
    so nothing is computed again. ``hidden``: a tuning study's one width then (its new column).

    :returns: True when ``old`` was moved to ``new``.
    """
    if old == new or not csv_status(old, fingerprint).done:
        return False
    frame = read_hashed_csv(old, hint="Delete it to compute it again")
    if hidden:
        frame.insert(1, "hidden", hidden)
    write_hashed_csv(new, frame, new_fingerprint, settings=named)
    old.unlink()
    log.info("%s: moved to %s (hashed as before; the same settings)", old.name, new.name)
    return True


def _fingerprint(cfg: DictConfig, st: Settings) -> str:
    """Hash of everything that changes a run's numbers, the seed included."""
    return config_hash({**_content(cfg, st), "seed": int(cfg.seed)})


def _seedless(cfg: DictConfig, st: Settings, *, earlier: bool = False) -> dict[str, Any]:
    """:func:`_content` without the model's training seed (the run seed): shared by every seed
    of one setting."""
    content = _content(cfg, st, earlier=earlier)
    if content["model"] is not None:
        train = {k: v for k, v in content["model"]["train"].items() if k != "seed"}
        content = {**content, "model": {**content["model"], "train": train}}
    return content


def _settings_hash(cfg: DictConfig, st: Settings) -> str:
    """12 hex digits naming a run's settings: the seeds of one setting share them (the model's
    training seed is the run seed, so it is left out too)."""
    return config_hash(_seedless(cfg, st))[:12]


def tuning_tables(studies: list[Path], tuning: Tuning) -> pd.DataFrame:
    """:func:`~trajmbrl.reports.control.tuning_table` of every study (method and model from its
    name; ``study``: its settings hash when a method and model have several)."""
    from trajmbrl.reports.control import tuning_table

    parts = []
    for path in studies:
        method, model, named = path.stem.split("__")
        study = read_hashed_csv(path, hint="Delete it to tune again")
        if "hidden" not in study:  # hashed as before: one width; moved when its method runs
            continue
        t = tuning_table(study, tuning.values, tuning.hidden)
        parts.append(t.assign(method=method, model=model, study=named))
    if not parts:
        return pd.DataFrame()
    cols = ["method", "model", "study", "kappa", "hidden", "seeds", "mean", "chosen", "edge"]
    return pd.concat(parts, ignore_index=True)[cols]


def read_runs(files: Layout) -> pd.DataFrame:
    """Every run CSV of the env concatenated, each checked in full (row count, content hash)
    first; a ``settings`` column says which settings made it (empty frame when none).

    :raises TrajmbrlError: a truncated or edited run CSV, or runs of one method and model
        made with different settings (their rounds would be mixed in one curve).
    """
    frames = []
    for path in files.control_run_files():
        frame = read_hashed_csv(path, hint="Run it again: trajmbrl mode=control ... overwrite=true")
        name = parse_control_run(path)
        frame["settings"] = read_header(path).get("settings", name.settings)
        frame["file"] = path.name
        frames.append(frame)
    if not frames:
        return pd.DataFrame()
    frame = pd.concat(frames, ignore_index=True)
    frame["model"] = frame["model"].astype("string").fillna("").astype(str)  # "" = no model
    for (method, model), g in frame.groupby(["method", "model"], sort=True):
        if g["settings"].nunique() > 1:
            names = ", ".join(sorted(set(g["file"])))
            raise TrajmbrlError(
                f"control runs of {method} ({model or 'no model'}) under {files.control_runs_dir} "
                f"were made with different settings ({names}); report them apart: move one "
                "setting's CSVs elsewhere, or run each with its own experiment_name=<name>"
            )
    return frame.drop(columns=["settings", "file"])


def report(files: Layout, formats: list[str], tuning: Tuning | None = None) -> None:
    """Learning-curve figure and final table of every run CSV of the env; with ``tuning``,
    the tuning table of every study of the env (the grid's candidates, the chosen ones)."""
    from trajmbrl.plotting.control import learning_curves
    from trajmbrl.reports.control import final_table

    frame = read_runs(files)
    if frame.empty:
        raise TrajmbrlError(
            f"No control runs under {files.control_runs_dir}; run mode=control first"
        )
    table = final_table(frame)
    atomic_write_text(files.control_table(), table.to_csv(index=False))
    written, studies = [files.control_table()], files.control_tuning_files()
    if tuning is not None and tuning.values and studies:
        chosen = tuning_tables(studies, tuning)
        atomic_write_text(files.control_tuning_table(), chosen.to_csv(index=False))
        written.append(files.control_tuning_table())
        print("\nTuning (mean final score on the tuning seeds; chosen candidates):")
        print(chosen[chosen["chosen"]].to_string(index=False, float_format=lambda v: f"{v:.3f}"))
    write_manifest(
        files.control_table().parent,
        written,
        run_dir=Path(files.control_dir),
        sources=[*files.control_run_files(), *studies],
        dataset_sha256=None,
    )
    env = str(frame["env"].iloc[0])
    paths = learning_curves(
        frame,
        files.control_figure(),
        formats=formats,
        title=f"{env}: true score vs system episodes (median over seeds)",
    )
    print(f"\nControl on {env} (last round of each seed; score = mean reward over s_1..s_H):")
    print(table.to_string(index=False, float_format=lambda v: f"{v:.3f}"))
    print("\nTable: " + str(files.control_table()))
    print("Figure: " + ", ".join(str(p) for p in paths))
