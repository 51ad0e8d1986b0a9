"""Baselines the papers compare against; importing this package registers them."""
from baselines import abm, dafl, dfkd_mem, kd, zskt  # noqa: F401
