"""Score a checkpoint: ``python evaluate.py ckpt_path=<run>/checkpoints/last.ckpt [metrics.num_samples=50000]``."""

import hydra
from omegaconf import DictConfig

from ganforge.cli import user_errors_to_exit
from ganforge.evaluate import run


@hydra.main(version_base="1.3", config_path="conf", config_name="eval")
def main(cfg: DictConfig) -> None:
    with user_errors_to_exit():
        run(cfg)


if __name__ == "__main__":
    main()
