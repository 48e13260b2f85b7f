"""Public: declaring what may be exported (:mod:`stream_exports.core.datasets` is its home).

::

    from stream_exports.datasets import Dataset, register
"""

from .core.datasets import Dataset, ExportNotAllowed, Registry, UnknownDataset, register, registry

__all__ = ["Dataset", "ExportNotAllowed", "Registry", "UnknownDataset", "register", "registry"]
