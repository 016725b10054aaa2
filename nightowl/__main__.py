"""`python -m nightowl` runs the same CLI as the `nightowl` console script."""

import sys

from nightowl.cli import main

sys.exit(main())
