"""A trained generator in the Hugging Face Hub layout:
``python export.py ckpt_path=<run>/checkpoints/best_fid.ckpt out=<dir> [push_to_hub=<user>/<repo>]``."""

import hydra
from omegaconf import DictConfig

from ganforge.cli import user_errors_to_exit
from ganforge.export import run


@hydra.main(version_base="1.3", config_path="conf", config_name="export")
def main(cfg: DictConfig) -> None:
    with user_errors_to_exit():
        run(cfg)


if __name__ == "__main__":
    main()
