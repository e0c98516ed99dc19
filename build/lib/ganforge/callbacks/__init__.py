"""Lightning callbacks. They use only the module surface documented in ``models.gan``."""
