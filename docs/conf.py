"""Sphinx configuration: Markdown pages (MyST), the furo theme, references made from the code.

Build with warnings as errors, as ``make test`` does::

    .venv/bin/sphinx-build -W --keep-going -q -b html docs docs/_build/html
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import django

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(Path(__file__).parent / "_ext")]
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tests.settings")
django.setup()  # the reference pages and autodoc import the app

from stream_exports import __version__  # noqa: E402  (after django.setup())

project = "stream_exports"
author = "stream_exports contributors"
copyright = "stream_exports contributors"
release = version = __version__

extensions = ["myst_parser", "sphinx.ext.autodoc", "reference"]
source_suffix = {".md": "markdown"}
exclude_patterns = ["_build", "_ext"]

myst_heading_anchors = 3
myst_enable_extensions = ["colon_fence"]

autodoc_member_order = "bysource"
autodoc_typehints = "description"
autodoc_default_options = {"members": True, "show-inheritance": False}

html_theme = "furo"
html_title = f"stream_exports {release}"
