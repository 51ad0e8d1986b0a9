"""Timing against the official codes; never imported by the harness."""
