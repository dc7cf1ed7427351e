"""Running the report: run_all.sh's runner, its progress lines, device checks and quiet start-up."""
