"""`make bench`, `make bench-imagenet`: training and input-pipeline throughput
(``experiments/tools/bench.py``)."""
import sys

from experiments.tools.bench import main

if __name__ == "__main__":
    sys.exit(main())
