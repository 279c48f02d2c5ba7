"""Run every benchmark in bench/, print one summary table, save it in bench/results/.

    python bench/run_all.py [--quick] [--only NAME ...] [--no-save]

Each benchmark runs in its own process (one after the other, so that they do not disturb each
other's timings) with a time limit. The rows of the tables each one prints are gathered into one
summary table; a benchmark that fails or runs out of time shows as a failed row. The summary, the
machine and every benchmark's full output are written to bench/results/<date>-<machine>.md.
GPU-only benchmarks run where CUDA is present.
"""

from __future__ import annotations

import argparse
import datetime
import os
import platform
import re
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent

# name -> (arguments, needs CUDA, time limit in seconds). Benchmarks not listed here run
# with no arguments on every machine, with the default limit.
KNOWN = {
    "overhead": ([], False, 120),
    "streams": ([], False, 120),
    "random": ([], False, 120),
    "grad": ([], False, 120),
    "seed": ([], True, 240),
    "crossing": (["--quick"], True, 240),
    "gpu_ops": (["--quick"], True, 300),
}
ORDER = ["overhead", "streams", "random", "grad", "seed", "crossing", "gpu_ops"]
# Tools that live in bench/ but measure nothing for the summary.
TOOLS = {"profile_chain", "fusion_probe", "kernel_probe", "gpu_probe"}
DEFAULT_LIMIT = 120

# Runs a benchmark as __main__ with the standard library's modules loaded first: a benchmark
# file named like a stdlib module (bench/random.py) must not shadow it for the others.
# Nothing else is imported first: a benchmark may set BLAS threads before NumPy loads.
_RUNNER = (
    "import sys, random, runpy; "
    "p = sys.argv[1]; sys.argv = sys.argv[1:]; sys.path.insert(0, p.rpartition('/')[0]); "
    "runpy.run_path(p, run_name='__main__')"
)


def discover() -> list[str]:
    names = [
        p.stem
        for p in HERE.glob("*.py")
        if not p.stem.startswith("_") and p.stem != "run_all" and p.stem not in TOOLS
    ]
    return sorted(names, key=lambda n: (ORDER.index(n) if n in ORDER else len(ORDER), n))


def has_cuda() -> bool:
    try:
        r = subprocess.run(
            [sys.executable, "-c", "import umx; print(umx.is_available(umx.gpu))"],
            capture_output=True,
            text=True,
            timeout=120,
            cwd=ROOT,
            env=_env(),
        )
        return r.stdout.strip().endswith("True")
    except (OSError, subprocess.SubprocessError):
        return False


def _env() -> dict:
    env = dict(os.environ)
    env["PYTHONPATH"] = str(ROOT) + (
        os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else ""
    )
    env.setdefault("PYTHONUNBUFFERED", "1")
    return env


def run(name: str, args: list[str], limit: float) -> dict:
    path = HERE / f"{name}.py"
    t0 = time.perf_counter()
    try:
        r = subprocess.run(
            [sys.executable, "-c", _RUNNER, str(path), *args],
            capture_output=True,
            text=True,
            timeout=limit,
            cwd=ROOT,
            env=_env(),
        )
        out, err, rc = r.stdout, r.stderr, r.returncode
        status = "ok" if rc == 0 else f"FAILED (exit {rc})"
    except subprocess.TimeoutExpired as e:
        out = e.stdout.decode() if isinstance(e.stdout, bytes) else (e.stdout or "")
        err = e.stderr.decode() if isinstance(e.stderr, bytes) else (e.stderr or "")
        status = f"TIMED OUT ({limit:.0f} s)"
    except OSError as e:
        out, err, status = "", str(e), "FAILED (could not start)"
    return {"name": name, "out": out, "err": err, "status": status, "s": time.perf_counter() - t0}


# -- reading the tables the benchmarks print ---------------------------------------------------

_DASHES = re.compile(r"^\s*-{2,}(\s+-{2,})*\s*$")
_MD_SEP = re.compile(r"^\s*\|(\s*:?-{2,}:?\s*\|)+\s*$")


