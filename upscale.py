"""Super-resolve images:
``python upscale.py ckpt_path=<srgan run>/checkpoints/last.ckpt input=photo.jpg output=big.png``."""

from ganforge.scripts.upscale import main

if __name__ == "__main__":
    main()
