"""Running the report: run_all.sh's runner, its batch workers, progress lines, device checks, the run-cache
command line and the student versions."""
