"""Baselines the papers compare against; importing this package registers them."""
from baselines import kd  # noqa: F401
