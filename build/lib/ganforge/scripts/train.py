"""Train a GAN: ``ganforge-train model=dcgan data=fashion_mnist`` (see README for every option)."""

import hydra
from omegaconf import DictConfig

from ganforge.cli import user_errors_to_exit
from ganforge.train import run


@hydra.main(version_base="1.3", config_path="pkg://ganforge.conf", config_name="train")
def main(cfg: DictConfig) -> float | None:
    with user_errors_to_exit():
        return run(cfg)


if __name__ == "__main__":
    main()
