"""Trained generators in the Hugging Face Hub layout: ``model.safetensors`` (the sampling
generator: the EMA one where there is one), ``config.json`` (what rebuilds the net) and a model
card, written and read by ``huggingface_hub``'s ``PyTorchModelHubMixin``, so a folder and a Hub
repository load the same way (``ganforge.load_generator``)."""

from __future__ import annotations

import contextlib
import io
import re
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from huggingface_hub import PyTorchModelHubMixin
from hydra.utils import instantiate
from torch import Tensor, nn

from ganforge.errors import GanforgeError, config_errors
from ganforge.models.tasks import latents

# The card is rendered by huggingface_hub (Jinja); the values come from ganforge.export.
CARD_TEMPLATE = """---
{{ card_data }}
---

# {{ title }}

{{ summary }}

![samples](samples.png)

## Quality

{{ quality }}

## Use

```python
import torch
import ganforge

generator = ganforge.load_generator("{{ source }}")
images = generator.sample(16, torch.Generator().manual_seed(0))  # (16, C, H, W) in [-1, 1]
```

or `python sample.py ckpt_path={{ source }}` for grids and PNG files.

## Training

```bash
{{ command }}
```
"""

REPO_ID = re.compile(r"^[A-Za-z0-9][\w.-]*/[\w.-]+$")


class ExportedGenerator(nn.Module, PyTorchModelHubMixin, library_name="ganforge",
                        tags=["gan", "unconditional-image-generation"], model_card_template=CARD_TEMPLATE):
    """A generator net without its training module: what ``sample.py``, ``init_from`` and other
    programs need (``sample``, ``generate``, ``sample_shape``, ``z_dim``, the class count). The
    constructor's arguments are the ``config.json`` of the export (the mixin records them)."""

    def __init__(self, generator: dict, z_dim: int, sample_shape: list[int], num_classes: int = 0,
                 conditional: bool = False, net_args: dict | None = None) -> None:
        super().__init__()
        self.z_dim, self.sample_shape = int(z_dim), tuple(int(s) for s in sample_shape)
        self.conditional, self.num_classes = bool(conditional), int(num_classes)
        self.net_args = dict(net_args or {})
        self.grid_columns = 8
        with config_errors("the exported generator's config.json"):
            self.net = instantiate(generator, z_dim=self.z_dim, sample_shape=self.sample_shape,
                                   num_classes=self.num_classes if self.conditional else 0)

    @property
    def device(self) -> torch.device:
        return next(self.parameters()).device

    @torch.no_grad()
    def generate(self, z: Tensor | None = None, labels: Tensor | None = None, n: int | None = None) -> Tensor:
        """Samples in eval mode, float32, at the full resolution (as ``GAN.generate``)."""
        if z is None:
            z = torch.randn(n or 64, self.z_dim, device=self.device)
        if self.conditional and labels is None:
            labels = torch.randint(self.num_classes, (len(z),), device=z.device)
        was_training = self.net.training
        self.net.eval()
        try:
            y = labels.to(self.device) if self.conditional else None
            images = self.net(z.to(self.device), y, **self.net_args).float()
        finally:
            self.net.train(was_training)
        if images.ndim == 4 and images.shape[-1] != self.sample_shape[-1]:  # a ProGAN exported mid-growth
            images = F.interpolate(images, size=self.sample_shape[-1], mode="nearest")
        return images

    def sample(self, n: int, rng: torch.Generator) -> Tensor:
        """The same draws as ``GAN.sample``: latents, then labels, from ``rng`` on the CPU."""
        return self.generate(*latents(n, self.z_dim, self.num_classes if self.conditional else 0, rng))


def from_module(module: Any) -> ExportedGenerator:
    """The sampling generator of a trained ``GAN`` (EMA where there is one), as an export."""
    hparams = module.hparams
    net_args = module.task.net_args() if hasattr(module.task, "net_args") else {}
    exported = ExportedGenerator(generator=dict(hparams["generator"]), z_dim=int(hparams["z_dim"]),
                                 sample_shape=[int(s) for s in module.sample_shape], num_classes=module.num_classes,
                                 conditional=module.conditional,
                                 net_args={k: (float(v) if isinstance(v, float) else int(v)) for k, v in
                                           net_args.items()})
    exported.net.load_state_dict(module.sampling_generator.state_dict())
    return exported.eval()


def is_export(path: Path) -> bool:
    return path.is_dir() and (path / "config.json").is_file()


def load_generator(source: str | Path, device: torch.device | str = "cpu") -> ExportedGenerator:
    """A generator from an exported folder, a Hub repository id (``user/repo``, downloaded and
    cached by ``huggingface_hub``) or a training checkpoint (``.ckpt``), in eval mode."""
    path = Path(source).expanduser()
    if path.is_file():
        from ganforge.models.loading import load_module, require_noise_model

        module = load_module(path)
        require_noise_model(module, "load_generator")
        return from_module(module).to(device)
    if path.is_dir() and not is_export(path):
        raise GanforgeError(f"{source} is a folder without config.json: not an exported generator (write one with "
                            "python export.py ckpt_path=<run>/checkpoints/best_fid.ckpt out=<dir>)")
    if not path.exists() and not REPO_ID.match(str(source)):
        raise GanforgeError(f"{source} is not a checkpoint file, an exported folder or a Hub repository id "
                            "(user/repo)")
    try:
        with contextlib.redirect_stdout(io.StringIO()):  # the mixin prints where it loads from
            generator = ExportedGenerator.from_pretrained(str(source), strict=True)
    except GanforgeError:
        raise
    except Exception as err:  # offline, unknown repository, a broken file: one line, not a traceback
        raise GanforgeError(f"could not load the generator {source}: {hub_error(err)}") from None
    return generator.to(device).eval()


def hub_error(err: BaseException) -> str:
    """huggingface_hub's errors carry several lines (request ids, URLs); the first says what happened."""
    first = str(err).strip().splitlines()[0] if str(err).strip() else ""
    return f"{type(err).__name__}: {first}" if first else type(err).__name__
