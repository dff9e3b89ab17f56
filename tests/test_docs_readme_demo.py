"""README's demo table is what `make readme-demo` (scripts/readme_demo.py) writes."""

from __future__ import annotations

import importlib.util
import re
from pathlib import Path

import pandas as pd
import pytest

from trajmbrl.artifacts.manifest import write_manifest
from trajmbrl.errors import TrajmbrlError

ROOT = Path(__file__).resolve().parents[1]
_spec = importlib.util.spec_from_file_location("readme_demo", ROOT / "scripts" / "readme_demo.py")
assert _spec and _spec.loader
readme_demo = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(readme_demo)

#: a table cell: a number (3 significant digits) or the ceiling mark, with the diverged share
CELL = r"(-?[0-9.]+(e[-+]?\d+)?|>=1e6 \(div\.(, \d+%)?\))( \(\d+% div\.\))?"


def block_of(text: str) -> list[str]:
    start, end = text.index(readme_demo.BEGIN), text.index(readme_demo.END)
    return text[start:end].splitlines()[1:]


def check_format(lines: list[str], horizons) -> None:
    assert lines[0].startswith("What the demo shows (`make demo`; models trained at commit ")
    header = "| h | " + " | ".join(readme_demo.ROWS) + " |"
    table = [line for line in lines if line.startswith("|")]
    assert table[0] == header and set(table[1]) == set("|-")
    assert [row.split(" | ")[0] for row in table[2:]] == [f"| {h}" for h in horizons]
    for row in table[2:]:
        cells = row.strip("| ").split(" | ")[1:]
        assert len(cells) == len(readme_demo.ROWS)
        assert all(re.fullmatch(CELL, c) for c in cells), row


def test_the_readme_block_has_the_generators_format():
    text = (ROOT / "README.md").read_text()
    assert text.count(readme_demo.BEGIN) == 1 and text.count(readme_demo.END) == 1
    check_format(block_of(text), readme_demo.HORIZONS)
    assert "readme-demo:" in (ROOT / "Makefile").read_text()


def fabricated_demo(root: Path) -> Path:
    """A demo run's median_nmse.csv as mode=plot writes it (recorded in tables/MANIFEST.json)
    and its dataset manifest, without the minutes the demo takes; returns the outputs dir."""
    tables = root / "outputs" / readme_demo.RUN / "tables"
    tables.mkdir(parents=True)
    frame = pd.DataFrame(
        {
            "row": list(readme_demo.ROWS),
            "model": "m",
            "protocol": "",
            "variant": "n=all_t=all",
            "seeds": 1,
            "h=1": "0.0022",
            "h=50": "0.00017",
            "h=200": [">=1e6 (div.)", *["3.8e-05"] * 5, "6.4"],
            "diverged": ["100%", *["0%"] * 5, "57%"],
        }
    )
    frame.to_csv(tables / "median_nmse.csv", index=False)
    write_manifest(
        tables, [tables / "median_nmse.csv"], run_dir=tables.parent, sources=[],
        dataset_sha256=None,
    )  # fmt: skip
    (root / "trajectories" / "cartpole").mkdir(parents=True)
    (root / "trajectories" / readme_demo.DATASET).write_text('{"num_test": 40}')
    return root / "outputs"


def test_the_generator_rewrites_only_the_block_and_refuses_a_damaged_table(tmp_path, capsys):
    outputs = fabricated_demo(tmp_path)
    block = readme_demo.demo_block(outputs)
    check_format(block.splitlines()[1:-1], readme_demo.HORIZONS)
    assert "| 200 | >=1e6 (div., 100%) | " in block and " | 6.4 (57% div.) |" in block
    assert "over the 40 test trajectories, one seed;" in block
    readme = tmp_path / "README.md"
    readme.write_text((ROOT / "README.md").read_text())
    args = ["--outputs", str(outputs), "--readme", str(readme)]
    assert readme_demo.main([*args, "--check"]) in (0, 1)
    assert readme_demo.main(args) == 0 and readme_demo.main([*args, "--check"]) == 0
    old, new = (ROOT / "README.md").read_text(), readme.read_text()
    assert block in new and readme_demo.replace_block(old, "") == readme_demo.replace_block(new, "")
    with pytest.raises(TrajmbrlError, match="needs one"):
        readme_demo.replace_block("no markers", block)
    table = outputs / readme_demo.RUN / "tables" / "median_nmse.csv"
    table.write_text(table.read_text() + "x\n")  # an edited table is refused, naming it
    assert readme_demo.main(args) == 2
    assert "median_nmse.csv" in capsys.readouterr().err


@pytest.mark.slow
def test_the_generator_reads_a_real_demo_run(run_mode, tmp_path):
    demo = ("experiment_name=demo", "data.tag=demo_stable", "plot.horizons=[1,5,10]")
    run_mode("mode=collect", *demo)
    run_mode("mode=train", "models=[d,t]", "model.epochs=1", *demo)
    run_mode("mode=eval", "models=[d,t]", "model.epochs=1", "eval.baselines=all", *demo)
    run_mode("mode=plot", "plot.formats=[png]", *demo)
    outputs = tmp_path / "outputs"
    block = readme_demo.demo_block(outputs, horizons=(1, 5, 10))
    check_format(block.splitlines()[1:-1], (1, 5, 10))
    assert "models trained at commit unknown" not in block
    with pytest.raises(TrajmbrlError, match="has no h=50, h=200"):  # the toy run is short
        readme_demo.demo_block(outputs)
