"""`python -m lab_utils.run`: run_all.sh's entry point.

A `__main__` module, not runner.py itself: worker processes that Dask spawns re-import the parent's main module,
except one named `__main__`, so they start without TensorFlow and take their thread and device settings first.
"""

import sys

from lab_utils.run.runner import main

sys.exit(main())
