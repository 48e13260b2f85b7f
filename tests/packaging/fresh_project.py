"""A new Django project installs the stream_exports wheel and serves an export.

Run by ``nox -s fresh_project`` in a virtualenv holding only the project's Django
and the wheel: ``python tests/packaging/fresh_project.py <django x.y>``. It does
what the installation docs say, in a temporary directory, with deprecation
warnings as errors, then exports over HTTP and checks the rows and the trailer.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

EXPORTS = """\
from django.contrib.auth.models import User

from stream_exports.core.datasets import Dataset, register

register(Dataset(name="users", queryset=User.objects.all(), fields=["id", "username"]))
"""

USERS = """\
from django.contrib.auth.models import User

User.objects.create_superuser("admin", password="pw")
User.objects.bulk_create(User(username=f"user{n}") for n in range(500))
"""


def manage(project: Path, *args: str, **kwargs: object) -> subprocess.CompletedProcess[str]:
    """``python -W error::DeprecationWarning manage.py *args`` in ``project``."""
    command = [sys.executable, "-W", "error::DeprecationWarning", "manage.py", *args]
    return subprocess.run(command, cwd=project, check=True, text=True, **kwargs)  # type: ignore[call-overload]


def make_project(root: Path) -> Path:
    """startproject + startapp, with the app, its URLs and a dataset, migrated."""
    subprocess.run(["django-admin", "startproject", "mysite", str(root)], check=True)
    manage(root, "startapp", "shop")
    settings = root / "mysite" / "settings.py"
    text = settings.read_text()
    text = text.replace(
        "INSTALLED_APPS = [", 'INSTALLED_APPS = [\n    "stream_exports",\n    "shop",'
    )
    settings.write_text(text)
    urls = root / "mysite" / "urls.py"
    text = urls.read_text().replace(
        "from django.urls import path", "from django.urls import include, path"
    )
    urls.write_text(
        text.replace(
            "urlpatterns = [",
            'urlpatterns = [\n    path("exports/", include("stream_exports.urls")),',
        )
    )
    (root / "shop" / "exports.py").write_text(EXPORTS)
    manage(root, "migrate", "--verbosity", "0")
    manage(root, "shell", "--command", USERS)
    checked = manage(root, "check", capture_output=True)
    assert "stream_exports" not in checked.stdout + checked.stderr, checked
    return root


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def export_over_http(project: Path) -> list[dict]:
    """The ``users`` export as a signed URL, fetched from ``runserver``."""
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    url = manage(
        project, "export_url", "users", "--user", "admin", "--base-url", base, capture_output=True
    ).stdout.strip()
    command = [sys.executable, "-W", "error::DeprecationWarning", "manage.py", "runserver"]
    server = subprocess.Popen([*command, f"127.0.0.1:{port}", "--noreload"], cwd=project)
    try:
        for _ in range(100):
            try:
                with urllib.request.urlopen(url, timeout=30) as response:
                    assert response.headers["Content-Type"].startswith("application/x-ndjson")
                    return [json.loads(line) for line in response.read().splitlines()]
            except urllib.error.URLError:  # not listening yet
                time.sleep(0.1)
        raise AssertionError("runserver never answered")
    finally:
        server.terminate()
        server.wait(10)


def main(django_version: str) -> None:
    import django

    assert django.get_version().startswith(django_version + "."), django.get_version()
    with tempfile.TemporaryDirectory() as tmp:
        os.environ.pop("DJANGO_SETTINGS_MODULE", None)
        lines = export_over_http(make_project(Path(tmp)))
    *rows, trailer = lines
    assert [row["id"] for row in rows] == list(range(1, 502)), rows[:3]
    assert trailer["_stream"]["status"] == "complete", trailer
    assert trailer["_stream"]["rows"] == 501, trailer
    print(f"Django {django.get_version()}: a fresh project served {len(rows)} rows, whole.")


if __name__ == "__main__":
    main(sys.argv[1])
