"""Where every artifact lives (:mod:`.layout`) and whether it is already done (:mod:`.status`)."""

from trajmbrl.artifacts.layout import Layout, ModelSlot, parse_model_dir
from trajmbrl.artifacts.status import Check, Status, checkpoint_status, csv_status

__all__ = [
    "Check",
    "Layout",
    "ModelSlot",
    "Status",
    "checkpoint_status",
    "csv_status",
    "parse_model_dir",
]
