"""The five papers' own methods; importing this package registers them."""
from methods import dfad, kdgan, mad  # noqa: F401
