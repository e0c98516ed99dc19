"""The results tables: runs that each write one JSON under ``docs/results/``, and the tables in
``docs/results.md`` rebuilt from those files, so a table can grow over several sessions and every
number points to its run.

    python bench/results.py lucic --seeds 1 2 3 --workers 2           # run what is missing, then the table
    python bench/results.py lucic --rows wgan_gp --seeds 1 -- trainer.max_epochs=5   # a probe
    python bench/results.py lucic --table-only                        # rebuild the table from the JSONs
    python bench/results.py proof --rows cgan --seeds 1                # issue 30's table: each system shown to work
    python bench/results.py sr --rows srresnet srgan --seeds 1         # super-resolution against bicubic

A run whose JSON exists is skipped; a run killed part-way resumes from its ``last.ckpt`` (its run
directory is fixed: ``outputs/results/<table>/<row>-s<seed>``). ``--workers N`` runs N at a time,
each with ``cores / N`` threads (``--threads`` to choose). Extra overrides after ``--`` go to every
run (and into its key, so a probe never counts as a table run).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import re
import shutil
import statistics
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta
from pathlib import Path

import yaml

from ganforge.config import cpu_isa_flags

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "docs" / "results"
DOC = ROOT / "docs" / "results.md"
FIGURES = ROOT / "docs" / "img" / "results"  # copies of runs' figures: outputs/ is not in git

BF16_PENALTY = ["model.penalty_precision=autocast"]
# The faster step: compiled nets and fused Adam, the same algorithm (the penalties' critic passes stay eager).
FAST_STEP = ["model.compile=true", "++model.optimizer_g.fused=true", "++model.optimizer_d.fused=true"]

# Issue 30 items 2 and 5: Fashion-MNIST at 32 px (28 padded), every row shown the same number of real
# images (kimg), one FID-10k against the test set at the end of the run.
KIMG_32 = 1200
BATCH_32 = 64
AT_32_PX = [f"data.batch_size={BATCH_32}", "trainer.max_epochs=-1", "metrics.num_samples=10000",
            "metrics.num_real=10000", "metrics.real_split=test", "callbacks.evaluation.every_kimg=null"]
# ProGAN's four stages (4 -> 32 px): stable 4 px, then fade + stable per stage, all phases equally long,
# so the growth ends where the run does; the paper's batch 64 up to 16 px and 32 at 32 px.
PROGAN_PHASE_KIMG = KIMG_32 / 7
PROGAN_BATCHES = {4: 64, 8: 64, 16: 64, 32: 32}


def progan_g_iters(total_kimg: float, phase_kimg: float, batches: dict[int, int]) -> int:
    """Generator iterations (one critic step each) that show ``total_kimg`` at ProGAN's per-stage batch
    sizes: the 32 px batch applies from the start of its fade-in."""
    before_32 = phase_kimg * 5  # stable 4, then fade + stable at 8 and at 16
    return round(before_32 * 1000 / batches[16] + (total_kimg - before_32) * 1000 / batches[32])

# Each table: rows (name -> overrides, the paper's mean and std) and what every run shares.
TABLES: dict[str, dict] = {
    "lucic": {
        "title": "Lucic et al. 2018 on Fashion-MNIST (FID-10k against the test set, lower is better)",
        "common": ["experiment=lucic", "logger=csv"],
        "rows": {
            "mm_gan": {"overrides": ["model=mm_gan"], "paper": (29.6, 1.6), "label": "MM GAN"},
            "ns_gan": {"overrides": ["model=dcgan"], "paper": (26.5, 1.6), "label": "NS GAN"},
            "lsgan": {"overrides": ["model=lsgan"], "paper": (30.7, 2.2), "label": "LSGAN"},
            # compare_gan's narrow range again (WGAN clip in [0.01, 1]), the recipe of the probe that
            # came closest: Adam 1e-4 (0.5, 0.999), clip 0.1, one critic step, no critic warm-up.
            "wgan": {"overrides": ["model=wgan", "model.optimizer_g._target_=torch.optim.Adam",
                                   "model.optimizer_d._target_=torch.optim.Adam",
                                   "++model.optimizer_g.betas=[0.5,0.999]", "++model.optimizer_d.betas=[0.5,0.999]",
                                   "model.optimizer_g.lr=1e-4", "model.optimizer_d.lr=1e-4",
                                   "model.critic_warmup=null", "model.n_critic=1", "model.clip_value=0.1"],
                     "paper": (21.5, 1.6), "label": "WGAN"},
            # compare_gan's narrow range (the study's final search): Adam beta1 0.5 (beta2 0.999),
            # lr in [1e-4, 1e-3], lambda in [0.1, 10] (here 10), one critic step per generator step;
            # the presets' n_critic 5 starves the generator in an epoch budget counted in critic steps.
            # The penalty in bf16 (penalty_precision=autocast): in fp32 the run does not fit 45 minutes.
            # 13 epochs: a 15-epoch penalty run takes about 47 minutes even with the bf16 penalty. Layer norm
            # in the critic, as the WGAN-GP paper suggests: the study's search space lists it among the critic
            # normalisations, but compare_gan's InfoGAN critic builds only batch and spectral norm, so here it
            # departs from the study's nets (stated in docs/results.md). Without it the row sat at 29.3 with
            # low recall. The other recipes tried are the probes in docs/results.md (extras say norm=none).
            "wgan_gp": {"overrides": ["model=wgan_gp", "model.n_critic=1", "model.optimizer_g.lr=2e-4",
                                      "model.optimizer_d.lr=2e-4", "model.optimizer_g.betas=[0.5,0.999]",
                                      "model.optimizer_d.betas=[0.5,0.999]", *BF16_PENALTY,
                                      "trainer.max_epochs=13", "model.discriminator.norm=layer"],
                        "paper": (24.5, 2.1), "label": "WGAN GP"},
            # Table 2 of the NeurIPS version: Fashion-MNIST DRAGAN 27.7 +- 1.2. The penalty around perturbed
            # reals on every second critic step at twice the weight (lazy regularization): with it on every
            # step, 15 epochs and the FID-10k do not fit 45 minutes, and 11 epochs scored above the paper.
            # Even so the lazy recipe ran 46.6-49.2 minutes a run on an AMD EPYC without AMX, over the target,
            # and 39.5 on an Intel Xeon with AMX, so the row trains with the faster step.
            # docs/results.md has the times per machine.
            "dragan": {"overrides": ["model=dragan", *BF16_PENALTY, "model.penalty_every=2",
                                     "trainer.max_epochs=15", *FAST_STEP],
                       "paper": (27.7, 1.2), "label": "DRAGAN"},
        },
    },
    # Each row: what it shows and the target it is held to ("compare": the row it must beat).
    "proof": {
        "title": "Every GAN shown to work on the CPU (FID-10k against the test set; class accuracy of a "
                 "conditional model judged by a classifier trained on the training set)",
        "common": ["logger=csv"],
        "rows": {
            "cgan": {"overrides": ["experiment=lucic", "model=cgan"],
                     "label": "cGAN (projection D, hinge, spectral norm) on the Lucic nets, 28 px",
                     "target": {"class_accuracy": 0.90, "compare": ("lucic", "ns_gan")}},
            # The NS GAN row's recipe (non-saturating loss, BatchNorm critic, no spectral norm) with the
            # class embedding in G and the projection in D: the hinge/SN recipe above met the accuracy
            # target but not the FID one (its recall was near 0).
            "cgan_ns": {"overrides": ["experiment=lucic", "model=cgan", "model.loss=non_saturating",
                                      "model.discriminator.norm=batch", "model.discriminator.spectral_norm=false"],
                        "label": "cGAN (projection D, non-saturating, BatchNorm D: the NS GAN recipe) on the "
                                 "Lucic nets, 28 px",
                        "target": {"class_accuracy": 0.90, "compare": ("lucic", "ns_gan")}},
            # Items 2 and 5: the reference every 32 px row is compared with, at the same kimg.
            "dcgan32": {"overrides": ["experiment=fashion_dcgan", *AT_32_PX,
                                      f"g_iters={round(KIMG_32 * 1000 / BATCH_32)}"],
                        "label": f"DCGAN, 32 px, {KIMG_32:,} kimg",
                        "target": {"compare": ("lucic", "ns_gan"), "fid": "beside"}},
            # fmap_base 256: 128, 64, 32, 16 feature maps at 4, 8, 16, 32 px, about DCGAN's parameter count
            # (the paper's 8192 is 512 maps up to 32 px, far beyond a CPU budget); the paper's recipe otherwise
            # (WGAN-GP + drift, Adam 1e-3 (0, 0.99), EMA generator, optimizers reset per stage).
            "progan32": {"overrides": ["experiment=fashion_progan", *AT_32_PX, "model.generator.fmap_base=256",
                                       "model.discriminator.fmap_base=256",
                                       f"model.fade_kimg={PROGAN_PHASE_KIMG:.2f}",
                                       f"model.stable_kimg={PROGAN_PHASE_KIMG:.2f}",
                                       f"g_iters={progan_g_iters(KIMG_32, PROGAN_PHASE_KIMG, PROGAN_BATCHES)}",
                                       "callbacks.samples.every_n_g_iters=1000"],
                         "label": f"ProGAN (4 -> 32 px, fmap_base 256), {KIMG_32:,} kimg",
                         "target": {"compare": ("proof", "dcgan32"), "fid": "at_most"}},
            # SNGAN's ResNet nets narrowed to fit the CPU (the paper's CIFAR widths are G 256, D 128);
            # its recipe otherwise: hinge, spectral norm, Adam 2e-4 (0, 0.9), 5 critic steps per generator step.
            "sngan32": {"overrides": ["experiment=fashion_sngan", *AT_32_PX, "model.generator.width=64",
                                      "model.discriminator.width=64",
                                      f"g_iters={round(KIMG_32 * 1000 / BATCH_32 / 5)}"],
                        "label": f"SNGAN (ResNet, G and D 64 wide), 32 px, {KIMG_32:,} kimg",
                        "target": {"compare": ("proof", "dcgan32"), "fid": "beside"}},
        },
    },
    # Issue 30 item 4. "{ckpt:<row>}" stands for that row's table run of the same seed (its last.ckpt).
    "sr": {
        "title": "Super-resolution x4 on the 8 held-out real photographs of data=sr_photos (PSNR and SSIM on "
                 "Y, the scale's border shaved, each photo scored whole)",
        "kind": "sr",
        "common": ["logger=csv", "data=sr_photos", "data.num_workers=1"],
        "rows": {
            # The paper's SRResNet (16 blocks, 64 wide) in the residual-over-bicubic form: a short CPU
            # run of the plain net spends its steps learning to copy the input.
            "srresnet": {"overrides": ["model=srresnet", "model.generator.bicubic_skip=true", "g_iters=500",
                                       "callbacks.sr_validation.every_n_g_iters=250"],
                         "label": "SRResNet (pixel MSE, residual over bicubic), 500 iterations of 16 crops",
                         "target": {"psnr_gain": 0.5}},
            # The adversarial phase from that checkpoint; VGG54 needs torchvision's VGG19 weights
            # (a download), so the content loss is the pixel MSE where they are not at hand.
            "srgan": {"overrides": ["model=srgan", "model.generator.bicubic_skip=true", "model.content_loss=pixel",
                                    "model.generator_ckpt={ckpt:srresnet}", "g_iters=300",
                                    "callbacks.sr_validation.every_n_g_iters=150"],
                      "label": "SRGAN from it (pixel content loss + 1e-3 adversarial), 300 iterations",
                      "target": None},
        },
    },
}
METRICS = ("val/psnr", "val/ssim", "val/psnr_bicubic", "val/ssim_bicubic", "val/psnr_gain", "val/ssim_gain",
           "val/lpips", "val/fid", "val/kid", "val/precision", "val/recall", "val/class_accuracy",
           "val/class_accuracy_real", "progress/g_iters", "progress/kimg")


def run_key(table: str, row: str, seed: int, extra: list[str]) -> str:
    suffix = "" if not extra else "-x" + hashlib.sha1(" ".join(extra).encode()).hexdigest()[:8]
    return f"{table}-{row}-s{seed}{suffix}"


def git_commit() -> str:
    out = subprocess.run(["git", "rev-parse", "HEAD"], cwd=ROOT, capture_output=True, text=True, check=False)
    # The tables this script writes are not code: a run that ends beside another's rebuilt table is clean.
    dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no", "--", ".", ":!docs/results.md",
                            ":!docs/results"], cwd=ROOT, capture_output=True, text=True, check=False).stdout.strip()
    return out.stdout.strip() + ("-dirty" if dirty else "")


def machine(threads: int) -> dict:
    cpu = platform.processor()
    try:
        names = [line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                 if line.startswith("model name")]
        cpu = names[0] if names else cpu
    except OSError:
        pass
    flags = cpu_isa_flags() or frozenset()
    bf16 = [name for name, flag in (("AVX512-BF16", "avx512_bf16"), ("AMX", "amx_bf16")) if flag in flags]
    return {"cpu": cpu, "cores": os.cpu_count(), "threads": threads, "python": platform.python_version(),
            "bf16": bf16}


def training_precision(log_text: str) -> str | None:
    """The precision the run trained in, from its log's ``precision <value> (<why>)`` line."""
    found = re.search(r"\bprecision (\S+) \((?:automatic|set by)", log_text)
    return found.group(1) if found else None


