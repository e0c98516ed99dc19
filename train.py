"""Train a GAN: ``python train.py model=dcgan data=fashion_mnist`` (see README for every option)."""

from ganforge.scripts.train import main

if __name__ == "__main__":
    main()
