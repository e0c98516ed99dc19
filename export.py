"""A trained generator in the Hugging Face Hub layout:
``python export.py ckpt_path=<run>/checkpoints/best_fid.ckpt out=<dir> [push_to_hub=<user>/<repo>]``."""

from ganforge.scripts.export import main

if __name__ == "__main__":
    main()