def machine_text(result: dict) -> str:
    """``<cpu> (<bf16 instructions>), <n> cores, `` for a run that recorded its machine, else empty."""
    info = result.get("machine")
    if not info:
        return ""
    bf16 = info.get("bf16")
    return f"{info.get('cpu', '?')}" + (f" ({', '.join(bf16)})" if bf16 else "") + f", {info.get('cores', '?')} cores, "


def phase_times(log_text: str) -> dict[str, float]:
    """Seconds of the phases the run's log reports: the real statistics and the class-accuracy judge
    (each computed once per machine, then cached) and the final evaluation (generation, features and
    scores); training is the rest. Logs from before the evaluation's clock left that one-time work out
    counted it in the evaluation's time: what of it falls inside the evaluation's window is taken out."""

    def events(pattern: str) -> list[tuple[datetime | None, float]]:
        found = []
        # The stamp to the millisecond: one-time work that ended just before the evaluation started
        # is not inside it.
        for match in re.finditer(r"^(?:\[(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d+)\])?.*?" + pattern, log_text,
                                 re.MULTILINE):
            stamp = datetime.strptime(match.group(1), "%Y-%m-%d %H:%M:%S,%f") if match.group(1) else None
            found.append((stamp, float(match.group(2))))
        return found

    times: dict[str, float] = {}
    one_time = {"real_stats_s": events(r"real statistics \([^)]*\): \d+ done in ([0-9.]+) s"),
                "judge_s": events(r"class-accuracy classifier: trained on \d+ images in ([0-9.]+) s")}
    for name, found in one_time.items():
        if found:
            times[name] = round(sum(seconds for _, seconds in found), 1)
    evaluations = events(r"kimg \(\d+ generator iterations\): fid .*\(([0-9.]+) s\)$")
    if evaluations:
        end, seconds = evaluations[-1]
        inside = sum(s for found in one_time.values() for t, s in found
                     if end is not None and t is not None and end - timedelta(seconds=seconds) < t <= end)
        times["fid_s"] = round(seconds - inside, 1)
    return times


