"""Super-resolve images: ``ganforge-upscale ckpt_path=<srgan run>/checkpoints/last.ckpt input=photo.jpg``."""

import hydra
from omegaconf import DictConfig

from ganforge.cli import user_errors_to_exit
from ganforge.upscale import run


@hydra.main(version_base="1.3", config_path="pkg://ganforge.conf", config_name="upscale")
def main(cfg: DictConfig) -> None:
    with user_errors_to_exit():
        run(cfg)


if __name__ == "__main__":
    main()
