"""`make imagenet-smoke`: one ImageNet experiment end to end on 100 real JPEGs
(``experiments/tools/imagenet_smoke.py``)."""
import sys

from experiments.tools.imagenet_smoke import main

if __name__ == "__main__":
    sys.exit(main())
