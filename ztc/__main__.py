"""``python -m ztc``: the same as the ``ztc`` command."""

import sys

from ztc.cli import main

sys.exit(main())
