"""Cold start (issue 16): ``deploy/run.sh`` started as Lambda Web Adapter starts it, timed
from its exec to the first 200 of the readiness path and to the first byte of a signed
export; for this checkout and the commit the goal is measured against, and for the Lambda
packages both build, run as shipped on Lambda's Python.

- The environment is the template's for the app function (``DEBUG`` off, static files
  served, jobs on Lambda, job files on S3: a bucket named, never reached) with the
  adapter's (``AWS_LWA_PORT``, the readiness path), on the bench database.
- Readiness is asked every 10 ms, as the adapter does; the export is asked for as soon as
  it answers, as the adapter then forwards the invocation that waits.
- A checkout reads bytecode, as the package ships it: an untimed start writes it, the
  timed ones run with ``PYTHONDONTWRITEBYTECODE=1``. A package runs as built, Python
  writing nothing (Lambda's ``/var/task`` is read-only).
- The targets take turns, start after start, so the machine's noise falls on all alike.
"""

from __future__ import annotations

import http.client
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import sysconfig
import time
import zipfile
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import psutil

from deploy.local import adapter_env, gateway_headers

from .servers import OUT, ROOT, free_port

#: The readiness path the template configures (``AWS_LWA_READINESS_CHECK_PATH``).
READINESS_PATH = "/exports/health"
#: How often Lambda Web Adapter asks the readiness path (its documented 10 ms).
POLL = 0.010
#: The host the exports are asked on: a custom domain (``DJANGO_CUSTOM_DOMAINS``).
HOST = "exports.example.com"
#: Rows of the export whose first byte is timed.
EXPORT_ROWS = 1000
#: The commit issue 16 measured its baseline on, and that figure (readiness, this machine).
BASELINE, BASELINE_MS = "2649a87", 320.0
#: ``-X importtime``'s line: self and cumulative microseconds, nesting, module.
IMPORT_LINE = re.compile(r"^import time:\s+(\d+) \|\s+(\d+) \|( *)(\S+)$", re.MULTILINE)
#: How many packages and modules the import profile lists, and from how many starts.
TOP, PROFILES = 12, 3
WORK = OUT / "coldstart"
#: ``-X importtime`` of one start: {module: (own ms, cumulative ms)}.
Profile = dict[str, tuple[float, float]]


@dataclass
class Start:
    """One cold start, in seconds from exec: readiness, the export's first body byte, and
    the CPU time (user and system) the server had used by each."""

    ready: float
    first_byte: float
    ready_cpu: float
    first_byte_cpu: float


@dataclass
class Target:
    """What is started: ``task_root`` holds ``deploy/run.sh`` and the app, ``python`` runs
    it; ``shipped``: a Lambda package, run as built (no bytecode written)."""

    key: str
    label: str
    task_root: Path
    python: Path
    shipped: bool = False
    runs: list[Start] = field(default_factory=list)
    imports: dict[str, Any] | None = None

    def median_ms(self, attr: str) -> float:
        """The median of ``attr`` over the runs, in ms."""
        return statistics.median(getattr(run, attr) for run in self.runs) * 1000

    def as_dict(self) -> dict[str, Any]:
        """For results.json."""
        return {
            **{k: v for k, v in asdict(self).items() if k not in ("task_root", "python")},
            **{f"{a}_ms": self.median_ms(a) for a in ("ready", "first_byte")},
            **{f"{a}_ms": self.median_ms(a) for a in ("ready_cpu", "first_byte_cpu")},
        }


def lambda_env(port: int, target: Target, database_url: str) -> dict[str, str]:
    """The environment the template and the adapter give ``run.sh`` in the app function,
    on the bench database; ``target.python`` first on ``PATH``."""
    env = adapter_env(port, target.task_root, HOST)
    for name in ("DJANGO_SETTINGS_MODULE", "PYTHONPATH", "REDIS_URL", "MEDIA_ROOT"):
        env.pop(name, None)  # (the template sets none of them: run.sh's defaults)
    runner = {"JOB_RUNNER": "stream_exports.runners.LambdaRunner", "JOB_LAMBDA_FUNCTION": "j"}
    return {
        **env,
        "PATH": f"{target.python.parent}{os.pathsep}{env['PATH']}",
        "DATABASE_URL": database_url,
        "DJANGO_SECRET_KEY": os.environ["DJANGO_SECRET_KEY"],
        "DJANGO_DEBUG": "0",
        "DJANGO_SERVE_STATIC": "1",
        "DJANGO_BEHIND_API_GATEWAY": "1",
        "EXPORTS_BUCKET": "bench-cold-start",
        "STREAM_EXPORTS": json.dumps(runner),
        "PYTHONDONTWRITEBYTECODE": "1",
    }


