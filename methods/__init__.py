"""The five papers' own methods; importing this package registers them."""
from methods import acgan, dfad, gan_tsc, kdgan, mad, tsc_score  # noqa: F401
