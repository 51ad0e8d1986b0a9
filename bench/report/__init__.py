"""Results -> tables, claims checked, report.md, figures and terminal text."""
