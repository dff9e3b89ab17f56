"""``python -m trajmbrl.reports``: the results page and docs/figures (``make results``)."""

import sys

from trajmbrl.reports.summary import main

sys.exit(main())
