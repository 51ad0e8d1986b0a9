"""Dataset registry and the in-memory tensors every method trains on.

Each dataset registers a loader that returns raw images in [0, 1] at their native
size (``RawData``); :func:`load_data` resizes them to the nets' input size,
normalises them and draws a stratified, seeded training subset. Sets too large for
memory are streamed from image folders behind the same interface (bench/data/stream.py).
"""
from bench.data.base import Data, RawData, SegmentationData, load_data, load_raw, batches  # noqa: F401
from bench.data import cifar, digits, folders, idx, segmentation, stream, svhn, tabular, tags, usps  # noqa: F401  (register loaders)
