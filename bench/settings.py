"""The demo project's settings, plus django-import-export and the contenders at /bench/."""

from project.settings import *  # noqa: F403
from project.settings import INSTALLED_APPS

INSTALLED_APPS = [*INSTALLED_APPS, "import_export"]
ROOT_URLCONF = "bench.urls"
