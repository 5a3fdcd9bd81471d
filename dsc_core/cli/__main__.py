"""`python -m dsc_core.cli` (and `torchrun ... -m dsc_core.cli`): the `dsc` command."""

import sys

from dsc_core.cli import main

sys.exit(main())
