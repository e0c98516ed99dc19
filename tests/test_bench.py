"""The benchmark scripts run: their dry runs (tiny sizes, synthetic data, seeded random weights)
go end to end on the CPU with no data, weights or network, so they are ready for a real machine."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
from conftest import ROOT


@pytest.mark.slow
def test_the_prepared_gpu_check_runs_dry_on_the_cpu(tmp_path):
    env = {**os.environ, "GANFORGE_DATA_DIR": str(tmp_path / "no-data"), "WANDB_MODE": "disabled"}
    out = subprocess.run(["bash", str(ROOT / "bench" / "gpu.sh"), "--dry-run", str(tmp_path / "out")], cwd=ROOT,
                         env=env, capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    result = json.loads((tmp_path / "out" / "gpu.json").read_text())
    assert result["dry_run"] is True
    assert result["wgan_gp_bf16"]["status"] == "finished" and result["wgan_gp_bf16"]["all_finite"]
    (row,) = result["speed"]["rows"]
    assert set(row["median_img_per_s"]) >= {"reference fp32", "reference bf16", "ganforge fp32"}
    assert result["fid_speed"]["feature_rel_diff"] < 1e-4  # the same features as torch-fidelity's network


def test_reference_loop_reports_a_rate():
    out = subprocess.run([sys.executable, str(ROOT / "bench" / "reference_dcgan.py"), "--nets", "lucic",
                          "--size", "28", "--batch", "8", "--iters", "2", "--warmup", "1", "--precision", "bf16"],
                         capture_output=True, text=True, timeout=120, check=True)
    result = json.loads(out.stdout.strip().splitlines()[-1])
    assert result["img_per_s"] > 0 and result["finite"] and result["precision"] == "bf16"


def test_train_throughput_takes_overrides_and_measures_the_bf16_penalty(tmp_path):
    env = {**os.environ, "TMPDIR": str(tmp_path), "WANDB_MODE": "disabled"}
    out = subprocess.run([sys.executable, str(ROOT / "bench" / "train_throughput.py"), "--model", "wgan_gp",
                          "--size", "28", "--batch", "8", "--g-iters", "21", "--set", "experiment=lucic",
                          "--set", "model.n_critic=1"], capture_output=True, text=True, timeout=300, env=env)
    assert out.returncode == 0, out.stdout[-2000:] + out.stderr[-2000:]
    rates = [line for line in out.stdout.splitlines() if "img/s" in line]
    assert len(rates) == 4 and "penalty autocast" in rates[-1]
    assert "experiment=lucic model.n_critic=1 1x28x28, batch 8" in out.stdout


def test_results_table_is_rebuilt_from_the_run_files_and_probes_stay_apart(tmp_path, monkeypatch):
    sys.path.insert(0, str(ROOT / "bench"))
    import results

    monkeypatch.setattr(results, "RESULTS", tmp_path / "results")
    monkeypatch.setattr(results, "DOC", tmp_path / "results.md")
    (tmp_path / "results").mkdir()
    for seed, fid, extra in ((1, 20.0, []), (2, 22.0, []), (1, 80.0, ["trainer.max_epochs=1"])):
        key = results.run_key("lucic", "wgan_gp", seed, extra)
        record = {"row": "wgan_gp", "seed": seed, "extra_overrides": extra, "epochs": 10, "wall_s": 1800.0,
                  "commit": "abcdef0", "metrics": {"val/fid": fid}}
        if seed == 2:  # runs record their machine; older ones did not
            record["machine"] = {"cpu": "Intel(R) Xeon(R) Processor", "cores": 2, "bf16": ["AVX512-BF16", "AMX"]}
        (tmp_path / "results" / f"{key}.json").write_text(json.dumps(record))
    assert results.run_key("lucic", "wgan_gp", 1, []) != results.run_key("lucic", "wgan_gp", 1, ["x=1"])
    # a run replaced by a rerun is kept on file, listed apart with why, and not counted
    replaced = {"row": "wgan_gp", "seed": 2, "extra_overrides": [], "epochs": 10, "wall_s": 600.0, "commit": "1234567",
                "metrics": {"val/fid": 99.0}, "superseded": "resumed short of its epochs"}
    (tmp_path / "results" / "lucic-wgan_gp-s2-superseded.json").write_text(json.dumps(replaced))
    (tmp_path / "results.md").write_text("# Results\n\nkept text\n")
    results.rebuild("lucic")
    results.rebuild("lucic")  # rebuilt in place, not appended twice
    text = (tmp_path / "results.md").read_text()
    assert text.count("<!-- table:lucic -->") == 1 and "kept text" in text
    # below the paper on 2 seeds: "so far" (3 make a yes)
    assert "| WGAN GP | 24.5 ± 2.1 | 21.0 ± 1.4 | s1 20.0, s2 22.0 | 10 | 30, 30 min | so far |" in text
    assert "| NS GAN | 26.5 ± 1.6 | not run yet |" in text
    # the table's cost: the table runs only (not the probe or the superseded run)
    assert ("The whole table: 2 runs, 1.0 h of training and FID-10k (the sum of the column above) and 1.0 h of "
            "wall time") in text
    assert "- wgan_gp s1 `trainer.max_epochs=1`: FID 80.0" in text
    assert "- wgan_gp s2 (the row's own overrides) (superseded: resumed short of its epochs): FID 99.0" in text
    assert "- WGAN GP s1: wall 30.0 min, commit abcdef0" in text
    assert "- WGAN GP s2: wall 30.0 min, Intel(R) Xeon(R) Processor (AVX512-BF16, AMX), 2 cores, commit abcdef0" in text


def test_a_run_commit_is_dirty_for_changed_code_but_not_for_the_tables_it_writes(tmp_path, monkeypatch):
    sys.path.insert(0, str(ROOT / "bench"))
    import results

    def git(*args: str) -> None:
        subprocess.run(["git", "-c", "user.name=t", "-c", "user.email=t@t", *args], cwd=tmp_path, check=True,
                       capture_output=True)

    (tmp_path / "docs" / "results").mkdir(parents=True)
    files = {"docs/results.md": "table\n", "docs/results/lucic-x-s1.json": "{}\n", "train.py": "x = 1\n"}
    for name, text in files.items():
        (tmp_path / name).write_text(text)
    git("init", "-q")
    git("add", ".")
    git("commit", "-qm", "first")
    monkeypatch.setattr(results, "ROOT", tmp_path)
    (tmp_path / "docs" / "results.md").write_text("table rebuilt by another run\n")
    (tmp_path / "docs" / "results" / "lucic-x-s1.json").write_text("{\"fid\": 1}\n")
    assert not results.git_commit().endswith("-dirty")
    (tmp_path / "train.py").write_text("x = 2\n")
    assert results.git_commit().endswith("-dirty")


def test_results_reads_the_phases_of_a_run_from_its_log():
    sys.path.insert(0, str(ROOT / "bench"))
    import results

    log = ("[x][ganforge.reporting][INFO] - real statistics (fashion_mnist-pad-test-1ch-28px): 10000 done in 700.7 s "
           "(14.3/s)\n[x][ganforge.callbacks.evaluation][INFO] - 599.7 kimg (9370 generator iterations): fid 28.69, "
           "kid 0.01716 (632.6 s)\n")
    assert results.phase_times(log) == {"real_stats_s": 700.7, "fid_s": 632.6}
    assert results.phase_times("nothing measured") == {}


def test_a_run_records_the_precision_it_trained_in_and_its_line_says_it():
    """Precision follows the machine (bf16 only where the CPU has bf16 instructions), so a table
    spread over several machines says which runs trained in which."""
    sys.path.insert(0, str(ROOT / "bench"))
    import results

    log = ("[x][ganforge.train][INFO] - training InfoGANGenerator for 15 epochs (trainer.max_epochs)\n"
           "[x][ganforge.train][INFO] - precision 32-true (automatic: the CPU has no native bf16 (no AVX512-BF16, "
           "AMX or Arm BF16: oneDNN would emulate it))\n")
    assert results.training_precision(log) == "32-true"
    set_by_config = "[x][ganforge.train][INFO] - precision bf16-mixed (set by trainer.precision; the automatic ...)"
    assert results.training_precision(set_by_config) == "bf16-mixed"
    assert results.training_precision("model.penalty_precision=autocast") is None
    run = {"seed": 1, "wall_s": 600.0, "phases_s": {"training_s": 480.0}, "commit": "abcdef0123",
           "machine": {"cpu": "Some CPU", "cores": 2, "bf16": []}, "precision": "32-true"}
    assert "training 8.0 in 32-true" in results.run_details(run)
    assert "training 8.0, " in results.run_details({**run, "precision": None})  # runs from before it was recorded


def test_results_leaves_one_time_work_out_of_the_evaluation_time():
    """A log from before the evaluation's clock excluded the real statistics and the judge counted
    them in the evaluation: what falls inside the evaluation's window is taken out of it."""
    sys.path.insert(0, str(ROOT / "bench"))
    import results

    log = ("[2026-12-03 13:07:44,013][ganforge.reporting][INFO] - real statistics (fashion_mnist-pad-test-1ch-28px): "
           "2000 done in 270.5 s (7.4/s)\n"
           "[2026-12-03 13:08:44,000][ganforge.metrics.classes][INFO] - class-accuracy classifier: trained on 60000 "
           "images in 60 s, held-out accuracy 0.9111 on 10000 images; cached at x\n"
           "[2026-12-03 13:12:45,003][ganforge.callbacks.evaluation][INFO] - 119.9 kimg (1874 generator iterations): "
           "fid 70.22, kid 0.04781 (571.5 s)\n")
    assert results.phase_times(log) == {"real_stats_s": 270.5, "judge_s": 60.0, "fid_s": 241.0}
    # computed before the evaluation started (the logged time is the evaluation's alone): nothing taken out
    earlier = log.replace("13:07:44", "12:57:44").replace("13:08:44", "12:58:44")
    assert results.phase_times(earlier) == {"real_stats_s": 270.5, "judge_s": 60.0, "fid_s": 571.5}
    # ended 0.2 s before the evaluation's 121.0 s began (the stamps share their second): not inside it
    just_before = ("[2026-12-04 18:08:29,129][ganforge.reporting][INFO] - real statistics (x): 2000 done in 110.2 s "
                   "(18.1/s)\n[2026-12-04 18:10:30,331][ganforge.callbacks.evaluation][INFO] - 179.9 kimg (2811 "
                   "generator iterations): fid 71.9, kid 0.04072 (121.0 s)\n")
    assert results.phase_times(just_before) == {"real_stats_s": 110.2, "fid_s": 121.0}
    run = {"wall_s": 1200.0, "phases_s": results.phase_times(log)}
    assert results.run_minutes(run) == (1200.0 - 270.5 - 60.0) / 60


