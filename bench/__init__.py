"""advkd-bench: a harness that reproduces adversarial knowledge-distillation papers.

The flow is suite YAML -> RunSpec grid -> scheduler -> runner -> results/runs/<run_id>/
-> aggregated tables, report and figures. See README.md and bench/api.py.
"""
