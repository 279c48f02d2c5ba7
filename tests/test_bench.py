"""bench/run_all.py: tables read back from benchmark output, failures as rows, the report."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

_PATH = Path(__file__).resolve().parent.parent / "bench" / "run_all.py"


@pytest.fixture
def run_all(monkeypatch, tmp_path):
    spec = importlib.util.spec_from_file_location("run_all_under_test", _PATH)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    bench = tmp_path / "bench"
    bench.mkdir()
    monkeypatch.setattr(mod, "HERE", bench)
    monkeypatch.setattr(mod, "has_cuda", lambda: False)
    return mod, bench


def _aligned():
    spec = importlib.util.spec_from_file_location("_timing", _PATH.parent / "_timing.py")
    timing = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(timing)
    rows = [["1000 scalar adds", "2.31", "0.60", "3.85x"], ["500 exps", "14.00", "-", "6.00x"]]
    return (
        "some title\n"
        + timing.table(rows, ["chain", "umx", "NumPy", "umx/NumPy"])
        + "\nratio umx / numpy on the CPU: 2.77x (target: <= 2x)\n\n"
        + "| system / placement | ms |\n| --- | --- |\n| umx all on GPU | 1.250 |\n"
    )


ALIGNED = _aligned()


def test_tables_aligned_and_markdown(run_all):
    mod, _ = run_all
    (h1, r1), (h2, r2) = mod.tables(ALIGNED)
    assert h1 == ["chain", "umx", "NumPy", "umx/NumPy"]
    assert r1 == [
        ["1000 scalar adds", "2.31", "0.60", "3.85x"],
        ["500 exps", "14.00", "-", "6.00x"],
    ]
    assert h2 == ["system / placement", "ms"] and r2 == [["umx all on GPU", "1.250"]]


def test_failures_and_timeouts_are_rows_not_crashes(run_all, tmp_path, capsys):
    mod, bench = run_all
    (bench / "good.py").write_text(f"print({ALIGNED!r})\n")
    (bench / "bad.py").write_text("raise SystemExit('no such op: frobnicate')\n")
    (bench / "slow.py").write_text("import time\ntime.sleep(30)\n")
    (bench / "gpuonly.py").write_text("print('never')\n")
    (bench / "_helper.py").write_text("raise RuntimeError('not a benchmark')\n")
    mod.KNOWN = {"slow": ([], False, 1), "gpuonly": ([], True, 10)}
    out = tmp_path / "results.md"
    assert mod.main(["--out", str(out)]) == 0
    text = capsys.readouterr().out
    assert "TIMED OUT (1 s)" in text and "FAILED (exit 1)" in text and "no such op" in text
    assert "skipped (need CUDA): gpuonly" in text
    assert "chain: 1000 scalar adds" in text and "umx: 2.31; NumPy: 0.60; umx/NumPy: 3.85x" in text
    assert "NumPy: -" not in text  # empty cells are left out
    assert "_helper" not in text
    doc = out.read_text()
    assert doc.startswith("# umx benchmarks") and "## Summary" in doc and "### bench/bad.py" in doc
    assert "| good | system / placement: umx all on GPU | ok | ms: 1.250 |" in doc


def test_readme_block_is_replaced(run_all, tmp_path):
    mod, _ = run_all
    readme = tmp_path / "README.md"
    readme.write_text(f"# title\n\n{mod.BEGIN}\nold table\n{mod.END}\n\n## after\n")
    rows = [["overhead", "chain: adds", "ok", "umx: 2.31", "1.0"]]
    assert mod.update_readme(readme, "bench/results/x.md", "a machine", "2026-01-01", rows)
    text = readme.read_text()
    assert "old table" not in text and "## after" in text and text.startswith("# title")
    assert "| overhead | chain: adds | ok | umx: 2.31 | 1.0 |" in text
    assert "[full output](bench/results/x.md)" in text
    plain = tmp_path / "PLAIN.md"
    plain.write_text("no markers\n")
    assert not mod.update_readme(plain, "x", "m", "d", rows)
    assert plain.read_text() == "no markers\n"


def test_benchmark_can_import_its_siblings(run_all, tmp_path, capsys):
    mod, bench = run_all
    (bench / "_helper.py").write_text("VALUE = 42\n")
    (bench / "random.py").write_text("print('shadow')\n")  # named like a stdlib module
    (bench / "uses.py").write_text(
        "import random\nimport _helper\nassert hasattr(random, 'SystemRandom')\n"
        "print('xx  v\\n--  --\\na   ' + str(_helper.VALUE))\n"
    )
    assert mod.main(["--out", str(tmp_path / "r.md"), "--only", "uses"]) == 0
    assert "| uses | xx: a | ok | v: 42 |" in (tmp_path / "r.md").read_text()
