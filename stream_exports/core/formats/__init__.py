"""Formats: each one a module declaring its media type, extension, options and writer
(``ndjson``, ``csv``, ``xlsx``), on the interface in ``base``, kept by name in
``registry``."""
