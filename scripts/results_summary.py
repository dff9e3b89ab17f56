"""The generated results page: ``python scripts/results_summary.py ...`` is
``python -m trajmbrl.reports ...`` (the code lives in :mod:`trajmbrl.reports.summary`)."""

import sys

from trajmbrl.reports.summary import main

if __name__ == "__main__":
    sys.exit(main())
