"""`make figures`: the paper's figures from the run folders, or one run's flip heatmap
(``experiments/report/figures.py``)."""
import sys

from experiments.report.figures import main

if __name__ == "__main__":
    sys.exit(main())
