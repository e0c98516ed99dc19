"""Class accuracy of a conditional generator: a small classifier trained on the data set's labelled
training images judges whether each sample shows the class it was asked for (the "does cGAN do
what its name says" test). The classifier is trained once per (data set, resolution, settings) and
cached on disk like the real statistics; its accuracy on held-out real images is reported beside,
as the ceiling a generator can reach under this judge.

The arithmetic is torchmetrics' ``MulticlassAccuracy``; the classifier's training loop is a few
lines of plain PyTorch (no library trains a throw-away classifier for a metric). Knows nothing
of Lightning.
"""

from __future__ import annotations

import hashlib
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from omegaconf import DictConfig
from torch import Tensor
from torchmetrics.classification import MulticlassAccuracy

from ganforge.errors import GanforgeError, SettingError
from ganforge.files import torch_save_atomic
from ganforge.metrics.images import pick_subset
from ganforge.nets.classifier import ImageClassifier
from ganforge.reporting import counting

log = logging.getLogger(__name__)

ENABLED = ("auto", True, False)


@dataclass(frozen=True)
class ClassAccuracySettings:
    """``metrics.class_accuracy`` as typed, checked values."""

    enabled: str | bool = "auto"      # auto: conditional models on labelled data
    per_class: int | None = None      # generated images per class; None: num_samples / classes
    epochs: int = 3
    width: int = 32
    max_images: int = 60_000          # training images for the classifier (a fixed subset when more)
    held_out: float = 0.1             # share of the training images held out where the set has no test split
    cache_dir: str = ".cache/classifiers"

    @classmethod
    def from_config(cls, cfg: DictConfig | dict | None) -> ClassAccuracySettings:
        cfg = cfg or {}
        get = cfg.get
        enabled = get("enabled", "auto")
        if enabled not in ENABLED:
            raise SettingError(f"metrics.class_accuracy.enabled must be auto, true or false, got {enabled!r}")
        per_class = get("per_class")
        settings = cls(enabled=enabled, per_class=None if per_class is None else int(per_class),
                       epochs=int(get("epochs", cls.epochs)), width=int(get("width", cls.width)),
                       max_images=int(get("max_images", cls.max_images)),
                       held_out=float(get("held_out", cls.held_out)), cache_dir=str(get("cache_dir", cls.cache_dir)))
        for key, low in (("per_class", 1), ("epochs", 1), ("width", 1), ("max_images", 10)):
            value = getattr(settings, key)
            if value is not None and value < low:
                raise SettingError(f"metrics.class_accuracy.{key} must be at least {low}, got {value}")
        if not 0.0 < settings.held_out < 1.0:
            raise SettingError(f"metrics.class_accuracy.held_out must be between 0 and 1, got {settings.held_out}")
        return settings

    def applies(self, conditional: bool, num_classes: int, labelled: bool, what: str) -> bool:
        """Whether to measure it for this model and data; ``enabled=true`` where it cannot apply is
        a ``SettingError`` naming why (``what`` names the data), before any work."""
        reason = None
        if not conditional:
            reason = "the model is unconditional (model.conditional=false)"
        elif not labelled or num_classes < 2:
            reason = f"{what} has no class labels to judge against"
        if reason is None:
            return self.enabled is not False
        if self.enabled is True:
            raise SettingError(f"metrics.class_accuracy.enabled=true, but {reason}; use enabled=auto or false")
        return False


def to_unit(images: Tensor) -> Tensor:
    """uint8 [0, 255] -> float [-1, 1], the range of generated samples."""
    return images.float().div(127.5).sub(1.0)


def classifier_path(cache_dir: str | Path, dataset_key: str, count: int, num_classes: int,
                    settings: ClassAccuracySettings) -> Path:
    """Cache file of the classifier, keyed by data set, its number of images, classes and settings."""
    key = f"{dataset_key}|n={count}|classes={num_classes}|epochs={settings.epochs}|width={settings.width}|" \
          f"max={settings.max_images}|held_out={settings.held_out}"
    digest = hashlib.sha1(key.encode()).hexdigest()[:12]
    safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in dataset_key)
    return Path(cache_dir) / f"{safe}-classifier-{digest}.pt"


def train_classifier(images: Tensor, labels: Tensor, num_classes: int, settings: ClassAccuracySettings,
                     device: torch.device, autocast: bool, seed: int = 0, batch_size: int = 128) -> ImageClassifier:
    """Adam (lr 1e-3, halved each epoch after the first) on cross-entropy; ``images`` uint8. Draws
    (weights, dropout) come from ``seed`` inside a forked RNG: the training run's RNG is untouched."""
    with torch.random.fork_rng(devices=[device] if device.type == "cuda" else []):
        torch.manual_seed(seed)
        return _train(images, labels, num_classes, settings, device, autocast, seed, min(batch_size, len(images)))


