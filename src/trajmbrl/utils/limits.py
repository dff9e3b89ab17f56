"""What the libraries below trajmbrl accept: the seed range and the figure file formats."""

from __future__ import annotations

#: the largest seed every consumer accepts: NumPy's legacy ``np.random.seed`` takes 32 bits,
#: ``torch.Generator.manual_seed`` a signed 64-bit integer, and derived seeds (control's
#: ``seed * 1000 + round``) must still fit it
SEED_MAX = 2**32 - 1

#: figure formats matplotlib writes with its standard backends (``plot.formats``)
PLOT_FORMATS = (
    "eps",
    "gif",
    "jpeg",
    "jpg",
    "pdf",
    "pgf",
    "png",
    "ps",
    "raw",
    "rgba",
    "svg",
    "svgz",
    "tif",
    "tiff",
    "webp",
)