def _split_cols(dashes: str, line: str) -> list[str] | None:
    """Cells of a line of a space-aligned table, cut where the dashes line has runs; None
    when the line is not a row of that table (text in the gaps between columns)."""
    spans = [m.span() for m in re.finditer(r"-+", dashes)]
    for (_, b), (a, _) in zip(spans, spans[1:]):
        if line[b:a].strip():
            return None
    cells = []
    for k, (a, _b) in enumerate(spans):
        start = a if k else 0
        end = spans[k + 1][0] if k + 1 < len(spans) else len(line)
        cells.append(line[start:end].strip())
    return cells


def tables(text: str) -> list[tuple[list[str], list[list[str]]]]:
    """The tables in a benchmark's output: space-aligned (header, dashes, rows) or markdown."""
    lines = text.splitlines()
    found = []
    k = 1
    while k < len(lines):
        line = lines[k]
        if _DASHES.match(line) and lines[k - 1].strip():
            header = _split_cols(line, lines[k - 1]) or [lines[k - 1].strip()]
            rows = []
            j = k + 1
            while j < len(lines) and lines[j].strip() and not _DASHES.match(lines[j]):
                r = _split_cols(line, lines[j])
                if r is None:
                    break
                rows.append(r)
                j += 1
            found.append((header, rows))
            k = j
            continue
        if _MD_SEP.match(line) and lines[k - 1].strip().startswith("|"):
            cells = lambda s: [c.strip() for c in s.strip().strip("|").split("|")]  # noqa: E731
            header = cells(lines[k - 1])
            rows = []
            j = k + 1
            while j < len(lines) and lines[j].strip().startswith("|"):
                rows.append(cells(lines[j]))
                j += 1
            found.append((header, rows))
            k = j
            continue
        k += 1
    return found


def summary_rows(res: dict) -> list[list[str]]:
    """Rows of the summary: one per row of every table the benchmark printed."""
    name = res["name"]
    if res["status"] != "ok":
        last = (res["err"].strip().splitlines() or res["out"].strip().splitlines() or [""])[-1]
        return [[name, "-", res["status"], last[:100], f"{res['s']:.1f}"]]
    rows = []
    for header, body in tables(res["out"]):
        for r in body:
            if not r or not r[0]:
                continue
            vals = [f"{h}: {c}" for h, c in zip(header[1:], r[1:]) if c and c != "-"]
            group = header[0].split(" (")[0] if header and header[0] else ""
            label = f"{group}: {r[0]}" if group else r[0]
            rows.append([name, label, "ok", "; ".join(vals), ""])
    if not rows:
        rows.append([name, "-", "ok", "(no table printed)", ""])
    rows[0][4] = f"{res['s']:.1f}"
    return rows


# -- the report -----------------------------------------------------------------------------


def machine_info(cuda: bool) -> tuple[str, str]:
    """(a short slug for the file name, a line describing the machine)."""
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    cores = os.cpu_count() or 1
    gpu = ""
    if cuda:
        try:
            r = subprocess.run(
                [
                    sys.executable,
                    "-c",
                    "import umx; print(umx.device_info(umx.gpu)['device_name'])",
                ],
                capture_output=True,
                text=True,
                timeout=120,
                cwd=ROOT,
                env=_env(),
            )
            gpu = (
                r.stdout.strip().splitlines()[-1]
                if r.returncode == 0 and r.stdout.strip()
                else "CUDA GPU"
            )
        except (OSError, subprocess.SubprocessError, IndexError):
            gpu = "CUDA GPU"
    base = gpu or cpu
    slug = re.sub(r"[^a-z0-9]+", "-", base.lower()).strip("-")[:40] or "machine"
    slug = f"{slug}-{cores}cpu"
    desc = f"{cpu}, {cores} cores, {platform.machine()}, Python {platform.python_version()}"
    if gpu:
        desc += f"; GPU: {gpu}"
    return slug, desc


def md_table(rows, headers) -> str:
    esc = lambda s: str(s).replace("|", "\\|")  # noqa: E731
    out = ["| " + " | ".join(headers) + " |", "|" + " --- |" * len(headers)]
    out += ["| " + " | ".join(esc(c) for c in r) + " |" for r in rows]
    return "\n".join(out)


