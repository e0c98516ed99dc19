"""Image metrics during training: every ``every_kimg`` thousand real images and at the end,
``num_samples`` generated images (EMA generator when there is one) are scored against cached
real statistics; ``val/fid``, ``val/kid``, ``val/precision``, ``val/recall`` (and ``val/is``
where the extractor has logits) go to every logger, and the best-FID weights to
``best_fid.ckpt``. Conditional models on labelled data also get ``val/class_accuracy``: a cached
classifier's accuracy on samples of each class against the requested labels. Idle on 2-D data.

Under DDP every rank generates and extracts its share; the features are gathered, so every rank
computes the same numbers and the checkpoint call (a collective) is reached by all ranks.
"""

from __future__ import annotations

import logging
import math
import shutil
import time
from pathlib import Path
from typing import Any

import lightning as L
import torch
from omegaconf import DictConfig, OmegaConf

from ganforge.callbacks.interrupt import interrupted
from ganforge.callbacks.publish import publish
from ganforge.errors import SettingError
from ganforge.metrics.classes import ClassJudge
from ganforge.metrics.images import ImageMetrics
from ganforge.metrics.scoring import Scorer
from ganforge.reporting import counting
from ganforge.schedules import Cadence
from ganforge.surfaces import ImageReference, NoiseToSamples, require

log = logging.getLogger(__name__)