def training_complete(run_dir: Path) -> bool:
    """Whether ``last.ckpt`` already holds the whole run (so a resume would be refused): a run killed
    during its final evaluation, which is then finished by ``evaluate.py``."""
    last, saved = run_dir / "checkpoints" / "last.ckpt", run_dir / ".hydra" / "config.yaml"
    if not (last.is_file() and saved.is_file()):
        return False
    import torch
    from omegaconf import OmegaConf

    from ganforge.errors import GanforgeError
    from ganforge.resume import check_not_finished

    try:
        check_not_finished(OmegaConf.load(saved), torch.load(last, map_location="cpu", weights_only=True), "last.ckpt")
    except GanforgeError:
        return True
    return False


def evaluate_last(run_dir: Path, config: dict, seed: int, env: dict, log) -> tuple[int, dict]:
    """``evaluate.py`` on the finished ``last.ckpt`` with the run's own metric settings: (exit code,
    the summary's metrics as the training run would have logged them)."""
    import torch

    metrics_cfg = config.get("metrics", {})
    last = run_dir / "checkpoints" / "last.ckpt"
    command = [sys.executable, "evaluate.py", f"ckpt_path={last}", f"seed={seed}",
               *(f"metrics.{k}={metrics_cfg[k]}" for k in ("num_samples", "num_real", "real_split")
                 if metrics_cfg.get(k) is not None)]
    returncode = subprocess.run(command, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
                                check=False).returncode
    scores_file = last.parent / "metrics.json"
    if returncode != 0 or not scores_file.is_file():
        return returncode or 1, {}
    scores = json.loads(scores_file.read_text())["last.ckpt"]["scores"]
    counters = torch.load(last, map_location="cpu", weights_only=True).get("counters", {})
    metrics = {f"val/{k}": v for k, v in scores.items() if not k.endswith("_std")}
    metrics.update({"progress/g_iters": float(counters.get("g_iters", 0)),
                    "progress/kimg": float(counters.get("images_seen", 0)) / 1000})
    return 0, metrics


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
    for i, item in enumerate(overrides):  # "{ckpt:<row>}": another row's table run of this seed
        found = re.search(r"\{ckpt:(\w+)\}", item)
        if found:
            needed = ROOT / "outputs" / "results" / table / run_key(table, found.group(1), seed, []) / "checkpoints"
            if not (needed / "last.ckpt").is_file():
                print(f"{key}: needs {needed / 'last.ckpt'}: run the {found.group(1)} row of seed {seed} first "
                      "on this machine (its outputs are not in git)", flush=True)
                return None
            overrides[i] = item.replace(found.group(0), str(needed / "last.ckpt"))
    last = run_dir / "checkpoints" / "last.ckpt"
    env = {**os.environ, "OMP_NUM_THREADS": str(threads), "WANDB_MODE": "disabled"}
    finish_by_evaluation = training_complete(run_dir)
    if finish_by_evaluation:
        command = [sys.executable, "evaluate.py", f"ckpt_path={last}"]
        print(f"{key}: training finished but its final evaluation did not; scoring {last} with evaluate.py",
              flush=True)
    else:
        if last.is_file():
            overrides.append(f"ckpt_path={last}")
            print(f"{key}: resuming from {last}", flush=True)
        command = [sys.executable, "train.py", *overrides]
        print(f"{key}: {' '.join(command[1:])}", flush=True)
    commit = git_commit()  # the code this attempt runs: commits made while it trains are not in it
    start = time.perf_counter()
    run_dir.mkdir(parents=True, exist_ok=True)
    with open(run_dir / "runner.log", "a") as log:
        if finish_by_evaluation:
            config = yaml.safe_load((run_dir / ".hydra" / "config.yaml").read_text())
            returncode, metrics = evaluate_last(run_dir, config, seed, env, log)
            summary = {"status": "finished" if returncode == 0 else "failed", "metrics": metrics}
        else:
            child = subprocess.Popen(command, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
            # The child's own CPU time: near threads x wall on an otherwise idle machine, less when
            # something else shared the cores (then the wall time is not this run's alone).
            _, status, usage = os.wait4(child.pid, 0)
            returncode = os.waitstatus_to_exitcode(status)
    wall = before + time.perf_counter() - start
    elapsed_file.write_text(f"{wall:.1f}")
    cpu_file = run_dir / "cpu_s.txt"
    cpu = float(cpu_file.read_text()) if cpu_file.is_file() else 0.0
    if not finish_by_evaluation:  # evaluate.py's CPU time is not counted: the share then covers training only
        cpu += usage.ru_utime + usage.ru_stime
        cpu_file.write_text(f"{cpu:.1f}")
        summary_file = run_dir / "summary.json"
        summary = json.loads(summary_file.read_text()) if summary_file.is_file() else {}
    if returncode != 0 or summary.get("status") != "finished":
        print(f"{key}: failed (exit {returncode}, status {summary.get('status')}); see {run_dir}/runner.log",
              flush=True)
        return None
    config = yaml.safe_load((run_dir / ".hydra" / "config.yaml").read_text())
    log_text = (run_dir / "runner.log").read_text(errors="replace")
    phases = phase_times(log_text)
    if finish_by_evaluation:  # the final evaluation is this attempt, evaluate.py's
        phases["fid_s"] = round(time.perf_counter() - start, 1)
    phases["training_s"] = round(wall - sum(phases.values()), 1)
    metrics = summary.get("metrics", {})
    result = {
        "table": table, "row": row, "seed": seed, "extra_overrides": extra, "key": key,
        "command": "python train.py " + " ".join(o for o in overrides if not o.startswith(("hydra.run.dir=",
                                                                                          "ckpt_path="))),
        "commit": commit, "machine": machine(threads), "wall_s": round(wall, 1), "cpu_s": round(cpu, 1),
        "cpu_share": round(cpu / (wall * threads), 3), "phases_s": phases,
        "epochs": config.get("trainer", {}).get("max_epochs"),
        "precision": training_precision(log_text),
        "metrics": {k: metrics.get(k) for k in METRICS if k in metrics},
        "config": config,
    }
    figures = copy_figures(run_dir, key)
    if figures:
        result["figures"] = figures
    if finish_by_evaluation:
        result["final_evaluation"] = "evaluate.py on last.ckpt (the run was stopped in its final evaluation)"
    RESULTS.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=1) + "\n")
    score = key_metric(table)
    print(f"{key}: {score} {result['metrics'].get(score)} in {wall / 60:.1f} min -> {out.relative_to(ROOT)}",
          flush=True)
    return out


