"""`make report`: REPORT.md from the run folders (``experiments/report/tables.py``)."""
import sys

from experiments.report.tables import main

if __name__ == "__main__":
    sys.exit(main())
