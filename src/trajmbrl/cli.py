"""The `trajmbrl` command: one Hydra app dispatching to a mode through a lookup table."""

from __future__ import annotations

import logging
import sys
from pathlib import Path

import hydra
from hydra.core.hydra_config import HydraConfig
from hydra.types import RunMode
from omegaconf import DictConfig

from trajmbrl.errors import TrajmbrlError
from trajmbrl.modes import MODES, register_resolvers

HYDRA_VERSION_BASE = "1.3"
log = logging.getLogger("trajmbrl")


def conf_dir() -> Path:
    """The config directory: `conf/` at the repository root (editable install) or packaged."""
    repo = Path(__file__).resolve().parents[2] / "conf"
    return repo if (repo / "config.yaml").exists() else Path(__file__).resolve().parent / "conf"


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


def main() -> None:
    """Console-script entry point."""
    _app()


if __name__ == "__main__":
    main()