def copy_figures(run_dir: Path, key: str) -> list[str]:
    """The run's grids at the end of each growth stage (``samples/stage-*.png``, ProGAN), copied under
    docs/img/results/<key>/ in the order the stages grew; paths relative to docs/."""
    grids = sorted((run_dir / "samples").glob("stage-*.png"), key=lambda p: int(re.sub(r"\D", "", p.stem) or 0))
    copies = []
    for grid in grids:
        target = FIGURES / key / grid.name
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(grid, target)
        copies.append(str(target.relative_to(DOC.parent)))
    return copies


def key_metric(table: str) -> str:
    return "val/psnr" if TABLES[table].get("kind") == "sr" else "val/fid"


def finished_runs(table: str, row: str) -> tuple[list[dict], list[dict]]:
    """The row's table runs (no extra overrides, their table's score) and the rest: probes, and runs
    kept for the record but replaced by a rerun (a ``superseded`` field says why)."""
    results = [json.loads(p.read_text()) for p in sorted(RESULTS.glob(f"{table}-{row}-s*.json"))]
    kept_apart = [bool(r["extra_overrides"] or r.get("superseded")) for r in results]
    runs = [r for r, apart in zip(results, kept_apart, strict=True)
            if not apart and r["metrics"].get(key_metric(table)) is not None]
    return runs, [r for r, apart in zip(results, kept_apart, strict=True) if apart]