def test_the_proof_table_holds_each_row_to_its_target(tmp_path, monkeypatch):
    sys.path.insert(0, str(ROOT / "bench"))
    import results

    monkeypatch.setattr(results, "RESULTS", tmp_path / "results")
    monkeypatch.setattr(results, "DOC", tmp_path / "results.md")
    (tmp_path / "results").mkdir()
    records = [("lucic", "ns_gan", 1, {"val/fid": 23.0}),
               ("proof", "cgan", 1, {"val/fid": 21.0, "val/class_accuracy": 0.95, "val/class_accuracy_real": 0.92}),
               ("proof", "cgan", 2, {"val/fid": 22.0, "val/class_accuracy": 0.85})]
    for table, row, seed, metrics in records:
        record = {"row": row, "seed": seed, "extra_overrides": [], "epochs": 15, "wall_s": 2400.0,
                  "commit": "abcdef0", "metrics": metrics}
        (tmp_path / "results" / f"{results.run_key(table, row, seed, [])}.json").write_text(json.dumps(record))
    text = results.table_markdown("proof")
    assert "| 21.5 ± 0.7 | 0.900 ± 0.071 | s1 21.0 / 0.950, s2 22.0 / 0.850 | 15 | 40, 40 min |" in text
    assert "accuracy >= 90%, FID below lucic NS GAN (23.0) | no |" in text  # s2's accuracy is below 90 %
    assert "held-out test images: 0.9200" in text


