"""Score a checkpoint: ``python evaluate.py ckpt_path=<run>/checkpoints/last.ckpt [metrics.num_samples=50000]``."""

from ganforge.scripts.evaluate import main

if __name__ == "__main__":
    main()
