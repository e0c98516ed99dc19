"""A small convolutional classifier of images in [-1, 1]: the judge behind the class-accuracy
metric of conditional GANs (does a sample show the class it was asked for?)."""

from __future__ import annotations

from collections.abc import Sequence

from torch import Tensor, nn

from ganforge.errors import SettingError


def conv_block(inputs: int, outputs: int) -> nn.Sequential:
    """Two 3x3 convolutions with BatchNorm and ReLU, then a 2x2 max-pool."""
    layers: list[nn.Module] = []
    for channels_in in (inputs, outputs):
        layers += [nn.Conv2d(channels_in, outputs, 3, padding=1, bias=False), nn.BatchNorm2d(outputs), nn.ReLU(True)]
    return nn.Sequential(*layers, nn.MaxPool2d(2))


class ImageClassifier(nn.Module):
    """Two conv blocks (``width``, then ``2 * width`` channels), pooled to 4 x 4 whatever the
    resolution, a hidden FC layer with dropout, one logit per class."""

    def __init__(self, sample_shape: Sequence[int], num_classes: int, width: int = 32) -> None:
        super().__init__()
        if len(sample_shape) != 3 or int(sample_shape[1]) < 8:
            raise SettingError(f"the classifier needs images of at least 8 x 8 px, got samples of shape "
                               f"{tuple(sample_shape)}")
        if num_classes < 2:
            raise SettingError(f"the classifier needs at least 2 classes, got {num_classes}")
        channels = int(sample_shape[0])
        self.features = nn.Sequential(conv_block(channels, width), conv_block(width, 2 * width),
                                      nn.AdaptiveAvgPool2d(4), nn.Flatten())
        self.head = nn.Sequential(nn.Linear(2 * width * 16, 256), nn.ReLU(True), nn.Dropout(0.3),
                                  nn.Linear(256, num_classes))

    def forward(self, x: Tensor) -> Tensor:
        return self.head(self.features(x))
