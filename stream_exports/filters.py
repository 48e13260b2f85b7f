"""Public: a dataset's filters, each a query parameter (:mod:`stream_exports.core.filters`
is their home).

::

    from stream_exports import filters

    filters.boolean("paid"), filters.decimal("amount", "gte"), filters.datetime("created_at", "lt")
"""

from .core.filters import *  # noqa: F403
from .core.filters import __all__  # noqa: F401  (the same public names)
