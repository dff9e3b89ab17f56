"""tables/MANIFEST.json: every reader of the mode=plot tables checks them in full."""

import importlib.util
import json
from pathlib import Path

import pandas as pd
import pytest

from trajmbrl.artifacts.manifest import MANIFEST, table_problem, write_manifest
from trajmbrl.reports.summary import main
from trajmbrl.utils.hashed_csv import write_hashed_csv

SCRIPT = Path(__file__).resolve().parents[1] / "scripts/compare_runs.py"
spec = importlib.util.spec_from_file_location("compare_runs", SCRIPT)
assert spec and spec.loader
compare_runs = importlib.util.module_from_spec(spec)
spec.loader.exec_module(compare_runs)

WILCOXON = pd.DataFrame(
    {
        "comparison": ["t vs d (logged)"] * 2,
        "a": ["t", "t"],
        "b": ["d (logged)"] * 2,
        "horizon": [1, 200],
        "lower_error": ["t", "d (logged)"],
        "p_holm": [1e-4, 1e-3],
    }
)


def _plotted(root: Path) -> Path:
    """A run dir whose wilcoxon table was written as mode=plot writes it (with its manifest,
    made from one metrics CSV on dataset ``aaa``)."""
    run = root / "outputs/sec52/cartpole/stable"
    (run / "tables").mkdir(parents=True)
    metrics = run / "metrics/t.csv"
    write_hashed_csv(metrics, pd.DataFrame({"x": [1, 2]}), "fp", dataset="aaa")
    table = run / "tables/wilcoxon.csv"
    WILCOXON.to_csv(table, index=False)
    write_manifest(run / "tables", [table], run_dir=run, sources=[metrics], dataset_sha256="aaa")
    return table


def _refusal(capsys, root: Path) -> str:
    assert main([str(root / "outputs")]) == 1
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1
    return err


def test_intact_tables_are_reported(tmp_path, capsys):
    _plotted(tmp_path)
    assert main([str(tmp_path / "outputs")]) == 0
    assert "t beats d (logged)" in capsys.readouterr().out


def test_truncated_table_is_refused_with_the_plot_command(tmp_path, capsys):
    table = _plotted(tmp_path)
    table.write_text("".join(table.read_text().splitlines(keepends=True)[:-1]))
    err = _refusal(capsys, tmp_path)
    assert str(table) in err and "truncated" in err
    assert f"TRAJMBRL_ROOT={tmp_path} trajmbrl mode=plot experiment=sec52 envs=cartpole" in err
    assert "data.tag=stable" in err


def test_edited_table_is_refused(tmp_path, capsys):
    table = _plotted(tmp_path)
    table.write_text(table.read_text().replace("0.001", "0.9"))
    err = _refusal(capsys, tmp_path)
    assert str(table) in err and "sha256" in err and "mode=plot" in err


def test_table_without_manifest_is_refused(tmp_path, capsys):
    table = _plotted(tmp_path)
    (table.parent / MANIFEST).unlink()  # as an older version wrote it
    err = _refusal(capsys, tmp_path)
    assert str(table) in err and f"no {MANIFEST}" in err and "mode=plot" in err


def test_table_missing_from_the_manifest_is_refused(tmp_path, capsys):
    table = _plotted(tmp_path)
    manifest = table.parent / MANIFEST
    data = json.loads(manifest.read_text())
    data["tables"] = {}
    manifest.write_text(json.dumps(data))
    err = _refusal(capsys, tmp_path)
    assert str(table) in err and "not listed" in err


def test_table_from_results_of_an_older_dataset_is_refused(tmp_path, capsys):
    table = _plotted(tmp_path)
    metrics = table.parent.parent / "metrics/t.csv"  # re-evaluated on a re-collected dataset
    write_hashed_csv(metrics, pd.DataFrame({"x": [1, 2]}), "fp", dataset="bbb")
    err = _refusal(capsys, tmp_path)
    assert str(table) in err and str(metrics) in err and "aaa" in err


def test_rewritten_manifest_keeps_unchanged_tables(tmp_path):
    table = _plotted(tmp_path)
    other = table.with_name("runs.csv")
    other.write_text("row,seed\nt,0\n")
    run = table.parent.parent
    write_manifest(table.parent, [other], run_dir=run, sources=[], dataset_sha256=None)
    assert table_problem(table) is None and table_problem(other) is None


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["{tmp}/nope"], "no outputs directory"),
        (["{tmp}"], "no tables under"),
        (["{tmp}", "--bogus"], "unrecognized arguments: --bogus"),
    ],
)
def test_bad_outputs_or_argument_is_one_line(tmp_path, capsys, argv, message):
    assert main([a.format(tmp=tmp_path) for a in argv]) == 1
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and message in err and err.startswith("trajmbrl: error:")


def test_compare_runs_counts_only_checked_tables_as_identical(tmp_path):
    a, b = _plotted(tmp_path / "a"), _plotted(tmp_path / "b")
    result = compare_runs.compare(tmp_path / "a/outputs", tmp_path / "b/outputs")
    assert result["tables"] == (1, [])
    (a.parent / MANIFEST).unlink()
    (b.parent / MANIFEST).unlink()  # same bytes, but neither can be checked
    result = compare_runs.compare(tmp_path / "a/outputs", tmp_path / "b/outputs")
    assert result["tables"] == (1, ["sec52/cartpole/stable/tables/wilcoxon.csv"])
