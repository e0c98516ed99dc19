"""The notebooks run top to bottom on a tiny sweep made here (image metrics through the seeded
random-conv extractor, so FID curves exist without weights), and are stored without outputs."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest
from conftest import ROOT, make_idx_set
from nbclient import NotebookClient

NOTEBOOKS = ROOT / "notebooks"


def execute(name: str, cwd: Path, env: dict[str, str], monkeypatch) -> nbformat.NotebookNode:
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    notebook = nbformat.read(NOTEBOOKS / name, as_version=4)
    NotebookClient(notebook, timeout=180, kernel_name="python3", resources={"metadata": {"path": str(cwd)}}).execute()
    return notebook


def outputs_text(notebook: nbformat.NotebookNode) -> str:
    return "\n".join(str(o.get("text", "")) + str(o.get("data", {}).get("text/markdown", ""))
                     + str(o.get("data", {}).get("text/plain", ""))
                     for cell in notebook.cells if cell.cell_type == "code" for o in cell.outputs)


def images_in(notebook: nbformat.NotebookNode) -> int:
    return sum("image/png" in o.get("data", {}) for c in notebook.cells if c.cell_type == "code" for o in c.outputs)


@pytest.fixture(scope="module")
def tiny_sweep(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("nb")
    make_idx_set(root / "data" / "MNIST" / "raw")
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "GANFORGE_ROOT": str(root), "HOME": str(root),
           "GANFORGE_DATA_DIR": str(root / "data"), "WANDB_MODE": "offline"}
    out = subprocess.run(
        [sys.executable, str(ROOT / "train.py"), "-m", "model=dcgan,cgan", "data=mnist", "data.download=false",
         "data.batch_size=8", "trainer=cpu", "logger=csv", "g_iters=6", "trainer.log_every_n_steps=1",
         "model.generator.base_width=8", "model.discriminator.base_width=8", "callbacks.samples.every_n_g_iters=3",
         "metrics/extractor=random_conv", "metrics.num_samples=16", "metrics.num_real=32",
         "metrics.kid_subset_size=8", "callbacks.evaluation.every_kimg=0.05", "callbacks.progress_bar=null",
         "trainer.enable_progress_bar=false", "trainer.enable_model_summary=false"],
        capture_output=True, text=True, timeout=300, env=env, cwd=root)
    assert out.returncode == 0, out.stderr[-3000:]
    return root


def test_compare_runs_notebook(tiny_sweep, monkeypatch):
    notebook = execute("compare_runs.ipynb", tiny_sweep, {"GANFORGE_ROOT": str(tiny_sweep)}, monkeypatch)
    text = outputs_text(notebook)
    assert "2 runs" in text and "0_dcgan_mnist_s0" in text and "1_cgan_mnist_s0" in text
    assert "val/fid" in text  # the summary table
    assert "<Figure size 1500x360 with 3 Axes>" in text  # loss_d, loss_g, val/fid (no val/modes on images)
    assert images_in(notebook) == 2  # curves, grids


def test_explore_generator_notebook_on_a_conditional_checkpoint(tiny_sweep, monkeypatch):
    ckpt = next(tiny_sweep.glob("outputs/train/multiruns/*/1_cgan_mnist_s0/checkpoints/last.ckpt"))
    notebook = execute("explore_generator.ipynb", tiny_sweep, {"GANFORGE_CKPT": str(ckpt)}, monkeypatch)
    text = outputs_text(notebook)
    assert "6 generator iterations" in text and "conditional: True" in text
    assert images_in(notebook) == 3  # samples, interpolation, class rows


@pytest.mark.parametrize("name", ["compare_runs.ipynb", "explore_generator.ipynb"])
def test_notebooks_are_stored_without_outputs(name):
    notebook = nbformat.read(NOTEBOOKS / name, as_version=4)
    for cell in notebook.cells:
        if cell.cell_type == "code":
            assert cell.outputs == [] and cell.execution_count is None
