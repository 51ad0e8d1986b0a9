"""The five papers' own methods; importing this package registers them."""
from methods import acgan, afd, dfad, gan_tsc, kdgan, mad, tsc_score  # noqa: F401
