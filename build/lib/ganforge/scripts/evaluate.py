"""Score a checkpoint or a folder of images: ``ganforge-evaluate ckpt_path=<run>/checkpoints/last.ckpt``."""

import hydra
from omegaconf import DictConfig

from ganforge.cli import user_errors_to_exit
from ganforge.evaluate import run


@hydra.main(version_base="1.3", config_path="pkg://ganforge.conf", config_name="eval")
def main(cfg: DictConfig) -> None:
    with user_errors_to_exit():
        run(cfg)


if __name__ == "__main__":
    main()
