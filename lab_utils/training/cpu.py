"""Why TensorFlow sometimes trains at exactly half speed on a CPU, and the one setting that stops it.

The symptom (issue "Fast training"): identical code, same process, ~1,000 images/s in one epoch and ~500 in the
next. Measured on the 2-core AMD EPYC (TF 2.21, Keras 3.15.1): VGG blocks + BN, batch 64, epochs of 20 steps,
one fresh process per setting (the mode sticks to a process for a while), settings interleaved, only epochs where other processes used < 0.1 core
(from /proc/stat) counted; "half" = an epoch at 496-502 images/s.

| setting                                                   | quiet epochs | half-speed | fast median |
|-----------------------------------------------------------|-------------:|-----------:|------------:|
| TensorFlow defaults (tf.data prefetch(AUTOTUNE))          |     83       |     27     |   1,006     |
| inter-op threads 1                                        |     11       |      2     |   1,006     |
| intra-op 1 / 3 / 4 threads                                |  15/15/12    |   1/5/4    | 644/786/890 |
| intra-op workers pinned to one core each (sched_setaffinity) | 17        |      7     |   1,006     |
| tf.data private thread pool 1                             |      8       |      5     |     876     |
| tf.data threading.max_intra_op_parallelism 0 / 2          |   16/16      |    6/7     |  972/922    |
| fixed prefetch(2), autotune on                            |     16       |      7     |     945     |
| TF_ONEDNN_THREADPOOL_USE_CALLER_THREAD=1                  |      8       |      3     |     989     |
| OMP_NUM_THREADS=1 / OMP_NUM_THREADS=2 (2 processes) / KMP_AFFINITY | 24/16/8 | 4/0/2 | ~1,007 |
| process affinity {0, 1}                                   |      8       |      3     |     957     |
| TF_ENABLE_ONEDNN_OPTS=0 (Eigen convolutions)              |      6       |     n/a    | 497-575     |
| **tf.data autotune off** (`Options().autotune.enabled = False`), any prefetch or threads | **76** | **0** | **1,006** |

In a half-speed epoch the process uses exactly one core (0.92-1.09 cores instead of 1.8) and the two intra-op
threads each run ~0.45 of a core, one after the other: every oneDNN op runs on a single thread, as if the
thread executing the training step had been limited to an intra-op parallelism of 1. The threads were not on
the same core (sampled: < 5 % of the time). Only turning tf.data's autotuner off removed the mode; no thread
pool, affinity or OpenMP setting did. The autotuner buys nothing here: the project's pipelines have no
parallel map to tune, and `prefetch(AUTOTUNE)` still sizes its buffer without it.

A second, different slow-down is not a TensorFlow setting: when another process keeps one of the 2 cores busy
(CI, other engineers' tests), the statically split oneDNN work waits for the half that shares a core, and any
setting again runs at ~500 images/s (1 intra-op thread: ~620). Take timings when the load average is low.
"""

from __future__ import annotations

from typing import Any

__all__ = ["dataset_options", "without_autotune"]


def dataset_options() -> Any:
    """`tf.data.Options` for every training/evaluation pipeline: autotune off (see the module docstring)."""
    import tensorflow as tf

    options = tf.data.Options()
    options.autotune.enabled = False
    return options


def without_autotune(dataset: Any) -> Any:
    """`dataset` with `dataset_options()` applied; the options cover the whole pipeline whatever stage gets them."""
    return dataset.with_options(dataset_options())
