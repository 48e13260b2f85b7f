"""Build the Lambda package: the demo project and every dependency, as Lambda runs them.

``pip install --target`` with ``--platform manylinux2014_x86_64 --only-binary=:all:``
fetches the Linux wheels Lambda's Python (``LAMBDA_PYTHON``, the template's ``Runtime``)
loads, whatever machine builds. That Python, found on this machine, compiles every
module's bytecode into the package: Lambda's ``/var/task`` is read-only, so without it
every cold start compiles each module it imports again (a second of CPU). The bytecode is
hash-based and unchecked (the package never changes once built), and the zip is
reproducible (sorted entries, fixed timestamps), so its name carries its content hash and
an unchanged build leaves the stack unchanged.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
#: The template's functions are x86_64 (and use the adapter's X86 layer).
PLATFORM = "manylinux2014_x86_64"
#: The Lambda runtime's Python (template.yaml: ``Runtime: python3.13``): Django 6.1 runs on it.
LAMBDA_PYTHON = "3.13"
#: Where Lambda unpacks the package (``LAMBDA_TASK_ROOT``).
TASK_ROOT = "/var/task"
#: The app itself: the project, its manage.py and the handler Lambda Web Adapter starts.
APP = ("manage.py", "project", "deploy/__init__.py", "deploy/run.sh")
SKIP = shutil.ignore_patterns("__pycache__", "*.pyc", "*.sqlite3", ".secret_key", "tests")
EXECUTABLE = 0o100755 << 16
FILE = 0o100644 << 16


class PackagingFailed(RuntimeError):
    """The package could not be built (pip's message says why)."""


def lambda_python() -> str:
    """The interpreter of Lambda's runtime (``python3.13``): pyenv's newest 3.13, else the
    one on PATH. ``PackagingFailed`` if there is none: its bytecode is what Lambda loads."""
    name = f"python{LAMBDA_PYTHON}"
    root = Path(os.environ.get("PYENV_ROOT", Path.home() / ".pyenv"))
    found = sorted(root.glob(f"versions/{LAMBDA_PYTHON}.*/bin/{name}"))
    candidates = [str(found[-1])] if found else []
    candidates += [on_path] if (on_path := shutil.which(name)) else []
    for candidate in candidates:
        if subprocess.run([candidate, "-V"], capture_output=True).returncode == 0:
            return candidate
    raise PackagingFailed(
        f"{name} (the template's Runtime) is needed to compile the package's bytecode: "
        f"install it (e.g. pyenv install {LAMBDA_PYTHON}) or put it on PATH"
    )


def _pip_install(*args: str) -> str:
    """``pip install`` of this package with its ``lambda`` extra, as Linux wheels for
    Lambda's CPython; pip's output. ``PackagingFailed`` with pip's message if it fails."""
    done = subprocess.run(
        [
            *(sys.executable, "-m", "pip", "install", "--quiet", "--no-compile", *args),
            *("--platform", PLATFORM, "--implementation", "cp"),
            *("--python-version", LAMBDA_PYTHON, "--only-binary=:all:"),
            f"{ROOT}[lambda]",
        ],
        capture_output=True,
        text=True,
    )
    if done.returncode:
        raise PackagingFailed(f"pip could not install the dependencies:\n{done.stderr}")
    return done.stdout


def install_dependencies(target: Path) -> None:
    """The dependencies, installed into ``target``."""
    _pip_install("--target", str(target))


def resolved_versions() -> dict[str, str]:
    """{distribution: version} of what the package would hold, resolved without installing."""
    report = json.loads(_pip_install("--dry-run", "--ignore-installed", "--report", "-"))
    return {
        item["metadata"]["name"].lower(): item["metadata"]["version"] for item in report["install"]
    }


def copy_app(target: Path) -> None:
    """The project files next to the dependencies (``LAMBDA_TASK_ROOT``)."""
    for name in APP:
        source, dest = ROOT / name, target / name
        dest.parent.mkdir(parents=True, exist_ok=True)
        if source.is_dir():
            shutil.copytree(source, dest, ignore=SKIP, dirs_exist_ok=True)
        else:
            shutil.copy2(source, dest)


def compile_bytecode(target: Path) -> None:
    """Every module's bytecode, by Lambda's Python: hash-based and unchecked, so it stays
    valid whatever timestamps the zip gives the sources, and named for the sources' place
    on Lambda (not this build's temporary directory), so each build makes the same."""
    done = subprocess.run(
        [
            *(lambda_python(), "-m", "compileall", "-q", "-j", "0"),
            *("--invalidation-mode", "unchecked-hash", "-s", str(target), "-p", TASK_ROOT),
            str(target),
        ],
        capture_output=True,
        text=True,
    )
    if done.returncode:
        raise PackagingFailed(f"compileall failed:\n{done.stdout}{done.stderr}")


def write_zip(source: Path, output: Path) -> None:
    """A reproducible zip of ``source``; ``.sh`` files stay executable."""
    files = sorted(p for p in source.rglob("*") if p.is_file())
    with zipfile.ZipFile(output, "w", zipfile.ZIP_DEFLATED) as archive:
        for path in files:
            info = zipfile.ZipInfo(path.relative_to(source).as_posix(), (1980, 1, 1, 0, 0, 0))
            info.external_attr = EXECUTABLE if path.suffix == ".sh" else FILE
            info.compress_type = zipfile.ZIP_DEFLATED
            archive.writestr(info, path.read_bytes())


def build(output_dir: Path) -> Path:
    """Build ``lambda-<hash>.zip`` in ``output_dir``; return its path."""
    output_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        staging = Path(tmp) / "package"
        install_dependencies(staging)
        copy_app(staging)
        compile_bytecode(staging)
        unnamed = Path(tmp) / "lambda.zip"
        write_zip(staging, unnamed)
        digest = hashlib.sha256(unnamed.read_bytes()).hexdigest()[:16]
        return Path(shutil.move(unnamed, output_dir / f"lambda-{digest}.zip"))
