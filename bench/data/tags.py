"""Tag-recommendation data with privileged text (KDGAN §4.2): feature files and a
generated stand-in.

KDGAN's YFCC100M sets cannot be rebuilt offline (the images are crawled from Flickr), so
a tag dataset is a feature file: ``<data-root>/yfcc100m/{popular,random}.npz`` with

- ``image_train`` (N, d) float: image features (P:kdgan: VGGNet, d = 100),
- ``text_train`` (N, d) float: privileged text features of the same images (an LSTM over
  titles and descriptions, d = 100), used by the teacher and the discriminator only,
- ``tags_train`` (N, tags) 0/1: the multi-hot tags (200 tags: the most popular, or 200
  sampled at random; P:kdgan §4.2: 20,000 training and 2,000 test images),

and the same three arrays with ``_test``. The harness's input is ``[image | text]``
(N, 2d): the classifier's nets read the first half, the teacher's the element-wise
product of the halves. Labels are each image's tags normalised to sum to 1, so the
relevant tags are the non-zero entries and a cross-entropy to them is defined.

``tags_generated`` is the embedded stand-in the quick and smoke profiles use; it is
**generated**, not YFCC100M. Each image shows 1-3 of ``LATENT`` concepts with
strengths in [0.5, 1.5]; a tag is relevant when its (non-negative, two-concept) score is
positive and at least RELEVANT times the image's best tag score. Image features are the concept strengths under
heavy Gaussian noise; text features say which concepts the text mentions (near-binary
indicators), so image ⊙ text removes the noise on absent concepts: the privileged
features carry real extra signal, as titles do for photos.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from bench.data.base import RawData, missing
from bench.errors import UserError
from bench.registry import DATASETS

KEYS = ("image", "text", "tags")


def normalised_tags(tags: np.ndarray) -> torch.Tensor:
    """Rows of 0/1 tags scaled to sum to 1 (the tag distribution labels are drawn from)."""
    t = torch.tensor(tags, dtype=torch.float32)
    return t / t.sum(dim=1, keepdim=True)


def tag_raw(arrays: dict[str, np.ndarray], where: str, num_tags: int | None = None) -> RawData:
    """RawData from the six arrays of the feature format, each checked (``where`` names
    the source in errors)."""
    out = {}
    for split in ("train", "test"):
        image, text, tags = (np.asarray(arrays[f"{k}_{split}"]) for k in KEYS)
        n = len(image)
        if image.ndim != 2 or text.shape != image.shape:
            raise UserError(f"{where}: image_{split} {image.shape} and text_{split} {text.shape} must be "
                            "(N, d) arrays of the same shape (one row of features per image)")
        if tags.ndim != 2 or len(tags) != n:
            raise UserError(f"{where}: tags_{split} {tags.shape} must be (N, tags) with N = {n} rows")
        if num_tags is not None and tags.shape[1] != num_tags:
            raise UserError(f"{where}: tags_{split} has {tags.shape[1]} tag columns; this dataset has {num_tags}")
        if not np.isin(tags, (0, 1)).all():
            raise UserError(f"{where}: tags_{split} must hold 0/1 (multi-hot tags)")
        empty = np.flatnonzero(tags.sum(axis=1) == 0)
        if len(empty):
            raise UserError(f"{where}: {len(empty)} {split} image(s) have no tag (first: row {empty[0]}); "
                            "drop them: a tag-less image has no relevant tag to learn or rank")
        if not (np.isfinite(image).all() and np.isfinite(text).all()):
            raise UserError(f"{where}: image_{split} / text_{split} hold NaN or infinite values")
        x = torch.tensor(np.concatenate([image, text], axis=1), dtype=torch.float32)
        out[split] = (x, normalised_tags(tags))
    return RawData(*out["train"], *out["test"])


def load_npz(path: Path, num_tags: int) -> RawData:
    """A feature file (module docstring), with a clear error for each way it can be wrong."""
    try:
        with np.load(path, allow_pickle=False) as f:
            arrays = {name: f[name] for name in f.files}
    except (OSError, ValueError) as exc:
        raise UserError(f"{path}: cannot be read as a .npz feature file ({type(exc).__name__}: {exc})") from None
    need = [f"{k}_{s}" for s in ("train", "test") for k in KEYS]
    absent = [k for k in need if k not in arrays]
    if absent:
        raise UserError(f"{path}: missing array(s) {', '.join(absent)} (expected {', '.join(need)}; "
                        "see bench/data/tags.py)")
    return tag_raw(arrays, str(path), num_tags)


YFCC_TAGS = 200
"""P:kdgan §4.2: the 200 most popular tags, or 200 tags sampled at random."""
YFCC_HOW = ("KDGAN's YFCC100M features are not public: extract them as the paper describes "
            "(VGGNet image features, LSTM text features, d = 100; 20,000 train / 2,000 test images) "
            "and save them in the format of bench/data/tags.py")


def _yfcc(name: str, file: str):
    @DATASETS.register(name, num_classes=YFCC_TAGS, embedded=False, where=f"<data-root>/yfcc100m/{file}",
                       channels=200, official_sizes=(20_000, 2_000))
    def load(root: Path, download: bool) -> RawData:
        path = root / "yfcc100m" / file
        if not path.exists():
            raise missing(name, [path], YFCC_HOW)
        return load_npz(path, YFCC_TAGS)
    return load


_yfcc("yfcc_popular", "popular.npz")
_yfcc("yfcc_random", "random.npz")

LATENT = 32
"""Concepts of the generated set (its feature size d; YFCC: 100)."""
GENERATED_TAGS = 40
GENERATED_SIZES = (2_000, 1_000)
IMAGE_NOISE = 0.8
"""Std of the Gaussian noise on every image feature (concept strengths are 0.5-1.5)."""
TEXT_NOISE = 0.1
RELEVANT = 0.75
GENERATED_SEED = 2018


def generate_tags(n_train: int = GENERATED_SIZES[0], n_test: int = GENERATED_SIZES[1],
                  seed: int = GENERATED_SEED) -> dict[str, np.ndarray]:
    """The ``tags_generated`` arrays in the feature format (see the module docstring)."""
    rng = np.random.default_rng(seed)
    weights = np.zeros((GENERATED_TAGS, LATENT))
    for tag in range(GENERATED_TAGS):  # each tag is about two concepts; every concept has a tag
        other = rng.choice([c for c in range(LATENT) if c != tag % LATENT])
        weights[tag, [tag % LATENT, other]] = rng.uniform(0.5, 1.0, 2)
    arrays = {}
    for split, n in (("train", n_train), ("test", n_test)):
        strength = np.zeros((n, LATENT))
        for i in range(n):
            shown = rng.choice(LATENT, rng.integers(1, 4), replace=False)
            strength[i, shown] = rng.uniform(0.5, 1.5, len(shown))
        score = strength @ weights.T
        arrays[f"tags_{split}"] = ((score > 0) & (score >= RELEVANT * score.max(axis=1, keepdims=True))).astype(np.int8)
        arrays[f"image_{split}"] = (strength + rng.normal(0, IMAGE_NOISE, strength.shape)).astype(np.float32)
        arrays[f"text_{split}"] = ((strength > 0) + rng.normal(0, TEXT_NOISE, strength.shape)).astype(np.float32)
    return arrays


@DATASETS.register("tags_generated", num_classes=GENERATED_TAGS, embedded=True,
                   where="generated in bench/data/tags.py (not YFCC100M)", channels=2 * LATENT)
def tags_generated(root: Path, download: bool) -> RawData:
    return tag_raw(generate_tags(), "tags_generated", GENERATED_TAGS)
