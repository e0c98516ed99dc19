"""The configs (a package, so Hydra finds them inside an installed ganforge: pkg://ganforge.conf)."""
