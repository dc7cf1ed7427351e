"""Report: evaluation, figures, tables, the report's claims, and what notebooks and the static site display."""