def test_a_proof_row_can_be_held_to_another_proof_row_or_reported_beside_it(tmp_path, monkeypatch):
    """ProGAN against DCGAN at equal kimg (FID at most DCGAN's); SNGAN only reported beside it."""
    sys.path.insert(0, str(ROOT / "bench"))
    import results

    monkeypatch.setattr(results, "RESULTS", tmp_path / "results")
    (tmp_path / "results").mkdir()
    rows = {"base": {"overrides": [], "label": "DCGAN 32 px", "target": {"compare": ("lucic", "ns_gan"),
                                                                            "fid": "beside"}},
            "grown": {"overrides": [], "label": "ProGAN 32 px", "target": {"compare": ("proof", "base"),
                                                                              "fid": "at_most"}},
            "other": {"overrides": [], "label": "SNGAN 32 px", "target": {"compare": ("proof", "base"),
                                                                             "fid": "beside"}}}
    monkeypatch.setitem(results.TABLES, "proof", {**results.TABLES["proof"], "rows": rows})
    for row, seed, fid in (("base", 1, 30.0), ("base", 2, 32.0), ("grown", 1, 31.0), ("other", 1, 40.0)):
        record = {"row": row, "seed": seed, "extra_overrides": [], "epochs": -1 if row == "other" else 5,
                  "wall_s": 600.0, "commit": "abcdef0", "metrics": {"val/fid": fid}}
        (tmp_path / "results" / f"{results.run_key('proof', row, seed, [])}.json").write_text(json.dumps(record))
    text = results.table_markdown("proof")
    assert "| DCGAN 32 px | 31.0 ± 1.4 | not measured |" in text
    assert "| beside lucic NS GAN (not run yet) |  |" in text
    assert "| FID <= DCGAN 32 px (31.0) | so far |" in text  # 31.0 <= 31.0 on one seed
    assert "| beside DCGAN 32 px (31.0) |  |" in text
    assert "| s1 40.0 | kimg budget |" in text  # a run bounded by images shown, not "-1" epochs


