"""The surfaces that callbacks and the scripts rely on, declared once as Protocols.

A callback or script asks ``isinstance(obj, Surface)`` instead of probing single attributes, so
what a model or data module must offer to get sample grids, image metrics, mode metrics or
super-resolution panels is written down here and checked in one place (tests/test_surfaces.py
checks that every model and data module offers what it claims). Imports only typing, torch and
ganforge's errors.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol, runtime_checkable

import torch
from torch import Tensor

from ganforge.errors import SettingError


@runtime_checkable
class Counted(Protocol):
    """Every ganforge model: the loop's own counters."""

    g_iters: int
    images_seen: int

    @property
    def kimg(self) -> float: ...


@runtime_checkable
class NoiseToSamples(Counted, Protocol):
    """A model that generates samples from noise (and a class label when ``conditional``): sample
    grids, image and mode metrics, ``evaluate.py`` and ``sample.py`` use it."""

    sample_shape: tuple[int, ...]
    num_classes: int
    conditional: bool
    grid_columns: int
    fixed_labels: Tensor

    @property
    def evaluation_ready(self) -> bool: ...  # False while samples are not final (ProGAN below full size)

    @property
    def growth_stage(self) -> str | None: ...  # the stage the next step trains; None unless the nets grow

    def generate(self, z: Tensor | None = None, labels: Tensor | None = None, n: int | None = None) -> Tensor: ...

    def sample(self, n: int, rng: torch.Generator) -> Tensor: ...

    def sample_classes(self, labels: Tensor, rng: torch.Generator) -> Tensor: ...

    def generate_fixed(self) -> Tensor: ...


@runtime_checkable
class SuperResolver(Counted, Protocol):
    """A model that maps low-resolution images to high-resolution ones: SR panels and
    ``upscale.py`` use it."""

    scale: int

    def super_resolve(self, lr: Tensor) -> Tensor: ...

    def bicubic(self, lr: Tensor) -> Tensor: ...


@runtime_checkable
class ImageReference(Protocol):
    """Image data whose real images the image metrics compare against."""

    sample_shape: tuple[int, ...]
    reference_splits: tuple[str, ...]

    def reference_images(self, split: str) -> Tensor: ...

    def check_reference_split(self, split: str) -> None: ...

    def reference_key(self, split: str) -> str: ...


@runtime_checkable
class ImagesWithLabels(ImageReference, Protocol):
    """Image data with class labels: the class accuracy of conditional models is judged on it."""

    num_classes: int

    def labelled_images(self, split: str) -> tuple[Tensor, Tensor]: ...


@runtime_checkable
class GaussianMixture(Protocol):
    """2-D data drawn from a known mixture: the mode metrics need its centres and spread."""

    mixture_means: Tensor
    mixture_std: float


@runtime_checkable
class PairedImages(Protocol):
    """(low-res, high-res) pair data for super-resolution, with held-out validation pairs."""

    scale: int
    val_pairs: Sequence[tuple[Tensor, Tensor]]
    val_names: Sequence[str]


@runtime_checkable
class LabelledData(Protocol):
    """Data whose class labels have names (the W&B table of samples by class shows them)."""

    class_names: Sequence[str]


@runtime_checkable
class ChecksBeforeFit(Protocol):
    """The one pre-flight check, for the model and for each callback that has one, called by
    ``train.run`` before training starts: whether the run's data and model offer the surfaces it
    needs (a run's task chooses its callbacks group, so a mismatch is a config error, said at
    once), the settings torch would refuse later, and the weights it loads."""

    def before_fit(self, datamodule: Any, model: Any) -> None: ...


def require(obj: object, surface: type, needs: str, fix: str) -> None:
    """Refuse ``obj`` unless it offers ``surface``: ``GanforgeError`` saying what is needed and how
    to fix it (``train.run`` prefixes the callback's config key)."""
    if not isinstance(obj, surface):
        raise SettingError(f"needs {needs}, and {type(obj).__name__} is not one; {fix}")


def class_offers(cls: type, surface: type) -> bool:
    """Whether a class (not yet an instance) has the methods ``surface`` declares: lets a run refuse
    a model/data mismatch before building the model. Data members are set by constructors, so
    only methods can be checked on the class."""
    methods = [name for name, value in vars(surface).items() if callable(value) and not name.startswith("_")]
    return all(callable(getattr(cls, name, None)) for name in methods)
