"""Peak memory and wall time of ``drama-data generate --task crop`` as the corpus grows (issues 13 and 26), with
the default quality report at the end and with ``--no-report``.

Builds a synthetic corpus by repeating SciFact (``../shared/data/scifact/corpus.jsonl[.gz]``) with new ids
(``<id>-r<k>``) until it has about N passages (chunks of 256 words), runs the CLI in a subprocess per size and
mode and reads the child's peak RSS from ``os.wait4``. Goals (issue 26, item 5): with the report, the peak at the
smallest size within 15% of ``--no-report``'s, and the peak at the largest size within 10% of the smallest's.

    nice -n 15 python bench/generate_memory.py --sizes 200000,2000000 [--language en] [--mode both] [--keep DIR]

Prints one line per size and mode, then ``generate_memory: ...`` stating both goals (``--mode report`` or
``no-report`` runs one mode and states the growth goal only).
"""
from __future__ import annotations

import argparse
import gzip
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SCIFACT = ROOT.parent / "shared" / "data" / "scifact"


def scifact_lines() -> list[str]:
    for name in ("corpus.jsonl", "corpus.jsonl.gz"):
        path = SCIFACT / name
        if path.is_file():
            opener = gzip.open if name.endswith(".gz") else open
            with opener(path, "rt", encoding="utf-8") as fh:
                return [line for line in fh if line.strip()]
    sys.exit(f"no SciFact corpus under {SCIFACT}")


def passages_per_copy() -> int:
    """Passages one copy of SciFact makes (as generate chunks it: the toolkit's own reader)."""
    from drama_data.chunking import load_passages

    return len(load_passages(str(SCIFACT))[0])


def build_corpus(path: Path, passages: int, lines: list[str], per_copy: int) -> int:
    """Write copies of SciFact with new ids until about ``passages`` passages; return the documents written."""
    docs = 0
    copies = -(-passages // per_copy)
    with open(path, "w", encoding="utf-8") as out:
        for k in range(copies):
            want = passages - k * per_copy
            take = lines if want >= per_copy else lines[:max(1, int(len(lines) * want / per_copy))]
            for line in take:
                rec = json.loads(line)
                rec["_id"] = f"{rec['_id']}-r{k}"
                out.write(json.dumps(rec, ensure_ascii=False) + "\n")
                docs += 1
    return docs


def run(corpus: Path, output: Path, report: bool, language: str) -> tuple[float, float, dict]:
    """(peak RSS in MB, seconds, summary) of one ``drama-data generate --task crop`` run."""
    cmd = [sys.executable, "-m", "drama_data.cli", "generate", "--task", "crop", "--corpus", str(corpus),
           "--output", str(output), "--no-progress", "--json", "--overwrite"]
    if not report:
        cmd.append("--no-report")
    if language:
        cmd += ["--language", language]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "PYTHONPATH": str(ROOT)}
    t0 = time.time()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env, cwd=str(ROOT))
    out, err = proc.stdout.read(), proc.stderr.read()
    _, status, usage = os.wait4(proc.pid, 0)
    seconds = time.time() - t0
    if status != 0:
        sys.exit(f"generate failed ({status}): {err.decode()[-2000:]}")
    text = out.decode()
    summary = json.loads(text[:text.rindex("}") + 1])
    return usage.ru_maxrss / 1024, seconds, summary


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--sizes", default="200000,2000000", help="passages per corpus, comma-separated")
    ap.add_argument("--mode", choices=("both", "report", "no-report"), default="both",
                    help="run with the default quality report, with --no-report, or both (default)")
    ap.add_argument("--report", action="store_true", help="the same as --mode report (kept for old commands)")
    ap.add_argument("--language", default="",
                    help="crop --language (e.g. en: skips the per-passage language detection, which is most of "
                         "crop's CPU time, about 2.5 ms a passage)")
    ap.add_argument("--keep", default=None, help="work in this folder and keep it (default: a temporary one)")
    a = ap.parse_args()
    modes = {"both": [False, True], "report": [True], "no-report": [False]}["report" if a.report else a.mode]
    sizes = [int(x) for x in a.sizes.split(",")]
    lines = scifact_lines()
    per_copy = passages_per_copy()
    tmp = Path(a.keep) if a.keep else Path(tempfile.mkdtemp(prefix="generate-memory-"))
    tmp.mkdir(parents=True, exist_ok=True)
    peaks: dict[tuple[int, bool], float] = {}
    try:
        for n in sizes:
            corpus = tmp / f"corpus-{n}.jsonl"
            docs = build_corpus(corpus, n, lines, per_copy)
            for report in modes:
                out = tmp / f"out-{n}{'' if report else '-no-report'}"
                peak, seconds, summary = run(corpus, out, report, a.language)
                peaks[(n, report)] = peak
                print(f"{n} passages wanted, {'with the report' if report else '--no-report    '}: "
                      f"{summary['passages']} passages from {docs} documents, {summary['rows']} rows; "
                      f"peak RSS {peak:.0f} MB; wall {seconds:.1f} s", flush=True)
                if not a.keep:
                    subprocess.run(["rm", "-rf", str(out)], check=False)
            corpus.unlink()
    finally:
        if not a.keep:
            subprocess.run(["rm", "-rf", str(tmp)], check=False)
    print("generate_memory: " + "; ".join(goals(peaks, sizes, modes)))


def goals(peaks: dict[tuple[int, bool], float], sizes: list[int], modes: list[bool]) -> list[str]:
    """The goal sentences of the last line (each says its ratio, its goal and whether it was met)."""
    out = []
    small, large = sizes[0], sizes[-1]
    if len(modes) == 2:
        r = peaks[(small, True)] / peaks[(small, False)]
        out.append(f"report / --no-report at {small}: {r:.3f} ({peaks[(small, True)]:.0f} MB vs "
                   f"{peaks[(small, False)]:.0f} MB; goal <= 1.15: {'met' if r <= 1.15 else 'NOT met'})")
    if len(sizes) > 1:
        for report in modes:
            r = peaks[(large, report)] / peaks[(small, report)]
            out.append(f"{large} / {small} {'with the report' if report else '--no-report'}: {r:.3f} "
                       f"({peaks[(small, report)]:.0f} MB -> {peaks[(large, report)]:.0f} MB; goal <= 1.10: "
                       f"{'met' if r <= 1.10 else 'NOT met'})")
    return out


if __name__ == "__main__":
    main()
