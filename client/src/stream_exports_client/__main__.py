"""``python -m stream_exports_client``: the ``stream-exports`` command."""

import sys

from .cli import main

sys.exit(main())
