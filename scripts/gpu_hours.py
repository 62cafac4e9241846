"""`make gpu-hours`: an ESTIMATE of the §5.3 runs' GPU time
(``experiments/tools/gpu_hours.py``)."""
import sys

from experiments.tools.gpu_hours import main

if __name__ == "__main__":
    sys.exit(main())
