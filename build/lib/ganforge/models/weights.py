"""Starting a new run from trained weights (``init_from``) and freezing the discriminator's lower
layers (FreezeD, Mo et al. 2020): unlike ``ckpt_path``, nothing but the nets' weights is taken, so
data, learning rates and length may all change."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

from ganforge.errors import GanforgeError
from ganforge.files import open_checkpoint

log = logging.getLogger(__name__)

WEIGHT_LAYERS = (nn.Conv1d, nn.Conv2d, nn.Conv3d, nn.ConvTranspose1d, nn.ConvTranspose2d, nn.Linear)
NORM_LAYERS = (nn.modules.batchnorm._BatchNorm, nn.LayerNorm, nn.GroupNorm, nn.modules.instancenorm._InstanceNorm)
PARTS = ("generator", "discriminator", "ema")


def weight_layers(net: nn.Module) -> list[nn.Module]:
    return [m for m in net.modules() if isinstance(m, WEIGHT_LAYERS)]


def freeze_first_layers(net: nn.Module, n: int, where: str = "model.freeze_d_layers") -> None:
    """Stop training the first ``n`` convolution/linear layers of ``net`` in the order it registers
    them (the input side for ganforge's discriminators), with the normalization layers among them."""
    layers = weight_layers(net)
    if n >= len(layers):
        raise GanforgeError(f"{where}={n} but the discriminator has {len(layers)} convolution/linear layers; "
                            f"freeze at most {len(layers) - 1}, so something still trains")
    seen = 0
    for module in net.modules():
        if isinstance(module, WEIGHT_LAYERS):
            seen += 1
            if seen > n:
                return
            module.requires_grad_(False)
        elif isinstance(module, NORM_LAYERS) and seen >= 1:
            module.requires_grad_(False)


def source_weights(source: str) -> tuple[dict[str, Tensor], str]:
    """The named tensors of a checkpoint (``generator.*``, ``discriminator.*``, ``ema.*``) or of an
    exported generator (its net as ``generator.*``), and what the source holds, for the log."""
    path = Path(source).expanduser()
    if path.is_file():
        state = open_checkpoint(path, key="init_from")["state_dict"]
        held = [part for part in PARTS if any(k.startswith(part + ".") for k in state)]
        return dict(state), ", ".join(held)
    from ganforge.hub import load_generator

    try:
        exported = load_generator(source)
    except GanforgeError as err:
        raise GanforgeError(f"init_from={source}: {err}") from None
    return {f"generator.{k}": v for k, v in exported.net.state_dict().items()}, "an exported generator"


def init_weights(model: nn.Module, source: str) -> list[str]:
    """Copy into ``model`` the parts the source holds; a missing or extra tensor, or a shape that
    differs, is one line naming the layer (and both shapes). An EMA generator the source lacks
    starts from the loaded generator. Returns the parts loaded."""
    weights, held = source_weights(source)
    loaded = []
    for part in PARTS:
        net = getattr(model, part, None)
        prefix = part + "."
        theirs = {k[len(prefix):]: v for k, v in weights.items() if k.startswith(prefix)}
        if not isinstance(net, nn.Module) or not theirs:
            continue
        ours = net.state_dict()
        missing, extra = sorted(set(ours) - set(theirs)), sorted(set(theirs) - set(ours))
        if missing or extra:
            first = (f"{prefix}{missing[0]} is not in the source" if missing
                     else f"{prefix}{extra[0]} is in the source but not in this model")
            raise GanforgeError(f"init_from={source}: the {part} nets differ ({first}; {len(missing)} missing, "
                                f"{len(extra)} extra tensors): build the net the source was trained with")
        for key, value in theirs.items():
            if value.shape != ours[key].shape:
                raise GanforgeError(f"init_from={source}: {prefix}{key} has shape {tuple(value.shape)} there and "
                                    f"{tuple(ours[key].shape)} in this model")
        net.load_state_dict(theirs)
        loaded.append(part)
    if not loaded:
        raise GanforgeError(f"init_from={source} holds no weights of this model's nets ({held or 'nothing'})")
    ema = getattr(model, "ema", None)
    if isinstance(ema, nn.Module) and "ema" not in loaded and "generator" in loaded:
        with torch.no_grad():
            ema.module.load_state_dict(model.generator.state_dict())
    log.info("init_from %s: %s loaded (%s in the source); optimizers, counters and data start afresh", source,
             ", ".join(loaded), held)
    return loaded


def trainable(parameters: Any) -> list[nn.Parameter]:
    """The parameters an optimizer should step: frozen layers (FreezeD) are left out."""
    return [p for p in parameters if p.requires_grad]
