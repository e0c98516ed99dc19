"""Writing images and plots, and sending them to the loggers that show media (W&B, TensorBoard).
Used by the sample/SR callbacks and by ``sample.py``; imports no callback."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import lightning as L
from lightning.pytorch.loggers import TensorBoardLogger, WandbLogger
from torch import Tensor
from torchvision.utils import make_grid, save_image


def image_grid(images: Tensor, nrow: int) -> Tensor:
    """The one way a grid of images in [-1, 1] is assembled: ``nrow`` per row, 2 px apart, in [0, 1]."""
    return make_grid(images.detach().float().cpu(), nrow=nrow, normalize=True, value_range=(-1, 1), padding=2)


def save_grid(images: Tensor, path: Path, nrow: int) -> Path:
    """``image_grid`` written as a PNG."""
    save_image(image_grid(images, nrow), path)
    return path


def scatter_png(real: Tensor, fake: Tensor, path: Path, title: str) -> None:
    """Real points in grey, generated ones in red, equal axes."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(5, 5), dpi=100)
    ax.scatter(real[:, 0], real[:, 1], s=3, c="0.6", label="real")
    ax.scatter(fake[:, 0], fake[:, 1], s=3, c="tab:red", alpha=0.6, label="generated")
    ax.set_aspect("equal")
    ax.set_title(title)
    ax.legend(loc="upper right", markerscale=4)
    fig.savefig(path)
    plt.close(fig)


def progress_caption(pl_module: Any) -> str:
    kimg = pl_module.kimg
    return f"{pl_module.g_iters} generator iterations, {kimg:.1f} kimg" if kimg >= 1 else \
        f"{pl_module.g_iters} generator iterations, {kimg:.3f} kimg"


def log_image_file(trainer: L.Trainer, key: str, path: Path, pl_module: Any) -> None:
    """Send a PNG to each logger that shows images, captioned with the generator iteration and
    kimg. W&B places it on the run's step metric (logged in the same row); TensorBoard's step is
    images seen, as for its scalars. CSV keeps only the file."""
    for logger in trainer.loggers:
        if isinstance(logger, WandbLogger):
            import wandb

            # The counters in the same row: synced from the last logged value, the run's first
            # image (and a resumed run's) would sit at kimg 0.
            logger.log_metrics({key: [wandb.Image(str(path), caption=progress_caption(pl_module))],
                                "progress/kimg": float(pl_module.kimg), "progress/g_iters": float(pl_module.g_iters)})
        elif isinstance(logger, TensorBoardLogger):
            from torchvision.io import read_image

            logger.experiment.add_image(key, read_image(str(path)), global_step=round(pl_module.kimg * 1000))


def class_grids(samples: Tensor, labels: Tensor, num_classes: int) -> list[Tensor]:
    """One image grid per class from labelled samples in [-1, 1] (one row of up to 8)."""
    return [image_grid(samples[labels == c][:8], nrow=8) for c in range(num_classes)]


def log_final_tables(trainer: L.Trainer, pl_module: Any, samples: Tensor, labels: Tensor | None,
                     class_names: Sequence[str] | None, real_points: Tensor | None) -> None:
    """At the end of training, for W&B: a table with one row per class (index, name, grid) for
    conditional models, or the final generated (and real) points with a scatter chart for 2-D data."""
    loggers = [lg for lg in trainer.loggers if isinstance(lg, WandbLogger)]
    if not loggers:
        return
    import wandb

    caption = progress_caption(pl_module)
    for logger in loggers:
        if samples.ndim == 4 and labels is not None:
            grids = class_grids(samples, labels, pl_module.num_classes)
            names = list(class_names or []) or [str(c) for c in range(len(grids))]
            rows = [[c, names[c] if c < len(names) else str(c), wandb.Image(grid, caption=caption)]
                    for c, grid in enumerate(grids)]
            logger.experiment.log({"samples/by_class": wandb.Table(columns=["class", "name", "samples"], data=rows)})
        elif samples.ndim == 2:
            rows = [[float(x), float(y), "generated"] for x, y in samples.tolist()]
            if real_points is not None:
                rows += [[float(x), float(y), "real"] for x, y in real_points.tolist()]
            table = wandb.Table(columns=["x", "y", "source"], data=rows)  # kept as samples/final_scatter_table
            logger.experiment.log({"samples/final_scatter": wandb.plot.scatter(table, "x", "y", title=caption)})
