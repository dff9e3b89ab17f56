"""The `trajmbrl` command: one Hydra app dispatching to a mode through a lookup table."""

from __future__ import annotations

import logging
import os
import sys
from pathlib import Path

import hydra
from hydra.core.hydra_config import HydraConfig
from hydra.errors import HydraException
from hydra.types import RunMode
from omegaconf import DictConfig
from omegaconf.errors import OmegaConfBaseException

from trajmbrl.configs import conf_dir
from trajmbrl.errors import TrajmbrlError, wrapped_error
from trajmbrl.modes import MODES, register_resolvers

HYDRA_VERSION_BASE = "1.3"
log = logging.getLogger("trajmbrl")


#: Command-line keys that no longer exist -> what replaces them.
REMOVED = {
    "eval.models": "models=<key> or models=[k1,k2] (one syntax for train, eval, control)",
    "eval.action_source": "eval.protocols=[logged,controller] (or one of them)",
    "eval.task": "eval=horizon|efficiency|reward (the eval config group, conf/eval/)",
}


register_resolvers()


@hydra.main(version_base=HYDRA_VERSION_BASE, config_path=str(conf_dir()), config_name="config")
def _app(cfg: DictConfig) -> None:
    try:
        MODES[cfg.mode.name](cfg)
    except TrajmbrlError as exc:
        if HydraConfig.get().mode == RunMode.MULTIRUN:
            # let the launcher record this job as failed and carry on with the others
            hc = HydraConfig.get()
            job_log = Path(hc.runtime.output_dir) / f"{hc.job.name}.log"
            log.error("%s (job log: %s)", exc, job_log)
            raise TrajmbrlError(f"{exc}\n  job log: {job_log}") from None
        print(f"trajmbrl: error: {exc}", file=sys.stderr)
        sys.exit(2)


def removed_key(args: list[str]) -> str | None:
    """The error for the first override in ``args`` that names a removed key, else None."""
    for arg in args:
        key = arg.split("=", 1)[0].lstrip("+~")
        if "=" in arg and key in REMOVED:
            return f"{key} was removed: use {REMOVED[key]}"
    return None


def main() -> None:
    """Console-script entry point."""
    error = removed_key(sys.argv[1:])
    if error:
        print(f"trajmbrl: error: {error}", file=sys.stderr)
        sys.exit(2)
    if os.environ.get("HYDRA_FULL_ERROR") == "1":
        _app()  # the user asked for tracebacks
        return
    os.environ["HYDRA_FULL_ERROR"] = "1"  # Hydra re-raises instead of printing a traceback ...
    try:
        _app()
    except Exception as exc:
        # ... and every failure a user can cause (bad value, missing or unwritable file, full
        # disk, Hydra's own run-directory creation, a SLURM launcher without a cluster) ends in
        # one message instead
        message = slurm_failure(exc)
        if message is None and not isinstance(exc, USER_ERRORS):
            raise
        print(f"trajmbrl: error: {message or _describe(exc)}", file=sys.stderr)
        sys.exit(2)


#: the failures a user can cause, shown as one line (anything else is a bug: a traceback)
USER_ERRORS = (TrajmbrlError, OSError, HydraException, OmegaConfBaseException)


def slurm_failure(exc: BaseException) -> str | None:
    """The one-line message for a SLURM submission that could not happen (no ``sbatch`` on
    PATH, or ``sbatch`` refused: no cluster configured, unknown partition or account), naming
    the site file to configure; None for any other exception."""
    missing = isinstance(exc, FileNotFoundError) and exc.filename in ("sbatch", "srun")
    refused = type(exc).__name__ == "FailedJobError" and type(exc).__module__.startswith("submitit")
    no_srun = isinstance(exc, RuntimeError) and _raised_in(exc, "submitit/slurm/")
    if not (missing or refused or no_srun):
        return None
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    why = "no sbatch or srun on PATH" if missing or no_srun else lines[-1] if lines else "sbatch"
    site = conf_dir() / "local" / "default.yaml"
    shown = os.path.relpath(site) if site.is_relative_to(Path.cwd()) else str(site)
    state = "" if site.exists() else " (it does not exist yet: copy slurm.example.yaml beside it)"
    return (
        f"SLURM submission failed ({why}): hydra/launcher=slurm needs a SLURM cluster (run on "
        f"its login node) and your site values (partition, account, qos) in {shown}{state}; "
        "see docs/cluster.md, or run the sweep on this machine with hydra/launcher=local"
    )


def _raised_in(exc: BaseException, part: str) -> bool:
    """Whether ``exc`` was raised by code whose file path contains ``part``."""
    tb = exc.__traceback__
    while tb is not None and tb.tb_next is not None:
        tb = tb.tb_next
    return tb is not None and part in tb.tb_frame.f_code.co_filename.replace("\\", "/")


def _describe(exc: BaseException) -> str:
    """The user-facing message of ``exc``; an OSError names its file."""
    if isinstance(exc, OSError) and exc.filename:
        return f"cannot use {exc.filename}: {exc.strerror}"
    if wrapped_error(exc):  # raised by a resolver (trajmbrl.root)
        return str(wrapped_error(exc))
    return str(exc) or type(exc).__name__


if __name__ == "__main__":
    main()
