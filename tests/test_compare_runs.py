"""scripts/compare_runs.py: what counts as the same artifact across two runs."""

import importlib.util
from pathlib import Path

import pandas as pd
import torch

from trajmbrl.artifacts.manifest import write_manifest
from trajmbrl.utils.hashed_csv import write_hashed_csv

SCRIPT = Path(__file__).resolve().parents[1] / "scripts/compare_runs.py"
spec = importlib.util.spec_from_file_location("compare_runs", SCRIPT)
compare_runs = importlib.util.module_from_spec(spec)
spec.loader.exec_module(compare_runs)


def _run(root: Path, weight: float, config_hash: str, table: str) -> None:
    run = root / "sec52/cartpole/stable"
    (run / "models/t/n=all_t=all/seed=0").mkdir(parents=True)
    (run / "metrics").mkdir()
    (run / "tables").mkdir()
    torch.save(
        {"state_dict": {"w": torch.full((2,), weight)}, "meta": config_hash},
        run / "models/t/n=all_t=all/seed=0/model.pt",
    )
    write_hashed_csv(run / "metrics/t.csv", pd.DataFrame({"x": [1, 2]}), config_hash)
    (run / "tables/median_nmse.csv").write_text(table)
    write_manifest(
        run / "tables",
        [run / "tables/median_nmse.csv"],
        run_dir=run,
        sources=[run / "metrics/t.csv"],
        dataset_sha256=None,
    )


def test_weights_and_contents_count_paths_and_meta_do_not(tmp_path):
    _run(tmp_path / "a", 1.0, "c1", "h=1\n0.5\n")
    _run(tmp_path / "b", 1.0, "c2", "h=1\n0.5\n")  # other config hash, same content
    result = compare_runs.compare(tmp_path / "a/", tmp_path / "b/")
    assert {k: (n, d) for k, (n, d) in result.items()} == {
        "models": (1, []),
        "metrics": (1, []),
        "tables": (1, []),
        "5.4 scores": (0, []),
    }
    _run(tmp_path / "c", 1.0 + 1e-7, "c1", "h=1\n0.50001\n")
    result = compare_runs.compare(tmp_path / "a", tmp_path / "c")
    assert result["models"][1] == ["sec52/cartpole/stable/models/t/n=all_t=all/seed=0/model.pt"]
    assert result["tables"][1] == ["sec52/cartpole/stable/tables/median_nmse.csv"]
    assert result["metrics"][1] == []


def test_a_damaged_metrics_csv_is_never_the_same(tmp_path):
    _run(tmp_path / "a", 1.0, "c1", "h=1\n0.5\n")
    _run(tmp_path / "b", 1.0, "c1", "h=1\n0.5\n")
    metrics = tmp_path / "b/sec52/cartpole/stable/metrics/t.csv"
    metrics.write_text(metrics.read_text().rsplit("2\n", 1)[0])  # last row lost, header kept
    result = compare_runs.compare(tmp_path / "a", tmp_path / "b")
    assert result["metrics"][1] == ["sec52/cartpole/stable/metrics/t.csv"]