def _train(images: Tensor, labels: Tensor, num_classes: int, settings: ClassAccuracySettings, device: torch.device,
           autocast: bool, seed: int, batch_size: int) -> ImageClassifier:
    generator = torch.Generator().manual_seed(seed)
    net = ImageClassifier(tuple(images.shape[1:]), num_classes, settings.width).to(device)
    optimizer = torch.optim.Adam(net.parameters(), lr=1e-3)
    schedule = torch.optim.lr_scheduler.StepLR(optimizer, step_size=1, gamma=0.5)
    net.train()
    steps = len(images) // batch_size
    with counting(settings.epochs * steps * batch_size, "training the class-accuracy classifier") as advance:
        for _ in range(settings.epochs):
            order = torch.randperm(len(images), generator=generator)
            for step in range(steps):
                rows = order[step * batch_size:(step + 1) * batch_size]
                x, y = to_unit(images[rows]).to(device), labels[rows].to(device)
                with torch.autocast(device.type, dtype=torch.bfloat16, enabled=autocast):
                    loss = F.cross_entropy(net(x).float(), y)
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                optimizer.step()
                advance(len(rows))
            schedule.step()
    return net.eval()


@torch.no_grad()
def accuracy(net: torch.nn.Module, batches: Callable[[], Any], num_classes: int) -> float:
    """Micro-averaged accuracy over ``batches()`` of (images in [-1, 1], labels), in fp32."""
    metric = MulticlassAccuracy(num_classes=num_classes, average="micro", sync_on_compute=False)
    device = next(net.parameters()).device
    with torch.autocast(device.type, enabled=False):
        for x, y in batches():
            metric.update(net(x.to(device).float()).argmax(1).cpu(), y.cpu())
    return float(metric.compute())


class ClassJudge:
    """The classifier of one data set with its accuracy on held-out real images."""

    def __init__(self, net: ImageClassifier, num_classes: int, real_accuracy: float, batch_size: int = 200) -> None:
        self.net, self.num_classes, self.batch_size = net.eval(), num_classes, batch_size
        self.real_accuracy = real_accuracy

    def score(self, generate: Callable[[Tensor], Tensor], per_class: int) -> dict[str, float]:
        """``class_accuracy`` of ``per_class`` samples of every class (``generate(labels)`` -> images
        in [-1, 1]) and ``class_accuracy_real``, the same classifier on held-out real images."""
        labels = torch.arange(self.num_classes).repeat_interleave(per_class)

        def batches():
            for start in range(0, len(labels), self.batch_size):
                wanted = labels[start:start + self.batch_size]
                yield generate(wanted), wanted

        return {"class_accuracy": accuracy(self.net, batches, self.num_classes),
                "class_accuracy_real": self.real_accuracy}


def judge_for(datamodule: Any, settings: ClassAccuracySettings, device: torch.device, autocast: bool) -> ClassJudge:
    """The cached classifier of ``datamodule`` (an ``ImagesWithLabels``), or one trained now on its
    training images and tested on its test split (held-out training images where it has none)."""
    num_classes = int(datamodule.num_classes)
    train_images, train_labels = datamodule.labelled_images("train")
    path = classifier_path(settings.cache_dir, datamodule.reference_key("train"), len(train_images), num_classes,
                           settings)
    shape = tuple(train_images.shape[1:])
    if path.is_file():
        try:
            saved = torch.load(path, weights_only=True, map_location="cpu")
            net = ImageClassifier(shape, num_classes, settings.width)
            net.load_state_dict(saved["state_dict"])
            log.info("class-accuracy classifier from the cache %s (held-out accuracy %.4f)", path,
                     saved["real_accuracy"])
            return ClassJudge(net.to(device), num_classes, float(saved["real_accuracy"]))
        except Exception as err:  # noqa: BLE001 - an unreadable cache is retrained, never trusted
            log.warning("ignoring unreadable classifier cache %s (%s); training it again", path, err)
    if "test" in datamodule.reference_splits:
        test_images, test_labels = datamodule.labelled_images("test")
        train_rows = pick_subset(settings.max_images, len(train_images))
    else:  # a fixed share of the training images is held out
        order = torch.randperm(len(train_images), generator=torch.Generator().manual_seed(0))
        cut = max(1, round(settings.held_out * len(order)))
        if len(order) - cut < 10:
            raise GanforgeError(f"the class-accuracy classifier needs at least 10 labelled training images after "
                                f"holding out {cut}; the data has {len(order)}")
        held, rest = order[:cut].sort().values, order[cut:]
        test_images, test_labels = train_images[held], train_labels[held]
        train_rows = rest[pick_subset(settings.max_images, len(rest))]
    started = time.perf_counter()
    net = train_classifier(train_images[train_rows], train_labels[train_rows], num_classes, settings, device, autocast)

    def held_out():
        for start in range(0, len(test_labels), 500):
            yield to_unit(test_images[start:start + 500]), test_labels[start:start + 500]

    real_accuracy = accuracy(net, held_out, num_classes)
    torch_save_atomic({"state_dict": net.state_dict(), "real_accuracy": real_accuracy,
                       "meta": {"dataset": datamodule.reference_key("train"), "trained_on": len(train_rows),
                                "tested_on": len(test_labels)}}, path)
    log.info("class-accuracy classifier: trained on %d images in %.0f s, held-out accuracy %.4f on %d images; "
             "cached at %s", len(train_rows), time.perf_counter() - started, real_accuracy, len(test_labels), path)
    return ClassJudge(net, num_classes, real_accuracy)
