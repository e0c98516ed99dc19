"""The results tables: runs that each write one JSON under ``docs/results/``, and the tables in
``docs/results.md`` rebuilt from those files, so a table can grow over several sessions and every
number points to its run.

    python bench/results.py lucic --seeds 1 2 3 --workers 2           # run what is missing, then the table
    python bench/results.py lucic --rows wgan_gp --seeds 1 -- trainer.max_epochs=5   # a probe
    python bench/results.py lucic --table-only                        # rebuild the table from the JSONs

A run whose JSON exists is skipped; a run killed part-way resumes from its ``last.ckpt`` (its run
directory is fixed: ``outputs/results/<table>/<row>-s<seed>``). ``--workers N`` runs N at a time,
each with ``cores / N`` threads. Extra overrides after ``--`` go to every run (and into its key, so
a probe never counts as a table run).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import re
import statistics
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "docs" / "results"
DOC = ROOT / "docs" / "results.md"

# Each table: rows (name -> overrides, the paper's mean and std) and what every run shares.
TABLES: dict[str, dict] = {
    "lucic": {
        "title": "Lucic et al. 2018 on Fashion-MNIST (FID-10k against the test set, lower is better)",
        "common": ["experiment=lucic", "logger=csv"],
        "rows": {
            "mm_gan": {"overrides": ["model=mm_gan"], "paper": (29.6, 1.6), "label": "MM GAN"},
            "ns_gan": {"overrides": ["model=dcgan"], "paper": (26.5, 1.6), "label": "NS GAN"},
            "lsgan": {"overrides": ["model=lsgan"], "paper": (30.7, 2.2), "label": "LSGAN"},
            "wgan": {"overrides": ["model=wgan"], "paper": (21.5, 1.6), "label": "WGAN"},
            "wgan_gp": {"overrides": ["model=wgan_gp"], "paper": (24.5, 2.1), "label": "WGAN GP"},
            "dragan": {"overrides": ["model=dragan"], "paper": None, "label": "DRAGAN"},
        },
    },
}


def run_key(table: str, row: str, seed: int, extra: list[str]) -> str:
    suffix = "" if not extra else "-x" + hashlib.sha1(" ".join(extra).encode()).hexdigest()[:8]
    return f"{table}-{row}-s{seed}{suffix}"


def git_commit() -> str:
    out = subprocess.run(["git", "rev-parse", "HEAD"], cwd=ROOT, capture_output=True, text=True, check=False)
    dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=ROOT, capture_output=True,
                           text=True, check=False).stdout.strip()
    return out.stdout.strip() + ("-dirty" if dirty else "")


def machine(threads: int) -> dict:
    cpu, flags = platform.processor(), set()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name") and cpu == platform.processor():
                cpu = line.split(":", 1)[1].strip()
            elif line.startswith("flags"):
                flags = set(line.split(":", 1)[1].split())
                break
    except OSError:
        pass
    bf16 = [name for name, flag in (("AVX512-BF16", "avx512_bf16"), ("AMX", "amx_bf16")) if flag in flags]
    return {"cpu": cpu, "cores": os.cpu_count(), "threads": threads, "python": platform.python_version(),
            "bf16": bf16}


def machine_text(result: dict) -> str:
    """``<cpu> (<bf16 instructions>), <n> cores, `` for a run that recorded its machine, else empty."""
    info = result.get("machine")
    if not info:
        return ""
    bf16 = info.get("bf16")
    return f"{info.get('cpu', '?')}" + (f" ({', '.join(bf16)})" if bf16 else "") + f", {info.get('cores', '?')} cores, "


def phase_times(log_text: str) -> dict[str, float]:
    """Seconds of the phases the run's log reports: the real statistics (computed once per machine,
    then cached) and the final evaluation (generation, features and scores); training is the rest."""
    times = {}
    real = re.findall(r"real statistics \([^)]*\): \d+ done in ([0-9.]+) s", log_text)
    if real:
        times["real_stats_s"] = sum(float(t) for t in real)
    evaluation = re.findall(r"kimg \(\d+ generator iterations\): fid .*\(([0-9.]+) s\)$", log_text, re.MULTILINE)
    if evaluation:
        times["fid_s"] = float(evaluation[-1])
    return times


def run_one(table: str, row: str, seed: int, extra: list[str], threads: int) -> Path | None:
    spec = TABLES[table]
    key = run_key(table, row, seed, extra)
    out = RESULTS / f"{key}.json"
    if out.is_file():
        print(f"{key}: done already ({out.relative_to(ROOT)})", flush=True)
        return out
    run_dir = ROOT / "outputs" / "results" / table / key
    elapsed_file = run_dir / "elapsed_s.txt"  # wall time of earlier, interrupted attempts
    before = float(elapsed_file.read_text()) if elapsed_file.is_file() else 0.0
    overrides = [*spec["common"], *spec["rows"][row]["overrides"], f"seed={seed}", *extra,
                 f"hydra.run.dir={run_dir}"]
    last = run_dir / "checkpoints" / "last.ckpt"
    if last.is_file():
        overrides.append(f"ckpt_path={last}")
        print(f"{key}: resuming from {last}", flush=True)
    env = {**os.environ, "OMP_NUM_THREADS": str(threads), "WANDB_MODE": "disabled"}
    command = [sys.executable, "train.py", *overrides]
    print(f"{key}: {' '.join(command[1:])}", flush=True)
    start = time.perf_counter()
    run_dir.mkdir(parents=True, exist_ok=True)
    with open(run_dir / "runner.log", "a") as log:
        child = subprocess.Popen(command, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
        # The child's own CPU time: near threads x wall on an otherwise idle machine, less when
        # something else shared the cores (then the wall time is not this run's alone).
        _, status, usage = os.wait4(child.pid, 0)
    returncode = os.waitstatus_to_exitcode(status)
    wall = before + time.perf_counter() - start
    elapsed_file.write_text(f"{wall:.1f}")
    cpu_file = run_dir / "cpu_s.txt"
    cpu = (float(cpu_file.read_text()) if cpu_file.is_file() else 0.0) + usage.ru_utime + usage.ru_stime
    cpu_file.write_text(f"{cpu:.1f}")
    summary_file = run_dir / "summary.json"
    summary = json.loads(summary_file.read_text()) if summary_file.is_file() else {}
    if returncode != 0 or summary.get("status") != "finished":
        print(f"{key}: failed (exit {returncode}, status {summary.get('status')}); see {run_dir}/runner.log",
              flush=True)
        return None
    config = yaml.safe_load((run_dir / ".hydra" / "config.yaml").read_text())
    phases = phase_times((run_dir / "runner.log").read_text(errors="replace"))
    phases["training_s"] = round(wall - sum(phases.values()), 1)
    metrics = summary.get("metrics", {})
    result = {
        "table": table, "row": row, "seed": seed, "extra_overrides": extra, "key": key,
        "command": "python train.py " + " ".join(o for o in overrides if not o.startswith(("hydra.run.dir=",
                                                                                          "ckpt_path="))),
        "commit": git_commit(), "machine": machine(threads), "wall_s": round(wall, 1), "cpu_s": round(cpu, 1),
        "cpu_share": round(cpu / (wall * threads), 3), "phases_s": phases,
        "epochs": config.get("trainer", {}).get("max_epochs"),
        "metrics": {k: metrics.get(k) for k in ("val/fid", "val/kid", "val/precision", "val/recall",
                                                 "progress/g_iters", "progress/kimg") if k in metrics},
        "config": config,
    }
    RESULTS.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=1) + "\n")
    print(f"{key}: FID {result['metrics'].get('val/fid')} in {wall / 60:.1f} min -> {out.relative_to(ROOT)}",
          flush=True)
    return out


def table_markdown(table: str) -> str:
    spec = TABLES[table]
    lines = [f"{spec['title']}. Rebuilt by `python bench/results.py {table} --table-only` from "
             f"`docs/results/{table}-*.json` (table runs only; probes with extra overrides are listed below it).", "",
             "| loss | paper (mean ± std) | ours (mean ± std) | seeds | epochs | training + FID-10k per run | "
             "below the paper |",
             "|---|---|---|---|---|---|---|"]
    probes, details = [], []
    for row, row_spec in spec["rows"].items():
        found = sorted(RESULTS.glob(f"{table}-{row}-s*.json"))
        results = [json.loads(p.read_text()) for p in found]
        probes += [r for r in results if r["extra_overrides"]]
        runs = [r for r in results if not r["extra_overrides"] and r["metrics"].get("val/fid") is not None]
        paper = row_spec["paper"]
        paper_text = f"{paper[0]} ± {paper[1]}" if paper else "see the paper"
        if not runs:
            lines.append(f"| {row_spec['label']} | {paper_text} | not run yet | | | | |")
            continue
        fids = [r["metrics"]["val/fid"] for r in runs]
        mean = statistics.mean(fids)
        ours = f"{mean:.1f} ± {statistics.stdev(fids):.1f}" if len(fids) > 1 else f"{mean:.1f} (one seed)"
        seeds = ", ".join(f"s{r['seed']} {r['metrics']['val/fid']:.1f}" for r in runs)
        epochs = ", ".join(sorted({str(r["epochs"]) for r in runs}))
        wall = ", ".join(f"{run_minutes(r):.0f}" for r in runs) + " min"
        details += [f"- {row_spec['label']} s{r['seed']}: {run_details(r)}" for r in runs]
        below = "yes" if paper and mean < paper[0] else ("no" if paper else "")
        lines.append(f"| {row_spec['label']} | {paper_text} | {ours} | {seeds} | {epochs} | {wall} "
                     f"| {below} |")
    if details:
        lines += ["", "Each run: its whole wall time, the real statistics it computed (once per machine, then "
                  "cached; not in the column above), and the share of its threads x wall time it had of the CPU "
                  "(lower: something else shared the cores).", "", *details]
    if probes:
        lines += ["", "Probes (one seed, extra overrides; not table runs):", ""]
        for r in probes:
            fid = r["metrics"].get("val/fid")
            lines.append(f"- {r['row']} s{r['seed']} `{' '.join(r['extra_overrides'])}`: FID "
                         f"{'none' if fid is None else f'{fid:.1f}'}, {r['wall_s'] / 60:.0f} min, "
                         f"{machine_text(r)}commit {r['commit'][:7]}")
    return "\n".join(lines) + "\n"


def run_minutes(result: dict) -> float:
    """Training and the final FID-10k of a run, without the real statistics cached once per machine."""
    return (result["wall_s"] - result.get("phases_s", {}).get("real_stats_s", 0.0)) / 60


def run_details(result: dict) -> str:
    phases = result.get("phases_s", {})
    parts = [f"wall {result['wall_s'] / 60:.1f} min"]
    if "training_s" in phases:
        parts.append(f"training {phases['training_s'] / 60:.1f}")
    if "fid_s" in phases:
        parts.append(f"FID-10k {phases['fid_s'] / 60:.1f}")
    if "real_stats_s" in phases:
        real = phases["real_stats_s"]
        parts.append(f"real statistics {real / 60:.1f}" if real >= 5 else "real statistics from the cache")
    if "cpu_share" in result:
        parts.append(f"CPU share {result['cpu_share']:.2f}")
    return ", ".join(parts) + f", {machine_text(result)}commit {result['commit'][:7]}"


def rebuild(table: str) -> None:
    begin, end = f"<!-- table:{table} -->", f"<!-- /table:{table} -->"
    text = DOC.read_text() if DOC.is_file() else ""
    block = f"{begin}\n{table_markdown(table)}{end}"
    if begin in text and end in text:
        text = text[: text.index(begin)] + block + text[text.index(end) + len(end):]
    else:
        text = text.rstrip() + f"\n\n## {TABLES[table]['title']}\n\n{block}\n"
    DOC.write_text(text)
    print(f"table {table} rebuilt in {DOC}")


def main() -> None:
    argv = sys.argv[1:]
    extra = argv[argv.index("--") + 1:] if "--" in argv else []
    argv = argv[: argv.index("--")] if "--" in argv else argv
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("table", choices=sorted(TABLES))
    parser.add_argument("--rows", nargs="*", help="default: every row")
    parser.add_argument("--seeds", nargs="*", type=int, default=[1, 2, 3])
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--table-only", action="store_true")
    args = parser.parse_args(argv)
    rows = args.rows or list(TABLES[args.table]["rows"])
    unknown = sorted(set(rows) - set(TABLES[args.table]["rows"]))
    if unknown:
        parser.error(f"unknown rows {unknown}; {args.table} has {', '.join(TABLES[args.table]['rows'])}")
    if not args.table_only:
        threads = max(1, (os.cpu_count() or 1) // args.workers)
        jobs = [(row, seed) for seed in args.seeds for row in rows]
        start = time.perf_counter()
        with ThreadPoolExecutor(args.workers) as pool:
            list(pool.map(lambda job: run_one(args.table, job[0], job[1], extra, threads), jobs))
        print(f"{len(jobs)} runs in {(time.perf_counter() - start) / 60:.1f} min of wall time")
    rebuild(args.table)


if __name__ == "__main__":
    main()
