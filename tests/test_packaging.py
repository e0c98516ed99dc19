"""The package outside the clone: a wheel carries the configs, and its ganforge-* commands train,
sample and export from any directory."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
from conftest import CONF, ROOT

COMMANDS = ("ganforge-train", "ganforge-evaluate", "ganforge-sample", "ganforge-upscale", "ganforge-export")
TINY_RUN = ["trainer=cpu", "logger=csv", "data=ring8", "model=gan", "g_iters=4", "checkpoint_every=1000",
            "model.generator.hidden=[16,16]", "model.discriminator.hidden=[16,16]", "callbacks.progress_bar=null",
            "trainer.enable_progress_bar=false", "trainer.enable_model_summary=false"]


def test_the_configs_live_in_the_package_and_the_repository_links_them():
    from importlib.resources import files

    carried = files("ganforge.conf")
    assert carried.joinpath("train.yaml").is_file() and carried.joinpath("model").joinpath("wgan_gp.yaml").is_file()
    assert CONF.resolve() == (ROOT / "src" / "ganforge" / "conf").resolve()
    for script in ("train", "evaluate", "sample", "upscale", "export"):  # thin entry points
        assert f"from ganforge.scripts.{script} import main" in (ROOT / f"{script}.py").read_text()


@pytest.mark.slow
def test_a_wheel_installed_elsewhere_trains_and_exports_from_any_directory(tmp_path):
    wheels, target, elsewhere = tmp_path / "wheels", tmp_path / "site", tmp_path / "elsewhere"
    elsewhere.mkdir()
    pip = [sys.executable, "-m", "pip", "-q"]
    # Built from a copy: setuptools writes build/ and *.egg-info into the tree it builds.
    source = tmp_path / "source"
    local = {".git", ".venv", "outputs", "data", "build", "notebooks", ".pytest_cache"}  # the clone's own, at its top

    def skipped(folder: str, names: list[str]) -> set[str]:
        top = Path(folder) == ROOT
        return {n for n in names if (top and n in local) or n == "__pycache__" or n.endswith(".egg-info")}

    shutil.copytree(ROOT, source, symlinks=True, ignore=skipped)
    built = subprocess.run([*pip, "wheel", "--no-deps", "--no-build-isolation", str(source), "-w", str(wheels)],
                           capture_output=True, text=True, timeout=300)
    assert built.returncode == 0, built.stderr[-2000:]
    (wheel,) = wheels.glob("ganforge-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    assert "ganforge/conf/train.yaml" in names and "ganforge/conf/experiment/lucic.yaml" in names
    installed = subprocess.run([*pip, "install", "--no-deps", "--target", str(target), str(wheel)],
                               capture_output=True, text=True, timeout=300)
    assert installed.returncode == 0, installed.stderr[-2000:]
    assert {c for c in COMMANDS if (target / "bin" / c).is_file()} == set(COMMANDS)

    env = {**os.environ, "PYTHONPATH": str(target), "WANDB_MODE": "disabled"}
    env.pop("GANFORGE_ROOT", None)

    def command(name: str, *args: str) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, str(target / "bin" / name), *args], capture_output=True, text=True,
                              cwd=elsewhere, env=env, timeout=300)

    trained = command("ganforge-train", *TINY_RUN)
    assert trained.returncode == 0, trained.stderr[-3000:]
    (run_dir,) = (elsewhere / "outputs" / "train" / "runs").iterdir()
    ckpt = run_dir / "checkpoints" / "last.ckpt"
    assert ckpt.is_file() and (run_dir / "train.log").is_file()
    sampled = command("ganforge-sample", f"ckpt_path={ckpt}", f"out_dir={elsewhere / 'samples'}")
    assert sampled.returncode == 0, sampled.stderr[-3000:]
    assert (elsewhere / "samples" / "points.csv").is_file()
    # the installed copy ran, not the clone's
    which = subprocess.run([sys.executable, "-c", "import ganforge; print(ganforge.__file__)"], capture_output=True,
                           text=True, cwd=elsewhere, env=env)
    assert which.stdout.strip().startswith(str(target))
