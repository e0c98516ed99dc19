"""ganforge: train, evaluate and compare GANs with Lightning, Hydra and W&B."""

__version__ = "0.1.0"


def load_generator(source, device="cpu"):
    """A trained generator from an exported folder, a Hub repository id or a checkpoint:
    ``ganforge.load_generator("user/repo").sample(16, torch.Generator().manual_seed(0))``."""
    from ganforge.hub import load_generator as load  # torch and huggingface_hub only when used

    return load(source, device)
