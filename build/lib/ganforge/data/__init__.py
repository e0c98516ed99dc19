"""LightningDataModules. Every module exposes ``sample_shape`` and ``num_classes`` before
``setup`` (the model is built from them) and yields ``(samples, labels)`` batches: images in
[-1, 1] as (N, C, H, W) float tensors, points as (N, D); labels are int64 (zeros when the set
has none and ``num_classes`` is 0)."""
