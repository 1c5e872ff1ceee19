"""``python -m factorgraph`` runs the command line."""

import sys

from factorgraph.cli import main

sys.exit(main())
