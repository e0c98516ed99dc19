"""ganforge: train, evaluate and compare GANs with Lightning, Hydra and W&B."""

__version__ = "0.1.0"