class Evaluation(L.Callback):
    def __init__(self, metrics: DictConfig | dict, dirpath: str, every_kimg: float | None = 500.0,
                 save_best: bool = True) -> None:
        self.cfg = OmegaConf.create(metrics) if isinstance(metrics, dict) else metrics
        self.scorer: Scorer | None = None
        self.cadence = Cadence(every_kimg, "callbacks.evaluation.every_kimg")  # by kimg, restored on resume
        self.dirpath, self.save_best = Path(dirpath), save_best
        self.extractor: torch.nn.Module | None = None
        self.metrics: ImageMetrics | None = None
        self.judge: ClassJudge | None = None
        self.enabled = self.judging = False
        self.best_fid = math.inf
        self.best_at = (math.nan, -1)  # (kimg, generator iterations) of best_fid
        self.latest: dict[str, float] = {}

    # ---- before training: everything that can fail -----------------------------------------
    def before_fit(self, datamodule: Any, model: Any) -> None:
        """Called by ``train.run`` before the trainer starts: checks the data and model kinds and
        the split, and loads the extractor (weights), so a missing requirement stops the run
        before any training."""
        fix = "2-D runs take callbacks=points, or turn image metrics off with callbacks.evaluation=null"
        require(datamodule, ImageReference, "image data with reference images", fix)
        if len(datamodule.sample_shape) != 3:
            raise SettingError(f"needs images, and {type(datamodule).__name__} yields samples of shape "
                             f"{tuple(datamodule.sample_shape)}; {fix}")
        require(model, NoiseToSamples, "a model that generates images from noise", fix)
        self.scorer = Scorer(self.cfg)  # a bad count or batch size stops the run here, not at the first evaluation
        self.split = self.scorer.split(datamodule)
        self.extractor = self.scorer.extractor
        self.judging = self.scorer.judges(datamodule, bool(model.conditional))
        self.enabled = self.scorer.enabled or self.judging  # class accuracy needs no Inception weights

    def setup(self, trainer: L.Trainer, pl_module: L.LightningModule, stage: str) -> None:
        if self.scorer is not None and self.scorer.enabled:
            self.extractor.to(trainer.strategy.root_device)

    def reference(self, trainer: L.Trainer) -> ImageMetrics:
        """The real statistics, computed (or read from the cache) when the first evaluation is
        due rather than at start, so training and the first sample grid begin at once. Rank 0
        computes and caches; the other ranks read the cache after the barrier."""
        if self.metrics is None:
            device, dm = trainer.strategy.root_device, trainer.datamodule

            def compute() -> ImageMetrics:
                return self.scorer.reference(dm, self.split, device)[0]

            self.metrics = self.rank_zero_first(trainer, compute, "real statistics")
        return self.metrics

    def class_judge(self, trainer: L.Trainer) -> ClassJudge:
        """The classifier of the data, trained (or read from its cache) at the first evaluation."""
        if self.judge is None:
            device, dm = trainer.strategy.root_device, trainer.datamodule
            self.judge = self.rank_zero_first(trainer, lambda: self.scorer.judge(dm, device), "class classifier")
        return self.judge

    @staticmethod
    def rank_zero_first(trainer: L.Trainer, compute: Any, what: str) -> Any:
        """Rank 0 computes and caches; the other ranks read the cache after the barrier."""
        result = compute() if trainer.is_global_zero else None
        trainer.strategy.barrier(what)
        return result if trainer.is_global_zero else compute()

    def on_fit_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        """A run resumed into a new directory remembers the best FID so far (restored state), so
        it brings the checkpoint of that FID along; otherwise ``best_fid.ckpt`` would appear
        only once a later evaluation beat a score whose weights sit in another run."""
        if not trainer.is_global_zero or not trainer.ckpt_path or not math.isfinite(self.best_fid):
            return
        target = self.dirpath / "best_fid.ckpt"
        if target.exists():
            return
        resumed_from = Path(trainer.ckpt_path).parent
        for source in (resumed_from / "best_fid.ckpt", resumed_from / "checkpoints" / "best_fid.ckpt"):
            if source.is_file():
                self.dirpath.mkdir(parents=True, exist_ok=True)
                shutil.copy2(source, target)
                log.info("copied the best checkpoint so far (FID %.4g) from %s", self.best_fid, source)
                return
        log.warning("no best_fid.ckpt beside %s: best_fid.ckpt is written when an evaluation beats the "
                    "best FID so far, %.4g", trainer.ckpt_path, self.best_fid)

    # ---- during training ---------------------------------------------------------------------
    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        if self.enabled and self.cadence.due(pl_module.kimg) and self.ready(pl_module):
            self.evaluate(trainer, pl_module)

    def on_train_end(self, trainer, pl_module) -> None:
        due = self.enabled and self.cadence.due_at_end(pl_module.kimg) and self.ready(pl_module)
        if due and not interrupted(trainer):  # minutes of work a user who pressed Ctrl-C is not waiting for
            self.evaluate(trainer, pl_module)

    @staticmethod
    def ready(pl_module: L.LightningModule) -> bool:
        """Modules whose samples are not yet final (ProGAN below its last resolution) say so."""
        return pl_module.evaluation_ready

    def evaluate(self, trainer: L.Trainer, pl_module: L.LightningModule) -> dict[str, float]:
        self.cadence.done(pl_module.kimg)
        # Computed (or read from their caches) before the clock starts: they are once-per-machine
        # costs, logged with their own times, and the logged time is the evaluation's alone.
        reference = self.reference(trainer) if self.scorer.enabled else None
        judge = self.class_judge(trainer) if self.judging else None
        started = time.perf_counter()
        device = pl_module.device
        total = self.scorer.num_samples(device)
        world, rank = trainer.world_size, trainer.global_rank
        scores: dict[str, float] = {}
        if reference is not None:
            local = math.ceil(total / world)
            # Own RNG (not the global one), so evaluating never changes the training trajectory.
            rng = torch.Generator().manual_seed(1_000_003 * pl_module.g_iters + rank)
            what = f"evaluating {total} samples at {pl_module.kimg:.1f} kimg"
            with counting(local, what, enabled=trainer.is_global_zero) as advance:
                scores = self.scorer.score(lambda n: pl_module.sample(n, rng), local, reference, device, advance,
                                           gather=lambda values: self._gather(pl_module, values)[:total],
                                           precision=str(trainer.precision))
        if judge is not None:  # every rank judges the same samples (one seed): the same number, no collective
            rng = torch.Generator().manual_seed(1_000_003 * pl_module.g_iters + 7)
            scores.update(self.scorer.class_scores(judge, lambda labels: pl_module.sample_classes(labels, rng),
                                                   device, str(trainer.precision)))
        self.latest = {f"val/{k}": v for k, v in scores.items() if not k.endswith("_std")}
        fid = scores.get("fid", math.nan)
        improved = math.isfinite(fid) and fid < self.best_fid
        if improved:
            self.best_fid, self.best_at = fid, (pl_module.kimg, pl_module.g_iters)
        publish(trainer, pl_module, {**self.latest, **self.best()})
        if trainer.is_global_zero:
            shown = ", ".join(f"{k.removeprefix('val/')} {v:.4g}" for k, v in self.latest.items())
            caveat = getattr(self.extractor, "caveat", None)
            shown += f" [{caveat}]" if caveat else ""
            log.info("%.1f kimg (%d generator iterations): %s (%.1f s)", pl_module.kimg, pl_module.g_iters, shown,
                     time.perf_counter() - started)
        if improved and self.save_best:
            trainer.save_checkpoint(self.dirpath / "best_fid.ckpt", weights_only=False)  # every rank: a collective
        return self.latest

    def best(self) -> dict[str, float]:
        """The best FID so far and where it was reached (for the run summary and sweep tables)."""
        if not math.isfinite(self.best_fid):
            return {}
        return {"best/fid": self.best_fid, "best/fid_kimg": float(self.best_at[0]),
                "best/fid_g_iters": float(self.best_at[1])}

    @staticmethod
    def _gather(pl_module: L.LightningModule, values: torch.Tensor) -> torch.Tensor:
        if pl_module.trainer.world_size == 1:
            return values
        gathered = pl_module.all_gather(values.to(pl_module.device))  # (world, n, d)
        return gathered.reshape(-1, values.shape[-1]).cpu()

    # ---- resume ------------------------------------------------------------------------------
    def state_dict(self) -> dict[str, Any]:
        last = self.cadence.last
        return {"best_fid": self.best_fid, "best_at": list(self.best_at), "next_kimg": self.cadence.next,
                "last_images_seen": -1 if last is None else round(last * 1000)}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        self.best_fid = float(state_dict.get("best_fid", math.inf))
        kimg, g_iters = state_dict.get("best_at", (math.nan, -1))  # checkpoints before it was saved: unknown
        self.best_at = (float(kimg), int(g_iters))
        self.cadence.next = state_dict.get("next_kimg", self.cadence.next)
        seen = int(state_dict.get("last_images_seen", -1))
        self.cadence.last = None if seen < 0 else seen / 1000.0
