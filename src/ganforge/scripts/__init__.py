"""The command-line entry points (``ganforge-train`` and friends, and the repository's ``train.py``
and friends), each a Hydra app over the configs the package carries in ``ganforge/conf``."""
