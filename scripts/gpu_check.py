"""`make gpu-check`: the training step on one GPU in every precision
(``experiments/tools/gpu_check.py``)."""
import sys

from experiments.tools.gpu_check import main

if __name__ == "__main__":
    sys.exit(main())