def mean_std(values: list[float], digits: int = 1) -> str:
    mean = statistics.mean(values)
    if len(values) == 1:
        return f"{mean:.{digits}f} (one seed)"
    return f"{mean:.{digits}f} ± {statistics.stdev(values):.{digits}f}"


def probe_lines(probes: list[dict], score: str = "val/fid") -> list[str]:
    if not probes:
        return []
    lines = ["", "Probes (one seed, extra overrides) and superseded runs; not table runs:", ""]
    for r in probes:
        value = r["metrics"].get(score)
        accuracy = r["metrics"].get("val/class_accuracy")
        name = {"val/fid": "FID", "val/psnr": "PSNR(Y)"}[score]
        digits = 1 if score == "val/fid" else 2
        shown = f"{name} {'none' if value is None else f'{value:.{digits}f}'}"
        if score == "val/psnr" and value is not None and r["metrics"].get("val/psnr_bicubic") is not None:
            shown += f" dB (bicubic {r['metrics']['val/psnr_bicubic']:.2f}), SSIM {r['metrics'].get('val/ssim', 0):.4f}"
        shown += f", class accuracy {accuracy:.3f}" if accuracy is not None else ""
        threads = r.get("machine", {}).get("threads")
        share = f", CPU share {r['cpu_share']:.2f}" if "cpu_share" in r else ""
        on = f" on {threads} thread{'s' if threads != 1 else ''}{share}" if threads else ""
        what = f"`{' '.join(r['extra_overrides'])}`" if r["extra_overrides"] else "(the row's own overrides)"
        what += f" (superseded: {r['superseded']})" if r.get("superseded") else ""
        lines.append(f"- {r['row']} s{r['seed']} {what}: {shown}, "
                     f"{r['wall_s'] / 60:.0f} min{on}, {machine_text(r)}commit {r['commit'][:7]}")
    return lines


