"""``python -m genweave`` is the ``genweave`` command."""

import sys

from genweave.cli import main

sys.exit(main())
