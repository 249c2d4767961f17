"""Comparisons and their reports: `distillery compare` runs arms; `distillery report` rebuilds the report."""
