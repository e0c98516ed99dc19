"""Pieces shared by the nets: shape checks, label conditioning, DCGAN-style init."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch
from torch import Tensor, nn

from ganforge.errors import SettingError


def check_square_image(sample_shape: Sequence[int], supported: Sequence[int], net: str) -> tuple[int, int]:
    """(channels, size) of a square image shape, or a ``SettingError`` naming the supported sizes."""
    sizes = ", ".join(str(s) for s in supported)
    if len(sample_shape) != 3:
        raise SettingError(
            f"{net} needs images (channels, height, width) but the data gives samples of shape "
            f"{tuple(sample_shape)}; use an MLP model (model=gan) for 2-D points"
        )
    channels, height, width = (int(v) for v in sample_shape)
    if height != width or height not in supported:
        raise SettingError(
            f"{net} supports square images of {sizes} px, got {height}x{width}; "
            f"set data.resolution to one of {sizes}"
        )
    return channels, height


CRITIC_NORMS = ("batch", "layer", "none")


def check_critic_norm(norm: str, net: str) -> None:
    """A ``SettingError`` listing the choices unless a critic can use ``norm``."""
    if norm not in CRITIC_NORMS:
        raise SettingError(f"{net} norm must be one of {', '.join(CRITIC_NORMS)}, got {norm!r}")


def critic_norm(norm: str, features: int, spatial: bool) -> nn.Module:
    """The normalisation after a critic layer of ``features`` channels (``spatial``: a conv map).

    ``"layer"`` normalises each sample over all its features (channels and positions, as
    TensorFlow's ``layer_norm`` does) with a per-channel scale and shift: unlike BatchNorm it keeps
    samples independent, so per-sample gradient penalties stay valid (Gulrajani et al. 2017, who
    suggest it for WGAN-GP critics).
    """
    if norm == "batch":
        return nn.BatchNorm2d(features) if spatial else nn.BatchNorm1d(features)
    if norm == "layer":
        return nn.GroupNorm(1, features) if spatial else nn.LayerNorm(features)
    return nn.Identity()


class LabelProjection(nn.Module):
    """Projection-discriminator term <embed(y), h> (Miyato & Koyama 2018); zero when unconditional."""

    def __init__(self, num_classes: int, features: int) -> None:
        super().__init__()
        self.embed = nn.Embedding(num_classes, features) if num_classes > 0 else None
        if self.embed is not None:
            nn.init.normal_(self.embed.weight, 0.0, 0.02)

    def forward(self, h: Tensor, y: Tensor | None) -> Tensor:
        if self.embed is None:
            return h.new_zeros(h.shape[0])
        if y is None:
            raise SettingError("this discriminator is conditional: pass class labels y")
        return (self.embed(y) * h).sum(dim=1)


class LabelConcat(nn.Module):
    """Appends a learned class embedding to the latent code; identity when unconditional."""

    def __init__(self, num_classes: int, dim: int) -> None:
        super().__init__()
        self.embed = nn.Embedding(num_classes, dim) if num_classes > 0 else None
        self.extra_dim = dim if num_classes > 0 else 0

    def forward(self, z: Tensor, y: Tensor | None) -> Tensor:
        if self.embed is None:
            return z
        if y is None:
            raise SettingError("this generator is conditional: pass class labels y")
        return torch.cat([z, self.embed(y)], dim=1)


def _normal_weights(module: nn.Module, std: float) -> bool:
    """N(0, std) weights and zero biases on a conv or linear layer; False for any other module."""
    if not isinstance(module, (nn.Conv2d, nn.ConvTranspose2d, nn.Linear)):
        return False
    nn.init.normal_(module.weight, 0.0, std)
    if module.bias is not None:
        nn.init.zeros_(module.bias)
    return True


def dcgan_init(module: nn.Module) -> None:
    """Weights from N(0, 0.02), BatchNorm scales from N(1, 0.02), as in Radford et al. 2015."""
    if _normal_weights(module, 0.02):
        return
    if isinstance(module, nn.BatchNorm2d):
        nn.init.normal_(module.weight, 1.0, 0.02)
        nn.init.zeros_(module.bias)


def gaussian_init(std: float) -> Callable[[nn.Module], None]:
    """Weights from N(0, std) and zero biases on every conv and linear layer, BatchNorm left at
    (1, 0): the initialisation of the PacGAN/VEEGAN 2-D code (Blocks' IsotropicGaussian)."""
    if isinstance(std, bool) or not isinstance(std, (int, float)) or not std > 0:
        raise SettingError(f"init_std must be a positive number, got {std}")

    def init(module: nn.Module) -> None:
        _normal_weights(module, std)
    return init


def apply_spectral_norm(module: nn.Module) -> nn.Module:
    """Spectral normalisation (Miyato et al. 2018) on every conv, linear and embedding weight."""
    for child in list(module.modules()):
        if isinstance(child, (nn.Conv2d, nn.ConvTranspose2d, nn.Linear, nn.Embedding)):
            nn.utils.parametrizations.spectral_norm(child)
    return module
