"""Images from a checkpoint: ``python sample.py ckpt_path=<run>/checkpoints/last.ckpt [num_images=1000]``."""

from ganforge.scripts.sample import main

if __name__ == "__main__":
    main()
