"""trajmbrl.reports.verdicts: the verdict table reads the Wilcoxon tables right."""

import pandas as pd

from trajmbrl.artifacts.manifest import write_manifest
from trajmbrl.reports import verdicts as summary


def _record(table) -> None:
    """The manifest mode=plot writes beside ``table`` (made from no result files here)."""
    write_manifest(
        table.parent, [table], run_dir=table.parent.parent, sources=[], dataset_sha256=None
    )


def _tests(comparison: str, b: str, rows: list[tuple[int, str, float]]) -> pd.DataFrame:
    a = comparison.split(" vs ")[0]
    return pd.DataFrame(
        [
            {
                "comparison": comparison,
                "a": a,
                "b": b,
                "horizon": h,
                "lower_error": {"a": a, "b": b}.get(w, w),
                "p_holm": p,
            }
            for h, w, p in rows
        ]
    )


def test_verdict_table_bands(tmp_path):
    run = tmp_path / "sec52/cartpole/stable"
    (run / "tables").mkdir(parents=True)
    frame = pd.concat(
        [
            _tests(
                "t vs d (logged)",
                "d (logged)",
                [
                    (1, "b", 1e-9),
                    (10, "b", 1e-3),
                    (50, "a", 0.2),
                    (100, "a", 1e-4),
                    (200, "a", 1e-5),
                ],
            ),
            _tests(
                "t vs strongest baseline",
                "hmean",
                [(1, "b", 1e-9), (10, "b", 1e-9), (200, "a", 0.04)],
            ),
        ]
    )
    frame.to_csv(run / "tables/wilcoxon.csv", index=False)
    _record(run / "tables/wilcoxon.csv")
    table = summary.verdict_table([run]).set_index("claim")
    logged = table.loc["t beats d (logged)"]
    assert logged["h <= 10"] == "fails"
    assert logged["10 < h <= 100"] == "h=50 tie, h=100 holds"
    assert logged["h > 100"] == "holds"
    strongest = table.loc["t beats strongest baseline"]
    assert strongest["h <= 10"] == "fails (vs hmean)"
    assert strongest["10 < h <= 100"] == "-"
    assert strongest["h > 100"] == "holds (vs hmean)"
    assert set(table["system"]) == {"sec52: cartpole / stable"}


def test_seed_spread_is_max_over_min_across_seeds(tmp_path):
    run = tmp_path / "sec52/reacher/default"
    (run / "tables").mkdir(parents=True)
    pd.DataFrame(
        {
            "row": ["t"] * 3 + ["hmean"],
            "seed": [0, 1, 2, 0],
            "h=1": [1.0, 2.0, 4.0, 1.0],
            "h=10": [1.0, 1.5, 1.2, 1.0],
            "h=50": [2.0, 2.0, 2.0, 1.0],
        }
    ).to_csv(run / "tables/runs.csv", index=False)
    _record(run / "tables/runs.csv")
    spread = summary.seed_spread([run]).set_index("row")
    assert spread.loc["t", "sec52: reacher / default"] == "1.5x"  # median of 4, 1.5, 1
    assert "hmean" not in spread.index  # one seed: nothing to spread
