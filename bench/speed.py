"""Training speed of the whole ``train.py`` process against the plain PyTorch loop a researcher
would write (``bench/reference_dcgan.py``), on the same machine, in one invocation.

Each round runs, one after the other: the reference in fp32 and in bf16 autocast, then
``train.py`` at its default precision and at fp32. A ``train.py`` rate comes from two runs of
different lengths (the difference of their wall times over the difference of their images), so
start-up, data loading and the final checkpoint cancel and what is left is the loop with its
callbacks (sample grids, checkpoints, progress; the FID evaluation is off). Rates are medians over
the rounds; the ratios are printed beside them:

- ganforge default / reference fp32   (target on a CPU with native bf16: >= 1.6)
- ganforge / reference at equal precision (target: >= 0.95, the loop's overhead at most 5 %)

    python bench/speed.py                        # CPU: DCGAN 32 px b64 and the Lucic nets 28 px b64
    python bench/speed.py --device cuda          # 64 px (Lucic: 28 px) at batch 128 and 512
    python bench/speed.py --dry-run              # tiny, synthetic data: checks that the script works
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
LUCIC_NETS = ["model.generator._target_=ganforge.nets.infogan.InfoGANGenerator",
              "model.discriminator._target_=ganforge.nets.infogan.InfoGANDiscriminator", "model.z_dim=64"]


def rows_for(device: str) -> list[dict]:
    """(name, reference nets, size, batch, train.py overrides) of each row."""
    if device == "cuda":
        nets_rows = (("dcgan", 64, ["model=dcgan"]), ("lucic", 28, ["model=dcgan", *LUCIC_NETS]))
        return [{"name": f"{nets} {size} px b{batch}", "nets": nets, "size": size, "batch": batch,
                 "overrides": overrides} for nets, size, overrides in nets_rows for batch in (128, 512)]
    return [{"name": "DCGAN 32 px b64", "nets": "dcgan", "size": 32, "batch": 64, "overrides": ["model=dcgan"]},
            {"name": "Lucic nets 28 px b64", "nets": "lucic", "size": 28, "batch": 64,
             "overrides": ["model=dcgan", *LUCIC_NETS]}]


def synthetic_folder(folder: Path, count: int = 128) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    for i in range(count):
        Image.fromarray(rng.integers(0, 256, (32, 32), dtype=np.uint8)).save(folder / f"{i:04d}.png")
    return folder


def reference_rate(row: dict, precision: str, iters: int, device: str) -> float:
    out = subprocess.run([sys.executable, str(ROOT / "bench" / "reference_dcgan.py"), "--nets", row["nets"],
                          "--size", str(row["size"]), "--batch", str(row["batch"]), "--iters", str(iters),
                          "--warmup", str(max(2, iters // 10)), "--precision", precision, "--device", device],
                         capture_output=True, text=True, check=False)
    if out.returncode:
        raise SystemExit(f"reference_dcgan.py failed:\n{out.stderr[-3000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])["img_per_s"]


def train_seconds(row: dict, data: list[str], precision: str | None, g_iters: int, device: str, tmp: Path) -> float:
    run_dir = tmp / f"run-{time.monotonic_ns()}"
    overrides = [*row["overrides"], *data, f"data.resolution={row['size']}", f"data.batch_size={row['batch']}",
                 f"g_iters={g_iters}", "logger=none", "callbacks.evaluation=null", f"hydra.run.dir={run_dir}",
                 f"trainer.accelerator={'gpu' if device == 'cuda' else 'cpu'}"]
    if precision is not None:
        overrides.append(f"trainer.precision={precision}")
    env = {**os.environ, "WANDB_MODE": "disabled"}
    start = time.perf_counter()
    out = subprocess.run([sys.executable, str(ROOT / "train.py"), *overrides], capture_output=True, text=True,
                         cwd=ROOT, env=env, check=False)
    seconds = time.perf_counter() - start
    if out.returncode:
        raise SystemExit(f"train.py {' '.join(overrides)} failed:\n{out.stderr[-3000:]}")
    return seconds


def ganforge_rate(row: dict, data: list[str], precision: str | None, short: int, long: int, device: str,
                  tmp: Path) -> float:
    """Images per second of the loop inside the whole process: two runs, the difference (NaN when
    the runs are too short for it to be positive, as in a dry run)."""
    t_short = train_seconds(row, data, precision, short, device, tmp)
    t_long = train_seconds(row, data, precision, long, device, tmp)
    return (long - short) * row["batch"] / (t_long - t_short) if t_long > t_short else float("nan")


def default_precision(device: str) -> str:
    sys.path.insert(0, str(ROOT / "src"))
    from ganforge.config import precision_choice

    precision, reason = precision_choice("gpu" if device == "cuda" else "cpu")
    print(f"ganforge's default precision here: {precision} ({reason})")
    return precision


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", choices=("cpu", "cuda"), default="cpu")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--iters", type=int, default=150, help="timed reference iterations")
    parser.add_argument("--short", type=int, default=50, help="generator iterations of the short train.py run")
    parser.add_argument("--long", type=int, default=200, help="... and of the long one")
    parser.add_argument("--rows", nargs="*", help="row names to run (default: all)")
    parser.add_argument("--out", type=Path, help="write the results as JSON here")
    parser.add_argument("--synthetic", action="store_true", help="random images instead of Fashion-MNIST")
    parser.add_argument("--dry-run", action="store_true", help="tiny sizes on synthetic data (a test)")
    args = parser.parse_args()
    if args.dry_run:
        args.rounds, args.iters, args.short, args.long, args.synthetic = 1, 3, 2, 4, True
    automatic = default_precision(args.device)
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        if args.synthetic:
            data = ["data=image_folder", f"data.root={synthetic_folder(tmp / 'images')}", "data.channels=1",
                    f"paths.cache_dir={tmp / 'cache'}"]
        else:
            data = ["data=fashion_mnist"]
        rows = [r for r in rows_for(args.device) if not args.rows or r["name"] in args.rows]
        if args.dry_run:
            rows = rows[:1]
            rows[0]["batch"] = 8
        samples: dict[str, dict[str, list[float]]] = {r["name"]: {} for r in rows}
        for round_index in range(args.rounds):
            for row in rows:
                got = samples[row["name"]]
                measured = {
                    "reference fp32": reference_rate(row, "fp32", args.iters, args.device),
                    "reference bf16": reference_rate(row, "bf16", args.iters, args.device),
                    f"ganforge default ({automatic})": ganforge_rate(row, data, None, args.short, args.long,
                                                                       args.device, tmp),
                    "ganforge fp32": ganforge_rate(row, data, "32-true", args.short, args.long, args.device, tmp),
                }
                for name, rate in measured.items():
                    got.setdefault(name, []).append(rate)
                print(f"round {round_index + 1} {row['name']}: "
                      + ", ".join(f"{k} {v:.0f} img/s" for k, v in measured.items()), flush=True)
    results = []
    print(f"\nmedians over {args.rounds} round(s), {args.device}, {os.cpu_count()} cores, {platform.processor()}")
    for row in rows:
        med = {k: statistics.median(v) for k, v in samples[row["name"]].items()}
        default_key = f"ganforge default ({automatic})"
        same = "reference bf16" if automatic.startswith("bf16") else "reference fp32"
        ratios = {"default / reference fp32": med[default_key] / med["reference fp32"],
                  "default / reference at equal precision": med[default_key] / med[same],
                  "fp32 / reference fp32": med["ganforge fp32"] / med["reference fp32"]}
        print(f"{row['name']}:")
        for name, rate in med.items():
            print(f"  {name:32s} {rate:8.0f} img/s")
        for name, ratio in ratios.items():
            print(f"  {name:40s} {ratio:.2f}x")
        results.append({"row": row["name"], "batch": row["batch"], "size": row["size"], "median_img_per_s": med,
                        "all_img_per_s": samples[row["name"]], "ratios": ratios})
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps({"device": args.device, "rounds": args.rounds, "default_precision": automatic,
                                        "cores": os.cpu_count(), "rows": results}, indent=2) + "\n")
        print(f"written to {args.out}")


if __name__ == "__main__":
    main()
