"""Plain nn.Modules, free of Lightning. Generators map (z, y) -> sample; discriminators
map (x, y) -> one raw score per sample. ``y`` is used only when ``num_classes > 0``."""
