"""trajmbrl.reports: the results page and the published figures (``make results``)."""

from __future__ import annotations

import re
import runpy
import sys
from collections import defaultdict
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from trajmbrl.artifacts.manifest import write_manifest
from trajmbrl.reports.efficiency import STRONGEST, with_strongest
from trajmbrl.reports.figures import EFFICIENCY, PUBLISHED, SOURCES, publish_figures

REPO = Path(__file__).resolve().parents[1]
SCRIPT = REPO / "scripts" / "results_summary.py"
FIGURES = REPO / "docs" / "figures"
#: a markdown link or image target: ``](target)``
LINK = re.compile(r"\]\(([^)\s]+)\)")
DEMO = "demo_cartpole_demo_stable_nmse_vs_horizon.png"
CONTROL = "control_cartpole_control_learning_curve.png"


def _outputs(root: Path) -> Path:
    """A tiny outputs tree: two published figures, one unpublished, one Wilcoxon table."""
    for rel in (SOURCES[DEMO], SOURCES[CONTROL], "sec52/cartpole/stable/figures/extra.png"):
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(f"png of {rel}".encode())
    tables = root / "sec52/cartpole/stable/tables"
    tables.mkdir(parents=True)
    pd.DataFrame(
        {
            "comparison": ["t vs d (logged)"],
            "a": ["t"],
            "b": ["d (logged)"],
            "horizon": [200],
            "lower_error": ["t"],
            "p_holm": [1e-4],
        }
    ).to_csv(tables / "wilcoxon.csv", index=False)
    write_manifest(  # as mode=plot records it (a table without one is refused)
        tables, [tables / "wilcoxon.csv"], run_dir=tables.parent, sources=[], dataset_sha256=None
    )
    return root


def test_published_names_are_flat_copies_of_run_figures():
    # 25 + issue 21's ratio / regret maps + the heavy cartpole's control curve (issue 22) + the
    # six benchmark leaderboards' skill figures (issue 24)
    assert len(PUBLISHED) == len(set(PUBLISHED)) == 36
    assert str(SOURCES[CONTROL]) == "control/cartpole/control/figures/learning_curve.png"
    assert str(SOURCES[DEMO]) == "demo/cartpole/demo_stable/figures/nmse_vs_horizon.png"
    assert list(PUBLISHED) == sorted(PUBLISHED)


def test_published_grid_figures_are_the_names_the_heatmaps_write(tmp_path, monkeypatch):
    from trajmbrl.plotting import heatmaps

    # the names only: skip rendering the files
    monkeypatch.setattr(heatmaps, "save_figure", lambda fig, stem, formats: [stem])

    agg = pd.DataFrame(
        [
            {"model": m, "num_traj": n, "t_range": t, "metric": s, "value": 0.5, "q25": 0.4}
            for m in ("t", "d", "d (closed loop)", "hmean", "zero")
            for s in ("mse", "cosine", "gaussian")
            for n in (1, 3)
            for t in (10, 20)
        ]
    ).assign(q75=0.6)
    ratios = [("t", "d"), ("t", "d (closed loop)")]  # and every model over the strongest
    ratios += [(m, STRONGEST) for m in ("d", "d (closed loop)", "t")]  # baseline (mode=plot)
    paths = heatmaps.efficiency_heatmaps(
        with_strongest(agg), tmp_path, ["png"], ratios=ratios, reference_rows=[STRONGEST]
    )
    names = sorted(p.name for p in paths)
    assert set(EFFICIENCY) <= set(names)
    assert len(names) == len(EFFICIENCY) + 1  # d over the strongest baseline is not published


def test_publish_figures_rebuilds_the_directory_from_scratch(tmp_path):
    root = _outputs(tmp_path / "outputs")
    dest = tmp_path / "figures"
    dest.mkdir()
    (dest / "sec52_cartpole.png").write_bytes(b"stale")
    (dest / CONTROL).write_bytes(b"old")
    (dest / "notes.txt").write_text("not a figure")
    written, missing = publish_figures(root, dest)
    assert written == [CONTROL, DEMO]
    assert sorted(missing) == sorted(set(PUBLISHED) - {CONTROL, DEMO})
    assert sorted(p.name for p in dest.glob("*.png")) == [CONTROL, DEMO]
    assert (dest / CONTROL).read_bytes() == (root / SOURCES[CONTROL]).read_bytes()
    assert (dest / "notes.txt").exists()