def text_table(rows, headers) -> str:
    widths = [max(len(str(r[i])) for r in [headers, *rows]) for i in range(len(headers))]
    line = lambda r: "  ".join(str(c).ljust(w) for c, w in zip(r, widths)).rstrip()  # noqa: E731
    return "\n".join([line(headers), line(["-" * w for w in widths])] + [line(r) for r in rows])


def _commit() -> str:
    try:
        r = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],
            capture_output=True,
            text=True,
            cwd=ROOT,
            timeout=10,
        )
        return r.stdout.strip() or "unknown"
    except (OSError, subprocess.SubprocessError):
        return "unknown"


HEADERS = ["benchmark", "measurement", "status", "result", "s"]
BEGIN, END = "<!-- bench:begin -->", "<!-- bench:end -->"


def update_readme(readme: Path, results: str, desc: str, today: str, rows) -> bool:
    """Put the summary between the README's bench markers (if it has them)."""
    try:
        text = readme.read_text()
    except OSError:
        return False
    a, b = text.find(BEGIN), text.find(END)
    if a < 0 or b < a:
        return False
    block = "\n".join(
        [
            BEGIN,
            f"Latest `make bench`, {today}, {desc} ([full output]({results})):",
            "",
            md_table(rows, HEADERS),
            "",
        ]
    )
    readme.write_text(text[:a] + block + text[b:])
    return True


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--only", nargs="*", help="run only these benchmarks (names without .py)")
    p.add_argument(
        "--no-save", action="store_true", help="print the table; write no file, leave README alone"
    )
    p.add_argument("--out", help="the results file (default: bench/results/<date>-<machine>.md)")
    a = p.parse_args(argv)
    cmd = "".join(" " + x for x in (sys.argv[1:] if argv is None else argv))

    cuda = has_cuda()
    names = discover()
    if a.only:
        names = [n for n in names if n in a.only]
    t_all = time.perf_counter()
    results, skipped = [], []
    for name in names:
        args, gpu_only, limit = KNOWN.get(name, ([], False, DEFAULT_LIMIT))
        if gpu_only and not cuda:
            skipped.append(name)
            continue
        print(f"running bench/{name}.py ...", end="", flush=True)
        res = run(name, args, limit)
        print(f" {res['status']}, {res['s']:.1f} s", flush=True)
        results.append(res)
    total = time.perf_counter() - t_all

    rows = [r for res in results for r in summary_rows(res)]
    slug, desc = machine_info(cuda)
    today = datetime.date.today().isoformat()
    head = f"umx benchmarks, {today}, commit {_commit()}\n{desc}"
    print()
    print(head)
    print(text_table(rows, HEADERS))
    if skipped:
        print(f"skipped (need CUDA): {', '.join(skipped)}")
    failed = [res["name"] for res in results if res["status"] != "ok"]
    print(
        f"{len(results)} benchmarks in {total:.1f} s"
        + (f"; failed: {', '.join(failed)}" if failed else "")
    )

    if not a.no_save:
        out = Path(a.out) if a.out else HERE / "results" / f"{today}-{slug}.md"
        out.parent.mkdir(parents=True, exist_ok=True)
        doc = [
            f"# umx benchmarks, {today}",
            "",
            f"- machine: {desc}",
            f"- commit: {_commit()}",
            f"- command: `python bench/run_all.py{cmd}` (`make bench`), {total:.0f} s in all",
        ]
        if skipped:
            doc.append(f"- skipped (need CUDA): {', '.join(skipped)}")
        doc += ["", "## Summary", "", md_table(rows, HEADERS), "", "## Full output", ""]
        for res in results:
            doc += [f"### bench/{res['name']}.py ({res['status']}, {res['s']:.1f} s)", "", "```"]
            doc.append(res["out"].rstrip())
            if res["status"] != "ok" and res["err"].strip():
                doc.append(res["err"].rstrip()[-4000:])
            doc += ["```", ""]
        out.write_text("\n".join(doc))
        print(f"saved {out.relative_to(ROOT) if out.is_relative_to(ROOT) else out}")
        if a.out is None and update_readme(
            ROOT / "README.md", out.relative_to(ROOT).as_posix(), desc, today, rows
        ):
            print("updated the table in README.md")
    return 0


if __name__ == "__main__":
    sys.exit(main())
