"""``python -m bench.vectors``: the vectors bench alone (as ``python -m bench vectors``)."""

import sys

from bench.vectors import main

sys.exit(main())