@pytest.mark.parametrize("entry", ["module", "script"])
def test_entry_writes_the_page_and_the_figures(tmp_path, monkeypatch, capsys, entry):
    root = _outputs(tmp_path / "outputs")
    out, dest = tmp_path / "results_tables.md", tmp_path / "figures"
    monkeypatch.setattr(sys, "argv", ["x", str(root), "--out", str(out), "--figures", str(dest)])
    with pytest.raises(SystemExit) as done:
        if entry == "module":
            runpy.run_module("trajmbrl.reports", run_name="__main__")
        else:
            runpy.run_path(str(SCRIPT), run_name="__main__")
    assert done.value.code == 0
    page = out.read_text()
    assert page.startswith("# Results tables (generated)")
    assert "| sec52: cartpole / stable | t beats d (logged) | - | - | holds |" in page
    assert f"- ![{DEMO}](figures/{DEMO})" in page and "extra.png" not in page
    assert sorted(p.name for p in dest.iterdir()) == [CONTROL, DEMO]
    warning = capsys.readouterr().err
    assert "34 published figures not found" in warning and "sec55_cartpole_stable" in warning


def _figure_links() -> dict[str, set[str]]:
    """File name in docs/figures -> the markdown files (README.md, docs/*.md) linking to it."""
    found: dict[str, set[str]] = defaultdict(set)
    for md in [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]:
        for target in LINK.findall(md.read_text()):
            path = (md.parent / target).resolve()
            if path.parent == FIGURES.resolve():
                found[path.name].add(md.name)
    return found


def test_docs_figures_are_generated_and_referenced_and_references_exist():
    files = {p.name for p in FIGURES.iterdir()}
    links = _figure_links()
    assert not files - set(PUBLISHED), f"not made by make results: {sorted(files - set(PUBLISHED))}"
    assert not files - set(links), f"in docs/figures, linked nowhere: {sorted(files - set(links))}"
    assert not set(links) - files, (
        f"linked but missing: { {f: links[f] for f in set(links) - files} }"
    )
    assert len(links) == len(files) > 20


def test_reward_outputs_write_the_accuracy_table_and_the_figure(tmp_path, capsys):
    from omegaconf import OmegaConf

    from trajmbrl.evaluation.reward_tables import reward_frame, reward_table
    from trajmbrl.modes.console import reward_outputs
    from trajmbrl.reports.reward import reward_accuracy

    true = np.linspace(0.0, 1.0, 6)
    preds = {"t": true + 0.01, "d (logged)": np.r_[true[:5], np.inf]}
    frame = reward_frame(true, preds, traj=np.arange(6)[::-1])
    expected = reward_table(true[::-1], {m: p[::-1] for m, p in preds.items()})
    pd.testing.assert_frame_equal(reward_accuracy(frame), expected)
    cfg = OmegaConf.create({"env": {"name": "cartpole"}, "plot": {"formats": ["png"]}})
    reward_outputs(cfg, frame, tmp_path)
    written = pd.read_csv(tmp_path / "tables/reward.csv")
    assert list(written["method"]) == ["t", "d (logged)"]
    assert (tmp_path / "figures/reward_prediction.png").exists()
    assert "held-out controllers (cartpole)" in capsys.readouterr().out


def test_a_partial_run_keeps_the_blocks_and_figures_it_cannot_regenerate(tmp_path):
    """Blocks of the earlier page the new run has no outputs for stay, naming their commit;
    the blocks it has are replaced; --fresh drops the rest."""
    from trajmbrl.reports.keep import merge
    from trajmbrl.reports.summary import main

    old = [
        "# Results tables (generated)",
        "",
        "Written by `make results` (`python -m trajmbrl.reports outputs`) at commit abc1234 "
        "from the tables",
        "",
        "### sec53",
        "",
        "old 5.3 table",
        "### control",
        "",
        "old control table",
    ]
    new = ["# head", "", "### control", "", "new control table", "### benchmark", "", "b"]
    merged = merge(old, new)
    text = "\n".join(merged)
    assert "old 5.3 table" in text and "commit abc1234): this run has no" in text
    assert "new control table" in text and "old control table" not in text
    assert merged.index("### sec53") < merged.index("### control") < merged.index("### benchmark")
    again = merge([*merged[:0], *old[:3], *merged[2:]], new)  # a second partial run
    assert "\n".join(again).count("_Kept from") == 1 and "abc1234" in "\n".join(again)

    root = _outputs(tmp_path / "outputs")
    page, dest = tmp_path / "results_tables.md", tmp_path / "figures"
    dest.mkdir()
    kept = "sec53_cartpole_periodic_nmse_vs_horizon.png"
    (dest / kept).write_bytes(b"5.3 figure of an earlier run")
    page.write_text("\n".join(old) + "\n")
    assert main([str(root), "--out", str(page), "--figures", str(dest)]) == 0
    assert "old 5.3 table" in page.read_text() and (dest / kept).exists()
    assert f"![{kept}]" in page.read_text()
    assert main([str(root), "--out", str(page), "--figures", str(dest), "--fresh"]) == 0
    assert "old 5.3 table" not in page.read_text() and not (dest / kept).exists()
