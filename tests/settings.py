"""Test settings: the demo project's, with test databases a server process can open too."""

import os
import tempfile
from pathlib import Path

from project.settings import *  # noqa: F403
from project.settings import BASE_DIR, DATABASES

# Separate names let two test runs share a machine (TEST_DB_SUFFIX=-a ...).
_suffix = os.environ.get("TEST_DB_SUFFIX", "")
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # A file, not :memory:, so that servers started by the tests see the same rows.
    DATABASES["default"]["TEST"] = {"NAME": str(BASE_DIR / f".test_db{_suffix}.sqlite3")}
else:
    DATABASES["default"]["TEST"] = {"NAME": f"test_stream_exports{_suffix.replace('-', '_')}"}

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]

# Job files of test runs (and of the servers the tests start) stay out of the checkout.
MEDIA_ROOT = Path(tempfile.gettempdir()) / f"stream_exports_test_media{_suffix}"
