"""Import logged robot data (CSV / Parquet) into the dataset contract (design.md section 3).

Two entry points:

- :func:`import_logs`: any robot, described by a :class:`LogColumns` mapping ("bring your own
  robot" by config). Row semantics: row ``k`` holds the state ``s_k`` and the action ``a_k``
  applied *at* ``s_k``; the next row of the same episode holds ``s_{k+1}``. An episode of ``L``
  rows therefore gives ``L`` states and ``L - 1`` usable actions (the last row's action has no
  logged successor).
- :func:`import_crazyflie_hw`: the real Crazyflie 2.0 flights (paper section 5.2) packaged as
  ``crazyflie_hw/cf.csv``. That log stores each row's true next state (``*_1fx``), so a run of
  ``L`` consecutive rows gives ``L`` actions and ``L + 1`` states; flights are additionally cut
  where rows were removed from the source log (row ``k``'s next state is not row ``k+1``'s state).

Rewards are not logged by either source: ``rewards`` is 0 on valid steps (NaN padding beyond).

Modules: ``tables`` (reading a table, checking columns and values), ``outliers`` (the
per-column outlier rule), ``episodes`` (cutting a table
into episodes), ``dataset`` (padding and the seeded split), ``logs`` (:func:`import_logs`),
``crazyflie`` (:func:`import_crazyflie_hw`).
"""

from trajmbrl.data.importers.crazyflie import (
    CF_ACTION,
    CF_NEXT,
    CF_SOURCE,
    CF_STATE,
    CF_TIME,
    import_crazyflie_hw,
    packaged_crazyflie_csv,
)
from trajmbrl.data.importers.dataset import build_dataset
from trajmbrl.data.importers.episodes import episodes_from_table
from trajmbrl.data.importers.logs import import_logs
from trajmbrl.data.importers.outliers import OUTLIER_FACTOR, SPIKE_FACTOR
from trajmbrl.data.importers.tables import (
    CSV_SUFFIXES,
    PARQUET_SUFFIXES,
    LogColumns,
    read_table,
)

__all__ = [
    "CF_ACTION",
    "CF_NEXT",
    "CF_SOURCE",
    "CF_STATE",
    "CF_TIME",
    "CSV_SUFFIXES",
    "OUTLIER_FACTOR",
    "PARQUET_SUFFIXES",
    "SPIKE_FACTOR",
    "LogColumns",
    "build_dataset",
    "episodes_from_table",
    "import_crazyflie_hw",
    "import_logs",
    "packaged_crazyflie_csv",
    "read_table",
]
