"""LightningModules. ``gan.GAN`` is the one training loop for noise-to-image (and noise-to-point)
GANs; every classic variant is a config of it."""