def table_head(table: str, columns: list[str], note: str = "") -> list[str]:
    """A table's opening lines: its title, how it is rebuilt, the column header and its rule."""
    return [f"{TABLES[table]['title']}. Rebuilt by `python bench/results.py {table} --table-only` from "
            f"`docs/results/{table}-*.json`{note}.", "",
            "| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]


FID_RULES = {"below": ("FID below", lambda fid, bar: fid < bar), "at_most": ("FID <=", lambda fid, bar: fid <= bar),
             "beside": ("beside", None)}


def proof_goal(target: dict) -> tuple[str, bool | None]:
    """A proof row's target in words, and whether its finished runs meet it (None: no runs of the row it
    is compared with yet). ``target``: ``compare`` (table, row), ``fid`` (below | at_most | beside:
    reported next to it, no requirement; default below) and optionally ``class_accuracy``."""
    compare_table, compare_row = target["compare"]
    compared, _ = finished_runs(compare_table, compare_row)
    bar = statistics.mean(r["metrics"]["val/fid"] for r in compared) if compared else None
    words, _ = FID_RULES[target.get("fid", "below")]
    label = TABLES[compare_table]["rows"][compare_row]["label"]
    where = f"{compare_table} {label}" if compare_table != "proof" else label
    goal = f"{words} {where}" + (f" ({bar:.1f})" if bar is not None else " (not run yet)")
    if "class_accuracy" in target:
        goal = f"accuracy >= {target['class_accuracy']:.0%}, {goal}"
    return goal, bar


SEEDS_FOR_YES = 3


def verdict(met: bool, seeds: int) -> str:
    """A target's verdict: met on 3 seeds or more is 'yes', on fewer 'so far'; missed is 'no'."""
    if not met:
        return "no"
    return "yes" if seeds >= SEEDS_FOR_YES else "so far"


def proof_met(target: dict, bar: float | None, fids: list[float], accuracies: list[float | None]) -> str:
    """'yes' (3 seeds or more), 'so far', 'no', or '' for a row reported beside another with no target."""
    _, rule = FID_RULES[target.get("fid", "below")]
    if rule is None and "class_accuracy" not in target:
        return ""
    fid_ok = rule is None or (bar is not None and rule(statistics.mean(fids), bar))
    accuracy_ok = "class_accuracy" not in target or all(a is not None and a >= target["class_accuracy"]
                                                        for a in accuracies)
    return verdict(fid_ok and accuracy_ok, len(fids))


def proof_markdown(table: str) -> str:
    """Rows of different systems, each against its own target."""
    spec = TABLES[table]
    lines = table_head(table, ["system", "FID-10k (mean ± std)", "class accuracy", "seeds", "epochs", "per run",
                               "target", "met"])
    all_probes, details = [], []
    for row, row_spec in spec["rows"].items():
        runs, probes = finished_runs(table, row)
        all_probes += probes
        target = row_spec["target"]
        goal, bar = proof_goal(target)
        if not runs:
            lines.append(f"| {row_spec['label']} | not run yet | | | | | {goal} | |")
            continue
        fids = [r["metrics"]["val/fid"] for r in runs]
        accuracies = [r["metrics"].get("val/class_accuracy") for r in runs]
        accuracy_text = mean_std([a for a in accuracies if a is not None], 3) if any(
            a is not None for a in accuracies) else "not measured"
        seeds = ", ".join(f"s{r['seed']} {r['metrics']['val/fid']:.1f}"
                          + (f" / {r['metrics']['val/class_accuracy']:.3f}"
                             if r["metrics"].get("val/class_accuracy") is not None else "") for r in runs)
        epochs = epochs_text(runs)
        wall = ", ".join(f"{run_minutes(r):.0f}" for r in runs) + " min"
        real = runs[0]["metrics"].get("val/class_accuracy_real")
        details += [line for r in runs for line in run_lines(row_spec["label"], r)]
        if real is not None:
            details.append(f"- the classifier's accuracy on the 10,000 held-out test images: {real:.4f}")
        lines.append(f"| {row_spec['label']} | {mean_std(fids)} | {accuracy_text} | {seeds} | {epochs} | {wall} "
                     f"| {goal} | {proof_met(target, bar, fids, accuracies)} |")
    if details:
        lines += ["", *details]
    return "\n".join([*lines, *probe_lines(all_probes)]) + "\n"


def sr_markdown(table: str) -> str:
    """Each row against bicubic on the same held-out photos (and its own target, where it has one)."""
    spec = TABLES[table]
    lines = table_head(table, ["system", "PSNR(Y) dB", "bicubic", "gain dB (mean ± std)", "SSIM(Y)", "bicubic",
                               "LPIPS", "seeds", "per run", "target", "met"])
    all_probes, details = [], []
    for row, row_spec in spec["rows"].items():
        runs, probes = finished_runs(table, row)
        all_probes += probes
        target = row_spec.get("target")
        goal = (f"PSNR >= bicubic + {target['psnr_gain']} dB, SSIM above bicubic" if target else
                "none (its perceptual numbers beside)")
        if not runs:
            lines.append(f"| {row_spec['label']} | not run yet | | | | | | | | {goal} | |")
            continue
        m = [r["metrics"] for r in runs]
        gains = [x["val/psnr"] - x["val/psnr_bicubic"] for x in m]
        lpips = [x["val/lpips"] for x in m if x.get("val/lpips") is not None]
        met = target is not None and all(g >= target["psnr_gain"] for g in gains) and all(
            x["val/ssim"] > x["val/ssim_bicubic"] for x in m)
        seeds = ", ".join(f"s{r['seed']} {g:+.2f}" for r, g in zip(runs, gains))
        wall = ", ".join(f"{r['wall_s'] / 60:.0f}" for r in runs) + " min"
        details += [line for r in runs for line in run_lines(row_spec["label"], r)]
        lines.append(
            f"| {row_spec['label']} | {mean_std([x['val/psnr'] for x in m], 2)} | {m[0]['val/psnr_bicubic']:.2f} "
            f"| {mean_std(gains, 2)} | {mean_std([x['val/ssim'] for x in m], 4)} | {m[0]['val/ssim_bicubic']:.4f} "
            f"| {mean_std(lpips, 3) if lpips else 'not measured'} | {seeds} | {wall} | {goal} "
            f"| {verdict(met, len(runs)) if target else ''} |")
    if details:
        lines += ["", *details]
    return "\n".join([*lines, *probe_lines(all_probes, key_metric(table))]) + "\n"


def table_markdown(table: str) -> str:
    if table == "proof":
        return proof_markdown(table)
    if TABLES[table].get("kind") == "sr":
        return sr_markdown(table)
    spec = TABLES[table]
    lines = table_head(table, ["loss", "paper (mean ± std)", "ours (mean ± std)", "seeds", "epochs",
                               "training + FID-10k per run", "below the paper"],
                       " (table runs only; probes with extra overrides and superseded runs are listed below it)")
    probes, details, table_runs = [], [], []
    for row, row_spec in spec["rows"].items():
        runs, row_probes = finished_runs(table, row)
        probes += row_probes
        table_runs += runs
        paper = row_spec["paper"]
        paper_text = f"{paper[0]} ± {paper[1]}" if paper else "see the paper"
        if not runs:
            lines.append(f"| {row_spec['label']} | {paper_text} | not run yet | | | | |")
            continue
        fids = [r["metrics"]["val/fid"] for r in runs]
        mean, ours = statistics.mean(fids), mean_std(fids)
        seeds = ", ".join(f"s{r['seed']} {r['metrics']['val/fid']:.1f}" for r in runs)
        epochs = epochs_text(runs)
        wall = ", ".join(f"{run_minutes(r):.0f}" for r in runs) + " min"
        details += [line for r in runs for line in run_lines(row_spec["label"], r)]
        below = verdict(mean < paper[0], len(fids)) if paper else ""
        lines.append(f"| {row_spec['label']} | {paper_text} | {ours} | {seeds} | {epochs} | {wall} "
                     f"| {below} |")
    if table_runs:
        lines += ["", whole_table_time(table_runs)]
    if details:
        lines += ["", "Each run: its whole wall time, the real statistics it computed (once per machine, then "
                  "cached; not in the column above), and the share of its threads x wall time it had of the CPU "
                  "(lower: something else shared the cores).", "", *details]
    return "\n".join([*lines, *probe_lines(probes)]) + "\n"


ONE_TIME_PHASES = ("real_stats_s", "judge_s")  # computed once per machine, then read from a cache


def whole_table_time(runs: list[dict]) -> str:
    """The table's cost, summed over its runs as they ran (some shared the CPU or ran on slower machines)."""
    work = sum(run_minutes(r) for r in runs) / 60
    wall = sum(r["wall_s"] for r in runs) / 3600
    return (f"The whole table: {len(runs)} runs, {work:.1f} h of training and FID-10k (the sum of the column above) "
            f"and {wall:.1f} h of wall time with the one-time real statistics, each run as it ran.")


def epochs_text(runs: list[dict]) -> str:
    """The rows' epoch budgets; a run bounded by images shown (``max_epochs=-1``) says so instead of -1."""
    return ", ".join(sorted({str(r["epochs"]) if (r.get("epochs") or -1) > 0 else "kimg budget" for r in runs}))


def run_minutes(result: dict) -> float:
    """Training and the final FID-10k of a run, without what is computed once per machine and cached."""
    phases = result.get("phases_s", {})
    return (result["wall_s"] - sum(phases.get(name, 0.0) for name in ONE_TIME_PHASES)) / 60


def run_details(result: dict) -> str:
    phases = result.get("phases_s", {})
    parts = [f"wall {result['wall_s'] / 60:.1f} min"]
    if "training_s" in phases:
        parts.append(f"training {phases['training_s'] / 60:.1f}"
                     + (f" in {result['precision']}" if result.get("precision") else ""))
    if "fid_s" in phases:
        parts.append(f"FID-10k {phases['fid_s'] / 60:.1f}")
    if "real_stats_s" in phases:
        real = phases["real_stats_s"]
        parts.append(f"real statistics {real / 60:.1f}" if real >= 5 else "real statistics from the cache")
    if "judge_s" in phases:
        parts.append(f"class-accuracy judge trained in {phases['judge_s'] / 60:.1f}")
    if "cpu_share" in result:
        parts.append(f"CPU share {result['cpu_share']:.2f}")
    return ", ".join(parts) + f", {machine_text(result)}commit {result['commit'][:7]}"


def run_lines(label: str, result: dict) -> list[str]:
    """A run's line under its table, and the links to its figures (a growing run's stage grids)."""
    lines = [f"- {label} s{result['seed']}: {run_details(result)}"]
    if result.get("figures"):
        lines.append("  - the samples at the end of each stage: " + " ".join(
            f"![{Path(f).stem}]({f})" for f in result["figures"]))
    return lines


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
    parser.add_argument("--threads", type=int, help="compute threads per run; default: cores / workers")
    parser.add_argument("--table-only", action="store_true")
    args = parser.parse_args(argv)
    rows = args.rows or list(TABLES[args.table]["rows"])
    unknown = sorted(set(rows) - set(TABLES[args.table]["rows"]))
    if unknown:
        parser.error(f"unknown rows {unknown}; {args.table} has {', '.join(TABLES[args.table]['rows'])}")
    if not args.table_only:
        threads = args.threads or max(1, (os.cpu_count() or 1) // args.workers)
        jobs = [(row, seed) for seed in args.seeds for row in rows]
        start = time.perf_counter()
        with ThreadPoolExecutor(args.workers) as pool:
            list(pool.map(lambda job: run_one(args.table, job[0], job[1], extra, threads), jobs))
        print(f"{len(jobs)} runs in {(time.perf_counter() - start) / 60:.1f} min of wall time")
    rebuild(args.table)


if __name__ == "__main__":
    main()
