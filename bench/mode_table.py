"""The 2-D mode-collapse table: every ring8/grid25 preset x seeds, run in parallel processes,
final val/modes, val/hq_ratio and val/reverse_kl aggregated as mean +- std (Markdown).

  python bench/mode_table.py --workers 8 [--seeds 1 2 3 4 5] [--presets ring8_gan ...] [-- extra overrides]

Each run is `python train.py experiment=<preset> seed=<s> logger=csv` in its own directory
under --out; a finished run is not repeated, so the script can be re-run to collect results.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import statistics
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PRESETS = [f"{d}_{v}" for d in ("ring8", "grid25") for v in ("gan", "pacgan4", "wgan_gp", "sngan")]
METRICS = ("val/modes", "val/hq_ratio", "val/reverse_kl")


def final_metrics(run_dir: Path) -> dict[str, float] | None:
    """The run's last mode metrics, or None unless it finished (a killed run has metrics from
    its periodic evaluations, which are not final)."""
    path, summary = run_dir / "csv" / "metrics.csv", run_dir / "summary.json"
    if not path.is_file() or not summary.is_file() or json.loads(summary.read_text()).get("status") != "finished":
        return None
    last: dict[str, float] = {}
    for row in csv.DictReader(open(path)):
        last.update({k: float(row[k]) for k in METRICS if row.get(k)})
    return last if len(last) == len(METRICS) else None


def run_one(preset: str, seed: int, out: Path, extra: list[str]) -> tuple[str, int, dict[str, float] | None]:
    run_dir = out / f"{preset}_s{seed}"
    if final_metrics(run_dir) is None:
        env = {**os.environ, "OMP_NUM_THREADS": "1", "WANDB_MODE": "disabled"}
        cmd = [sys.executable, str(ROOT / "train.py"), f"experiment={preset}", f"seed={seed}", "logger=csv",
               "callbacks.progress_bar=null", "trainer.enable_progress_bar=false", f"hydra.run.dir={run_dir}", *extra]
        started = time.perf_counter()
        subprocess.run(cmd, env=env, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False)
        (run_dir / "wall_seconds.txt").write_text(f"{time.perf_counter() - started:.1f}\n")
    return preset, seed, final_metrics(run_dir)


def expected_cost(preset: str) -> float:
    """Optimizer steps the preset takes (g_iters x (n_critic + 1)), x 1.5 for a packed critic (a
    PacGAN4 step measured about 1.5x a GAN step), from the composed config (a preset may inherit
    its length from another): the longest runs start first, so the last workers to finish are not
    the ones left with a long run while the others idle."""
    from hydra import compose, initialize_config_dir

    with initialize_config_dir(config_dir=str(ROOT / "conf"), version_base="1.3"):
        cfg = compose("train", overrides=[f"experiment={preset}"])
    return cfg.g_iters * (cfg.model.n_critic + 1) * (1.5 if cfg.model.pack > 1 else 1.0)


def run_minutes(run_dir: Path) -> float | None:
    path = run_dir / "wall_seconds.txt"
    return float(path.read_text()) / 60 if path.is_file() else None


def cell(rows: list[dict[str, float]], key: str, scale: float = 1.0, digits: int = 1) -> str:
    """mean +- sample standard deviation over seeds."""
    values = [r[key] * scale for r in rows]
    spread = statistics.stdev(values) if len(values) > 1 else 0.0
    return f"{statistics.mean(values):.{digits}f} ± {spread:.{digits}f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--presets", nargs="*", default=PRESETS)
    parser.add_argument("--seeds", nargs="*", type=int, default=[1, 2, 3, 4, 5])
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--out", type=Path, default=ROOT / "outputs" / "mode_table")
    parser.add_argument("extra", nargs="*", help="overrides for every run, after --")
    args = parser.parse_args()
    cost = {preset: expected_cost(preset) for preset in args.presets}
    jobs = sorted(((p, s) for p in args.presets for s in args.seeds), key=lambda job: -cost[job[0]])
    started = time.perf_counter()
    with ThreadPoolExecutor(args.workers) as pool:
        results = list(pool.map(lambda job: run_one(*job, args.out, args.extra), jobs))
    print(f"wall time of this invocation: {(time.perf_counter() - started) / 60:.1f} min "
          f"({args.workers} workers; runs finished earlier were not repeated)")
    print("| preset | modes | high-quality % | reverse KL | runs | minutes per run |")
    print("|---|---|---|---|---|---|")
    for preset in args.presets:
        rows = [m for p, _, m in results if p == preset and m is not None]
        if not rows:
            print(f"| {preset} | failed | | | 0/{len(args.seeds)} | |")
            continue
        modes, hq, kl = cell(rows, "val/modes"), cell(rows, "val/hq_ratio", 100), cell(rows, "val/reverse_kl", digits=2)
        minutes = [m for m in (run_minutes(args.out / f"{preset}_s{s}") for s in args.seeds) if m is not None]
        spent = f"{statistics.mean(minutes):.1f}" if minutes else ""
        print(f"| {preset} | {modes} | {hq} | {kl} | {len(rows)}/{len(args.seeds)} | {spent} |")


if __name__ == "__main__":
    main()
