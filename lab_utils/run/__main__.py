"""`python -m lab_utils.run [run_all options]` is run_all.sh; `python -m lab_utils.run worker ADDRESS` starts
this machine's workers for a cluster (scripts/cluster_worker.sh); `train-one` is a worker's training process.

A `__main__` module, not runner.py itself: worker processes that Dask spawns re-import the parent's main module,
except one named `__main__`, so they start without TensorFlow and take their thread and device settings first.
"""

import sys

if sys.argv[1:2] == ["worker"]:
    from lab_utils.run.cluster import main as worker_main

    sys.exit(worker_main(sys.argv[2:]))
if sys.argv[1:2] == ["train-one"]:  # one run in a fresh process, started by a worker (cluster.train_task)
    from lab_utils.run.cluster import train_one_main

    sys.exit(train_one_main(sys.argv[2]))

from lab_utils.run.runner import main

sys.exit(main())
