"""Baselines the papers compare against; importing this package registers them."""
from baselines import (abm, codis, dafl, dfkd_mem, distn, dml, kd, kd_online, mimic, munge, nagan,  # noqa: F401
                       noisy, one, scratch, tsc, vanilla, zskt)
