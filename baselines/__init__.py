"""Baselines the papers compare against; importing this package registers them."""
from baselines import abm, codis, dafl, dfkd_mem, distn, kd, mimic, munge, nagan, noisy, tsc, zskt  # noqa: F401
