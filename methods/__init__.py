"""The five papers' own methods; importing this package registers them."""
from methods import dfad, mad  # noqa: F401
