"""``python -m casts.memory.serve``: see ``casts.memory.serve.launcher``."""

import sys

from casts.memory.serve.launcher import main

sys.exit(main())
