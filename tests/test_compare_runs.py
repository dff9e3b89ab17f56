"""scripts/compare_runs.py: what counts as the same artifact across two runs."""

import importlib.util
from pathlib import Path

import torch

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
    (run / "metrics/t.csv").write_text(f"# config_hash={config_hash} rows=1 sha256=abc\nx\n1\n")
    (run / "tables/median_nmse.csv").write_text(table)


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