def test_a_growing_runs_stage_grids_are_copied_into_the_docs_in_growth_order(tmp_path, monkeypatch):
    sys.path.insert(0, str(ROOT / "bench"))
    import results

    monkeypatch.setattr(results, "DOC", tmp_path / "docs" / "results.md")
    monkeypatch.setattr(results, "FIGURES", tmp_path / "docs" / "img" / "results")
    samples = tmp_path / "run" / "samples"
    samples.mkdir(parents=True)
    for name in ("g0001000.png", "stage-16px.png", "stage-4px.png", "stage-32px.png", "stage-8px.png"):
        (samples / name).write_bytes(name.encode())
    figures = results.copy_figures(tmp_path / "run", "proof-grown-s1")
    assert figures == [f"img/results/proof-grown-s1/stage-{r}px.png" for r in (4, 8, 16, 32)]
    assert (tmp_path / "docs" / figures[0]).read_bytes() == b"stage-4px.png"
    assert results.copy_figures(tmp_path / "elsewhere", "proof-flat-s1") == []  # a run that does not grow

    monkeypatch.setattr(results, "RESULTS", tmp_path / "results")
    (tmp_path / "results").mkdir()
    rows = {"grown": {"overrides": [], "label": "ProGAN 32 px", "target": {"compare": ("lucic", "ns_gan"),
                                                                              "fid": "beside"}}}
    monkeypatch.setitem(results.TABLES, "proof", {**results.TABLES["proof"], "rows": rows})
    record = {"row": "grown", "seed": 1, "extra_overrides": [], "epochs": 5, "wall_s": 600.0, "commit": "abcdef0",
              "metrics": {"val/fid": 30.0}, "figures": figures}
    (tmp_path / "results" / "proof-grown-s1.json").write_text(json.dumps(record))
    assert ("the samples at the end of each stage: ![stage-4px](img/results/proof-grown-s1/stage-4px.png) "
            "![stage-8px]") in results.table_markdown("proof")


def test_a_run_stopped_in_its_final_evaluation_is_recognised_as_trained(tmp_path):
    sys.path.insert(0, str(ROOT / "bench"))
    import results
    import torch
    import yaml

    run_dir = tmp_path / "run"
    (run_dir / ".hydra").mkdir(parents=True)
    (run_dir / "checkpoints").mkdir()
    (run_dir / ".hydra" / "config.yaml").write_text(yaml.safe_dump({"g_iters": None, "trainer": {"max_epochs": 2}}))
    assert not results.training_complete(run_dir)  # no checkpoint yet
    for epochs, complete in ((1, False), (2, True)):
        loops = {"fit_loop": {"epoch_progress": {"current": {"completed": epochs}}}}
        torch.save({"loops": loops, "counters": {"g_iters": 10}}, run_dir / "checkpoints" / "last.ckpt")
        assert results.training_complete(run_dir) is complete


