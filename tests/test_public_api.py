"""The public import paths stay put (docs/api.md lists them); paths that moved keep working
until 1.0, with a DeprecationWarning that names the new one."""

from __future__ import annotations

import importlib
import sys

import pytest

#: What a host project imports, and from where (docs/api.md).
PUBLIC = {
    "stream_exports.datasets": ["Dataset", "register", "registry"],
    "stream_exports.filters": ["boolean", "choice", "date", "datetime", "decimal", "integer"],
    "stream_exports.formats": ["Format", "register_format", "get_format", "formats"],
    "stream_exports.exports": ["Export", "export_response"],
    "stream_exports.links": ["sign_url", "revoke_links"],
    "stream_exports.runners": [
        "ThreadRunner",
        "WorkerRunner",
        "ImmediateRunner",
        "DjangoTaskRunner",
        "CeleryRunner",
        "LambdaRunner",
        "ZappaRunner",
        "get_runner",
    ],
    "stream_exports.admin": ["ExportActionsMixin", "ExportMixin", "revoke_signed_links"],
    "stream_exports.models": ["ExportJob", "JobStatus", "AuditRecord", "LinkRevocation"],
    "stream_exports.signals": ["job_finished"],
    "stream_exports.notify": ["JobLinks", "links_for"],
    "stream_exports.middleware": ["GZipMiddleware"],
    "stream_exports.conf": ["conf"],
    "stream_exports.http.redaction": ["HideSignatures", "ExceptionReporter"],
    "stream_exports.aws.settings": ["gateway_settings", "behind_api_gateway", "on_lambda"],
    "stream_exports.aws.gateway": ["GatewayPrefixMiddleware", "ScriptPrefixStaticFilesStorage"],
    "stream_exports.aws.events": ["lambda_event"],
}


@pytest.mark.parametrize(("path", "names"), PUBLIC.items())
def test_every_public_name_imports_from_its_public_path(path, names):
    module = importlib.import_module(path)
    for name in [*names, *getattr(module, "__all__", [])]:
        assert getattr(module, name) is not None, f"{path}.{name}"


#: Module paths that moved: (old, new, a name both serve).
MOVED_MODULES = [
    ("stream_exports.jobs.runners", "stream_exports.runners.local", "ThreadRunner"),
    ("stream_exports.aws.runner", "stream_exports.runners.on_lambda", "LambdaRunner"),
    ("stream_exports.tasks.celery", "stream_exports.runners.on_celery", "CeleryRunner"),
    ("stream_exports.tasks.django", "stream_exports.runners.on_django_tasks", "run_export_job"),
    ("stream_exports.tasks.zappa", "stream_exports.runners.on_zappa", "run_export_job"),
]


@pytest.mark.parametrize(("old", "new", "name"), MOVED_MODULES)
def test_a_module_that_moved_still_serves_its_names_with_a_warning(old, new, name):
    sys.modules.pop(old, None)  # (a fresh import: the warning is given as it is imported)
    with pytest.warns(DeprecationWarning, match=f"{old} moved to {new.rsplit('.', 1)[0]}"):
        moved = importlib.import_module(old)
    assert getattr(moved, name) is getattr(importlib.import_module(new), name)


#: Names that moved out of a module that stays: (module, name, its new dotted path).
MOVED_NAMES = [
    ("stream_exports.models", "Status", "stream_exports.models.JobStatus"),
    ("stream_exports.models", "Outcome", "stream_exports.models.AuditOutcome"),
    ("stream_exports.http.access", "sign_url", "stream_exports.links.sign_url"),
]


@pytest.mark.parametrize(("module", "name", "new"), MOVED_NAMES)
def test_a_name_that_moved_still_imports_with_a_warning(module, name, new):
    with pytest.warns(DeprecationWarning, match=new.replace(".", r"\.")):
        value = getattr(importlib.import_module(module), name)
    home, _, attribute = new.rpartition(".")
    assert value is getattr(importlib.import_module(home), attribute)


def test_a_name_no_module_had_is_still_an_attribute_error():
    with pytest.raises(AttributeError):
        importlib.import_module("stream_exports.models").NoSuchModel  # noqa: B018
