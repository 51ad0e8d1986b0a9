"""The five papers' own methods; importing this package registers them."""
from methods import dfad  # noqa: F401