def test_the_sr_table_holds_srresnet_to_its_gain_over_bicubic(tmp_path, monkeypatch, capsys):
    sys.path.insert(0, str(ROOT / "bench"))
    import results

    monkeypatch.setattr(results, "RESULTS", tmp_path / "results")
    monkeypatch.setattr(results, "ROOT", tmp_path)
    (tmp_path / "results").mkdir()
    base = {"val/psnr_bicubic": 31.07, "val/ssim_bicubic": 0.8097}
    records = [("srresnet", 1, {"val/psnr": 31.70, "val/ssim": 0.8200}),
               ("srresnet", 2, {"val/psnr": 31.60, "val/ssim": 0.8150}),
               ("srresnet", 2, {"val/psnr": 40.0, "val/ssim": 0.99}, ["g_iters=9"]),  # a probe: listed apart
               ("srgan", 1, {"val/psnr": 31.20, "val/ssim": 0.8000})]
    for row, seed, metrics, *extra in records:
        extra = extra[0] if extra else []
        record = {"row": row, "seed": seed, "extra_overrides": extra, "wall_s": 900.0, "commit": "abcdef0",
                  "metrics": {**base, **metrics}}
        (tmp_path / "results" / f"{results.run_key('sr', row, seed, extra)}.json").write_text(json.dumps(record))
    text = results.table_markdown("sr")
    assert ("| 31.65 ± 0.07 | 31.07 | 0.58 ± 0.07 | 0.8175 ± 0.0035 | 0.8097 | not measured | s1 +0.63, s2 +0.53 |"
            in text)
    assert "PSNR >= bicubic + 0.5 dB, SSIM above bicubic | so far |" in text  # two seeds of three
    assert "| 31.20 (one seed) | 31.07 | 0.13 (one seed) |" in text
    assert "none (its perceptual numbers beside) |  |" in text
    assert "- srresnet s2 `g_iters=9`: PSNR(Y) 40.00 dB (bicubic 31.07)" in text
    # SRGAN starts from SRResNet's checkpoint of the same seed: without it, nothing runs.
    assert results.run_one("sr", "srgan", 3, [], 1) is None
    assert "run the srresnet row of seed 3 first" in capsys.readouterr().out


def test_every_results_row_composes_into_a_train_config(tmp_path):
    """A typo in a row's overrides fails here, not an hour into a table run."""
    sys.path.insert(0, str(ROOT / "bench"))
    import results
    from conftest import compose_cfg

    for table, spec in results.TABLES.items():
        for row, row_spec in spec["rows"].items():
            overrides = [o.replace("{ckpt:", "").replace("}", "") for o in [*spec["common"], *row_spec["overrides"]]]
            cfg = compose_cfg(tmp_path, [*overrides, "seed=1"])
            assert cfg.model._target_, (table, row)


def test_the_progan_row_is_shown_as_many_images_as_the_rows_it_is_compared_with(tmp_path):
    """The row's own config (its g_iters, growth phases and the preset's per-stage batch sizes), walked
    through the growth schedule, ends at KIMG_32, as DCGAN's row does."""
    sys.path.insert(0, str(ROOT / "bench"))
    import results
    from conftest import compose_cfg

    from ganforge.models.progan import GrowthSchedule, ProGAN

    def row_config(row: str):
        return compose_cfg(tmp_path, [*results.TABLES["proof"]["common"],
                                      *results.TABLES["proof"]["rows"][row]["overrides"], "seed=1"])

    cfg = row_config("progan32")
    assert {int(k): v for k, v in cfg.model.batch_sizes.items() if int(k) <= 32} == results.PROGAN_BATCHES
    schedule = GrowthSchedule(4, cfg.model.fade_kimg, cfg.model.stable_kimg)
    images = 0
    for _ in range(cfg.g_iters):
        stage, _ = schedule.at(images / 1000)
        images += cfg.model.batch_sizes[ProGAN.stage_resolution(stage)]
    assert abs(images / 1000 - results.KIMG_32) <= 0.064
    assert schedule.total_kimg() == pytest.approx(results.KIMG_32, abs=0.01)
    dcgan = row_config("dcgan32")
    assert dcgan.g_iters * dcgan.data.batch_size / 1000 == results.KIMG_32
