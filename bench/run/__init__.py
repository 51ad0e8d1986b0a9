"""Runs -> files: scheduling (inline, local workers, SLURM), the runner, threads, probes."""
