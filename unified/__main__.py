"""``python -m unified``: the `unified` command."""

import sys

from unified.cli import main

sys.exit(main())