def get(port: int, path: str, headers: dict[str, str]) -> http.client.HTTPResponse:
    """``GET path`` on the app's port; the caller reads the response."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    conn.request("GET", path, headers=headers)
    return conn.getresponse()


def export_headers(path: str) -> dict[str, str]:
    """What the app gets for ``GET path`` on the custom domain (uncompressed)."""
    added = gateway_headers("", path.split("?")[0], HOST, "GET", "127.0.0.1")
    return {"Accept-Encoding": "identity", **{k.decode(): v.decode() for k, v in added}}


def cpu_seconds(pid: int) -> float:
    """The CPU time (user and system) process ``pid`` has used."""
    times = psutil.Process(pid).cpu_times()
    return times.user + times.system


def one_start(target: Target, env: dict[str, str], export: str, log: Path) -> Start:
    """Start ``run.sh`` (``AWS_LWA_PORT`` in ``env``), ask for readiness as the adapter does,
    then read the export whole; stop the server."""
    port = int(env["AWS_LWA_PORT"])
    with log.open("ab") as out:
        started = time.perf_counter()
        process = subprocess.Popen(
            ["sh", str(target.task_root / "deploy" / "run.sh")],
            cwd=target.task_root,
            env=env,
            stdout=out,
            stderr=out,
        )
    try:
        while True:
            try:
                with get(port, READINESS_PATH, {"Host": f"127.0.0.1:{port}"}) as response:
                    response.read()
                    if response.status == 200:
                        break
            except ConnectionError:
                pass
            if process.poll() is not None or time.perf_counter() - started > 60:
                raise RuntimeError(f"run.sh did not get ready: {log.read_text()[-2000:]}")
            time.sleep(POLL)
        ready, ready_cpu = time.perf_counter(), cpu_seconds(process.pid)
        with get(port, export, export_headers(export)) as response:
            body = response.read(1)
            first_byte = time.perf_counter()
            body += response.read()
        assert response.status == 200, body[-500:]
        trailer = json.loads(body.rstrip(b"\n").rsplit(b"\n", 1)[-1])["_stream"]
        assert trailer["status"] == "complete", trailer
        cpu = cpu_seconds(process.pid)
        return Start(ready - started, first_byte - started, ready_cpu, cpu)
    finally:
        process.terminate()
        process.wait(10)


def start_env(target: Target, database_url: str, **more: str) -> dict[str, str]:
    """``lambda_env`` on a free port, with ``more``."""
    return {**lambda_env(free_port(), target, database_url), **more}


def measure(targets: list[Target], database_url: str, export: str, starts: int) -> None:
    """An untimed start of each target (a checkout's writes its bytecode), then ``starts``
    rounds of one timed start of each."""
    log = WORK / "starts.log"
    for target in targets:
        env = start_env(target, database_url)
        if not target.shipped:
            del env["PYTHONDONTWRITEBYTECODE"]
        one_start(target, env, export, log)
    for round_ in range(starts):
        for target in targets:
            run = one_start(target, start_env(target, database_url), export, log)
            target.runs.append(run)
            print(
                f"[{round_ + 1}/{starts}] {target.label}: ready {run.ready * 1000:.0f} ms, "
                f"first byte {run.first_byte * 1000:.0f} ms",
                flush=True,
            )


def parse_importtime(text: str) -> Profile:
    """``-X importtime``'s lines: {module: (self ms, cumulative ms)}."""
    return {m[4]: (int(m[1]) / 1000, int(m[2]) / 1000) for m in IMPORT_LINE.finditer(text)}


def import_profiles(targets: list[Target], database_url: str, export: str, starts: int) -> None:
    """What each target's start imports through to the export's end
    (``PYTHONPROFILEIMPORTTIME``), ``starts`` starts each, in turns: its ``imports``."""
    profiles: dict[str, list[Profile]] = {target.key: [] for target in targets}
    for index in range(starts):
        for target in targets:
            log = WORK / f"imports-{target.key}-{index}.log"
            log.unlink(missing_ok=True)
            env = start_env(target, database_url, PYTHONPROFILEIMPORTTIME="1")
            one_start(target, env, export, log)
            profiles[target.key].append(parse_importtime(log.read_text()))
    for target in targets:
        target.imports = summarize(profiles[target.key])


def summarize(profiles: list[Profile]) -> dict[str, Any]:
    """Medians over ``profiles``: how many modules, their total time, the largest packages
    (the sum of their modules' own times) and the largest modules by their own time."""

    def median(value: Callable[[Profile], float]) -> float:
        return statistics.median(value(profile) for profile in profiles)

    def package(name: str) -> Callable[[Profile], float]:
        return lambda p: sum(own for m, (own, _) in p.items() if m.partition(".")[0] == name)

    def module(name: str) -> Callable[[Profile], float]:
        return lambda p: p.get(name, (0.0, 0.0))[0]

    names = {m for profile in profiles for m in profile}
    packages = {m.partition(".")[0] for m in names}
    return {
        "modules": median(len),
        "total_ms": median(lambda p: sum(own for own, _ in p.values())),
        "packages": sorted(((p, median(package(p))) for p in packages), key=lambda i: -i[1])[:TOP],
        "largest": sorted(((m, median(module(m))) for m in names), key=lambda i: -i[1])[:TOP],
    }


def checkout_of(rev: str) -> Path:
    """The tree of commit ``rev``, unpacked once under bench/out (``git archive``)."""
    root = WORK / rev
    if not (root / "deploy" / "run.sh").exists():
        root.mkdir(parents=True, exist_ok=True)
        archive = subprocess.run(
            ["git", "archive", rev], cwd=ROOT, capture_output=True, check=True
        ).stdout
        subprocess.run(["tar", "-x", "-C", str(root)], input=archive, check=True)
    return root


def package_of(source: Path, dest: Path) -> Path:
    """The Lambda package that ``source``'s ``python -m deploy package`` builds, unpacked
    into ``dest`` as Lambda unpacks it into ``/var/task``."""
    shutil.rmtree(dest, ignore_errors=True)
    built = subprocess.run(
        [sys.executable, "-m", "deploy", "package", "--output", str(dest)],
        cwd=source,
        env={**os.environ, "PYTHONPATH": str(source)},
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split(" (")[0]  # ("<path> (<size> MB)")
    with zipfile.ZipFile(built) as archive:
        archive.extractall(dest / "task")
    return dest / "task"


def bare_python(name: str, python: str | Path) -> Path:
    """The Python of a venv of ``python`` with no packages, under WORK/``name`` (once)."""
    bare = WORK / name
    if not (bare / "bin" / "python").exists():
        subprocess.run([str(python), "-m", "venv", "--without-pip", str(bare)], check=True)
    return bare / "bin" / "python"


def lambda_runtime() -> Path:
    """A Python of Lambda's runtime version with no packages, as Lambda's (once)."""
    from deploy.package import lambda_python

    return bare_python("lambda-python", lambda_python())


def without_this_checkout() -> Path:
    """A Python with this venv's packages but not its editable install of this checkout:
    a baseline tree run by this venv's own Python would import a module it lacks from
    here (``autodiscover_modules("exports")`` found ``stream_exports.exports``). A path
    in a ``.pth`` file is added as it is: the ``.pth`` files there are not read."""
    python = bare_python("baseline-python", sys.executable)
    site = subprocess.run(
        [str(python), "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"],
        capture_output=True, text=True, check=True,
    ).stdout.strip()  # fmt: skip
    (Path(site) / "dependencies.pth").write_text(f"{sysconfig.get_path('purelib')}\n")
    return python


def targets(baseline: str, packages: bool) -> tuple[list[Target], list[str]]:
    """This checkout, ``baseline``'s tree, and with ``packages`` the Lambda package of
    each; and why any could not be made."""
    here = Path(sys.executable)
    found = [Target("checkout", "this checkout", ROOT, here)]
    if baseline:
        found.append(
            Target("baseline", f"{baseline}", checkout_of(baseline), without_this_checkout())
        )
    notes = []
    if packages:
        try:
            python = lambda_runtime()
            for source in found[:]:
                task = package_of(source.task_root, WORK / f"package-{source.key}")
                label = f"Lambda package of {source.label}"
                found.append(Target(f"package-{source.key}", label, task, python, shipped=True))
        except (subprocess.CalledProcessError, RuntimeError) as exc:
            notes.append(f"the Lambda packages were not measured: {exc}")
    return found, notes


def section(
    database_url: str, sign: Callable[[str, dict[str, str]], str], starts: int, baseline: str,
    packages: bool,
) -> dict[str, Any]:  # fmt: skip
    """Every target's starts, and the checkouts' import profiles, for results.json."""
    WORK.mkdir(parents=True, exist_ok=True)
    found, notes = targets(baseline, packages)
    export = sign("/exports/orders.ndjson", {"limit": str(EXPORT_ROWS)})
    measure(found, database_url, export, starts)
    checkouts = [target for target in found if not target.shipped]
    import_profiles(checkouts, database_url, export, min(starts, PROFILES))
    return {
        "starts": starts,
        "baseline": baseline,
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "targets": [t.as_dict() for t in found],
        "notes": notes,
    }


def paired(target: dict[str, Any], base: dict[str, Any], attr: str) -> float:
    """The median over rounds of ``target``'s ``attr`` over ``base``'s in the same round
    (their starts follow each other, under the same load)."""
    pairs = zip(target["runs"], base["runs"], strict=True)
    return statistics.median(mine[attr] / theirs[attr] for mine, theirs in pairs)


def goal_lines(cold: dict[str, Any]) -> list[str]:
    """Issue 16's goal, met or missed: readiness and first byte at most half the
    baseline's, for the checkout and for its Lambda package (against ``BASELINE_MS`` when
    no baseline ran)."""
    by = {t["key"]: t for t in cold["targets"]}
    lines = []
    for key in ("checkout", "package-checkout"):
        if key not in by:
            continue
        target, base = by[key], by.get(key.replace("checkout", "baseline"))
        for attr, what in (("ready", "readiness"), ("first_byte", "first byte of an export")):
            mine = target[f"{attr}_ms"]
            if base:
                ratio = paired(target, base, attr)
                cpu = paired(target, base, f"{attr}_cpu")
                against = (
                    f"{base['label']}'s {base[f'{attr}_ms']:.0f} ms in this run: {ratio:.2f}x "
                    f"(CPU {cpu:.2f}x), the median of the rounds' ratios"
                )
            else:
                ratio = mine / BASELINE_MS
                against = f"the issue's {BASELINE_MS:.0f} ms: {ratio:.2f}x"
            lines.append(
                f"- {'met' if ratio <= 0.5 else '**missed**'}: cold start halved vs the "
                f"{BASELINE_MS:.0f} ms baseline, {target['label']}, {what}: {mine:.0f} ms "
                f"against {against}"
            )
    return lines


def report(cold: dict[str, Any]) -> list[str]:
    """The cold-start section of results.md (and bench/README.md): the table, the goal, the
    import profiles."""
    found = cold["targets"]
    lines = [
        f"`deploy/run.sh` started as Lambda Web Adapter starts it, with the template's "
        f"environment; median of {cold['starts']} starts per target, taken in turns "
        f"({cold['date']}). Readiness: the first 200 of `{READINESS_PATH}`, asked every "
        f"10 ms; first byte: of a signed `?limit={EXPORT_ROWS}` export asked for then. Both "
        "from the exec of `run.sh`; CPU is the server's, user and system.",
        "",
        "| started | readiness ms | first byte ms | CPU by readiness ms | CPU by first byte ms |",
        "|---|---:|---:|---:|---:|",
        *(
            f"| {t['label']} | {t['ready_ms']:.0f} | {t['first_byte_ms']:.0f} "
            f"| {t['ready_cpu_ms']:.0f} | {t['first_byte_cpu_ms']:.0f} |"
            for t in found
        ),
        "",
        *goal_lines(cold),
        *(f"- not measured: {note}" for note in cold["notes"]),
    ]
    profiled = [t for t in found if t.get("imports")]
    if profiled:
        lines += [
            "",
            "What each start imports, through the export's end (`python -X importtime`, median "
            "of 3 starts; the times include the profiler's own):",
            "",
            *(
                f"- {t['label']}: {t['imports']['modules']:.0f} modules, "
                f"{t['imports']['total_ms']:.0f} ms"
                for t in profiled
            ),
            "",
            "| rank | "
            + " | ".join(f"{t['label']}: package, ms" for t in profiled)
            + " | "
            + " | ".join(f"{t['label']}: module, own ms" for t in profiled)
            + " |",
            "|---:|" + "---|" * (2 * len(profiled)),
        ]
        for rank in range(TOP):
            cells = [
                *(cell(t["imports"]["packages"], rank) for t in profiled),
                *(cell(t["imports"]["largest"], rank) for t in profiled),
            ]
            lines.append(f"| {rank + 1} | " + " | ".join(cells) + " |")
    return lines


def cell(ranked: list[tuple[str, float]], rank: int) -> str:
    """``name ms`` of the ``rank``-th of ``ranked``, or nothing."""
    if rank >= len(ranked):
        return ""
    name, ms = ranked[rank]
    return f"`{name}` {ms:.1f}"
