"""A generator in the Hub layout: ``ganforge-export ckpt_path=<run>/checkpoints/best_fid.ckpt out=<dir>``."""

import hydra
from omegaconf import DictConfig

from ganforge.cli import user_errors_to_exit
from ganforge.export import run


@hydra.main(version_base="1.3", config_path="pkg://ganforge.conf", config_name="export")
def main(cfg: DictConfig) -> None:
    with user_errors_to_exit():
        run(cfg)


if __name__ == "__main__":
    main()
