"""Images from a checkpoint or an export: ``ganforge-sample ckpt_path=<run>/checkpoints/last.ckpt``."""

import hydra
from omegaconf import DictConfig

from ganforge.cli import user_errors_to_exit
from ganforge.sample import run


@hydra.main(version_base="1.3", config_path="pkg://ganforge.conf", config_name="sample")
def main(cfg: DictConfig) -> None:
    with user_errors_to_exit():
        run(cfg)


if __name__ == "__main__":
    main()
