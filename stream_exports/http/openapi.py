"""An OpenAPI 3.1 description of the exports API, generated from the registry.

Each dataset gets its own paths (``<name>.<format>`` per format, ``<name>/jobs``)
so its filters are typed query parameters and its rows have a schema; the job
paths are shared. What a parameter is and which format takes it comes from
``core.query.OPTIONS`` and the dataset's filters, so the document cannot drift
from what the views parse.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from django.conf import settings
from django.core.exceptions import FieldDoesNotExist
from django.db import models
from django.urls import get_script_prefix, reverse

from .. import __version__
from ..core.datasets import Dataset
from ..core.filters import Filter
from ..core.formats.base import Format
from ..core.formats.registry import formats
from ..core.query import OPTIONS, SIGNATURE, options_of
from .responses import EVENT_STREAM, TEXT

__all__ = ["ERROR_STATUSES", "JOB_ID", "document", "filter_schema", "record_schema"]

JSON = "application/json"
JOB_ID = "job_id"
_ANY_JOB = "00000000-0000-0000-0000-000000000000"
_INT64 = {"type": "integer", "format": "int64", "minimum": -(2**63), "maximum": 2**63 - 1}

#: Every status an endpoint may refuse with, and when.
ERROR_STATUSES = {
    "400": "A parameter cannot be used; `param` names it.",
    "401": "Not signed in and no signed URL.",
    "403": "Not allowed: a bad or expired signature, rows a signed URL was not made for "
    "(`param`: `after`), a dataset the caller may no longer export (a job's download), "
    "or a CSRF failure.",
    "404": "No dataset that the caller may export (unknown and forbidden alike), or no such "
    "job that the caller may see.",
    "406": "The client accepts none of the encodings the server offers, nor identity.",
    "409": "The job has already finished (cancel), or has no file (download).",
    "429": "Too many streams open, or jobs queued or running (the error names the cap); "
    "retry after `Retry-After` seconds.",
    "503": "The database is unreachable; retry after `Retry-After` seconds.",
}

_FLAG_HELP = {
    "fields": "Field names, comma-separated, in the order wanted (default: all).",
    "after": "Resume after this value of the cursor field (a signed URL's own `after` is "
    "its floor: never below it).",
    "limit": "At most this many rows (a signed URL's: over every request it makes, "
    "counted from its `after`).",
    "trailer": "End with the trailer line (default true).",
    "bom": "Start with a UTF-8 byte-order mark, for spreadsheets (default false).",
    "labels": "Headers and choice values as people read them: the fields' labels and the "
    "choices' labels (default false: names and stored values).",
    "download": "Send `Content-Disposition: attachment` with a file name.",
}

_FORM_FORMATS = {"datetime": "date-time", "date": "date"}


def filter_schema(declared: Filter) -> dict[str, Any]:
    """The JSON Schema of a filter's query value, from its ``type`` and form field."""
    form_field = declared.form_field
    kind = declared.type
    if kind == "boolean":
        return {"type": "boolean"}
    if kind in _FORM_FORMATS:
        return {"type": "string", "format": _FORM_FORMATS[kind]}
    if kind == "decimal":
        return {"type": "string", "format": "decimal", "pattern": r"^-?[0-9]+(\.[0-9]+)?$"}
    if kind == "integer":
        schema: dict[str, Any] = {"type": "integer", "format": "int64"}
        for key, attr in (("minimum", "min_value"), ("maximum", "max_value")):
            if getattr(form_field, attr, None) is not None:
                schema[key] = getattr(form_field, attr)
        return schema
    if kind == "choice":
        choices = getattr(form_field, "choices", ())
        return {"type": "string", "enum": [str(value) for value, _ in choices]}
    schema = {"type": "string"}
    if max_length := getattr(form_field, "max_length", None):
        schema["maxLength"] = max_length
    return schema


_FIELD_TYPES: dict[str, dict[str, Any]] = {
    "BooleanField": {"type": "boolean"},
    "FloatField": {"type": "number"},
    "DecimalField": {"type": "string", "format": "decimal"},
    "DateTimeField": {"type": "string", "format": "date-time"},
    "DateField": {"type": "string", "format": "date"},
    "TimeField": {"type": "string", "format": "time"},
    "DurationField": {"type": "string"},
    "UUIDField": {"type": "string", "format": "uuid"},
    "JSONField": {},
}


def model_field_schema(field: models.Field) -> dict[str, Any]:
    """How the exports write ``field``'s values, as JSON Schema (JSON fields: anything)."""
    target = getattr(field, "target_field", None) if field.is_relation else None
    if isinstance(target, models.Field):  # a foreign key: its target's key
        return model_field_schema(target)
    internal = field.get_internal_type()
    if internal.endswith("IntegerField") or internal.endswith("AutoField"):
        schema = dict(_INT64)
    else:
        schema = dict(_FIELD_TYPES.get(internal, {"type": "string"}))
    if field.null and "type" in schema:
        schema["type"] = [schema["type"], "null"]
    return schema


def _field_schema(dataset: Dataset, name: str) -> dict[str, Any]:
    try:
        found = dataset.model._meta.get_field(name)
    except FieldDoesNotExist:  # an annotation or a lookup: anything
        return {}
    return model_field_schema(found) if isinstance(found, models.Field) else {}


def record_schema(dataset: Dataset) -> dict[str, Any]:
    """One exported row of ``dataset``: its fields, typed as the NDJSON writes them."""
    return {
        "type": "object",
        "properties": {name: _field_schema(dataset, name) for name in dataset.fields},
    }


def _query(name: str, schema: dict[str, Any], description: str = "") -> dict[str, Any]:
    parameter: dict[str, Any] = {"name": name, "in": "query", "required": False, "schema": schema}
    if description:
        parameter["description"] = description
    return parameter


def _option_schema(dataset: Dataset, name: str) -> dict[str, Any]:
    if name == "fields":
        items = {"type": "string", "enum": list(dataset.fields)}
        return {"type": "array", "items": items, "minItems": 1, "uniqueItems": True}
    if name == "after":
        return model_field_schema(dataset.cursor_field)
    if name == "limit":
        return {"type": "integer", "format": "int64", "minimum": 1, "maximum": 2**63 - 1}
    return {"type": "boolean"}


def _signature() -> dict[str, Any]:
    return _query(SIGNATURE, {"type": "string"}, "A signed URL's signature (acts as its user).")


def export_parameters(dataset: Dataset, format: Format) -> list[dict[str, Any]]:
    """The query parameters of ``dataset``'s export in ``format``: filters, options, ``sig``."""
    parameters = [
        _query(name, filter_schema(declared), declared.help)
        for name, declared in dataset.filters.items()
    ]
    for name in options_of(format):
        parameter = _query(name, _option_schema(dataset, name), _FLAG_HELP.get(name, ""))
        if name == "fields":
            parameter.update(style="form", explode=False)
        parameters.append(parameter)
    return [*parameters, _signature()]


def _errors(*statuses: str) -> dict[str, Any]:
    return {status: {"$ref": f"#/components/responses/{status}"} for status in statuses}


def _body(media_type: str, schema: dict[str, Any], description: str) -> dict[str, Any]:
    return {"description": description, "content": {media_type: {"schema": schema}}}


def _stream_errors() -> dict[str, Any]:
    return _errors("401", "403", "404", "429", "503")


def export_operation(dataset: Dataset, format: Format) -> dict[str, Any]:
    """``GET <name>.<format>``."""
    schema: dict[str, Any] = {"type": "string", "description": format.description}
    if format.line_per_record:
        schema = {"$ref": f"#/components/schemas/{_record_name(dataset)}", **schema}
        del schema["type"]
    return {
        "operationId": f"export_{format.name}_{_identifier(dataset.name)}",
        "summary": f"{dataset.name} as {format.title}, streamed",
        "tags": ["exports"],
        "parameters": export_parameters(dataset, format),
        "responses": {
            "200": _body(format.media_type, schema, "The rows, streamed."),
            **_errors("400", *(("406",) if format.compressible else ())),
            **_stream_errors(),
        },
    }


def job_start_operation(dataset: Dataset) -> dict[str, Any]:
    """``POST <name>/jobs``: the export's filters and the options a job keeps (of any
    format), plus ``format`` and ``notify``."""
    kept: dict[str, dict[str, Any]] = {}
    for format in formats():
        for parameter in export_parameters(dataset, format):
            if _kept_by_jobs(parameter["name"]):
                kept.setdefault(parameter["name"], parameter)
    names = [format.name for format in formats()]
    chosen = _query("format", {"type": "string", "enum": names, "default": "ndjson"})
    notify = _query(
        "notify",
        {"type": "boolean", "default": True},
        "Mail the job's owner when it ends (if `NOTIFY_BY_EMAIL` is on and they have an "
        "address); `notify=0`: not for this job.",
    )
    return {
        "operationId": f"start_job_{_identifier(dataset.name)}",
        "summary": f"Export {dataset.name} in the background",
        "tags": ["jobs"],
        "parameters": [*kept.values(), chosen, notify],
        "responses": {
            "202": _body(JSON, {"$ref": "#/components/schemas/Job"}, "The new job."),
            "200": _body(
                JSON,
                {"$ref": "#/components/schemas/Job"},
                "The job this signed URL started already (posted again).",
            ),
            **_errors("400", "401", "403", "404", "429", "503"),
        },
    }


def _kept_by_jobs(name: str) -> bool:
    option = OPTIONS.get(name)
    return option is None or option.kept_by_jobs


def _identifier(name: str) -> str:
    return name.replace("-", "_")


def _record_name(dataset: Dataset) -> str:
    return f"{_identifier(dataset.name)}_record"


def _job_operation(name: str, summary: str, responses: dict[str, Any]) -> dict[str, Any]:
    return {
        "operationId": name,
        "summary": summary,
        "tags": ["jobs"],
        "parameters": [
            {
                "name": JOB_ID,
                "in": "path",
                "required": True,
                "schema": {"type": "string", "format": "uuid"},
            },
            _signature(),
        ],
        "responses": responses,
    }


def job_paths() -> dict[str, Any]:
    """The paths every job shares: status, events, log, download, cancel."""
    job = {"$ref": "#/components/schemas/Job"}
    follow = _query("follow", {"type": "boolean", "default": True}, "Keep following (default).")
    last = _query(
        "lastEventId",
        {"type": "integer", "minimum": 0, "maximum": 10**18 - 1},
        "As `Last-Event-ID`.",
    )
    events = _job_operation(
        "job_events",
        "The job's status events (server-sent events)",
        {
            "200": _body(EVENT_STREAM, {"$ref": "#/components/schemas/JobEvent"}, "SSE"),
            **_errors("400"),
            **_stream_errors(),
        },
    )
    events["parameters"].append(last)
    log = _job_operation(
        "job_log",
        "The job's log, then live lines",
        {"200": _body(TEXT, {"type": "string"}, "Log lines."), **_stream_errors()},
    )
    log["parameters"].append(follow)
    files = {format.media_type: {"schema": {"type": "string"}} for format in formats()}
    download = _job_operation(
        "job_download",
        "The finished file",
        {
            "200": {"description": "The file, streamed.", "content": files},
            "302": {"description": "Redirect to a signed, expiring storage URL (S3)."},
            **_errors("406", "409"),
            **_stream_errors(),
        },
    )
    return {
        _job_path("job"): {
            "get": _job_operation(
                "job_detail",
                "The job's status",
                {"200": _body(JSON, job, "The job."), **_errors("401", "403", "404", "503")},
            )
        },
        _job_path("job-events"): {"get": events},
        _job_path("job-log"): {"get": log},
        _job_path("job-download"): {"get": download},
        _job_path("job-cancel"): {
            "post": _job_operation(
                "job_cancel",
                "Stop a queued or running job",
                {
                    "202": _body(JSON, job, "The job, cancelling."),
                    **_errors("401", "403", "404", "409", "503"),
                },
            )
        },
    }


def app_path(route: str, *args: Any) -> str:
    """The path of ``route`` inside the app (less the script prefix, which is the server)."""
    path = reverse(f"stream_exports:{route}", args=args)
    prefix = get_script_prefix()
    return path[len(prefix) - 1 :] if path.startswith(prefix) else path


def _job_path(route: str) -> str:
    return app_path(route, _ANY_JOB).replace(_ANY_JOB, "{" + JOB_ID + "}")


def dataset_paths(dataset: Dataset) -> dict[str, Any]:
    """``dataset``'s export paths (one per format) and its jobs path."""
    paths: dict[str, Any] = {
        app_path(format.name, dataset.name): {"get": export_operation(dataset, format)}
        for format in formats()
    }
    paths[app_path("jobs", dataset.name)] = {"post": job_start_operation(dataset)}
    return paths


def service_paths() -> dict[str, Any]:
    """The listing, this document, revoking the caller's links and the health check."""
    listing = {"type": "array", "items": {"$ref": "#/components/schemas/Dataset"}}
    signed = {"parameters": [_signature()]}
    revoked = {
        "type": "object",
        "required": ["revoked_at", "message"],
        "properties": {
            "revoked_at": {"type": "string", "format": "date-time"},
            "message": {"type": "string"},
        },
    }
    return {
        app_path("revoke-links"): {
            "post": {
                "operationId": "revoke_links",
                "summary": "End every signed URL made for the caller until now",
                "description": "A session needs the CSRF token (`X-CSRFToken`).",
                "tags": ["access"],
                **signed,
                "responses": {
                    "200": _body(JSON, revoked, "Revoked: those links are refused from now on."),
                    **_errors("401", "403", "503"),
                },
            }
        },
        app_path("index"): {
            "get": {
                "operationId": "dataset_list",
                "summary": "The datasets the caller may export",
                "tags": ["exports"],
                **signed,
                "responses": {
                    "200": _body(JSON, listing, "The datasets."),
                    **_errors("401", "403", "503"),
                },
            }
        },
        app_path("openapi"): {
            "get": {
                "operationId": "openapi",
                "summary": "This document (the caller's datasets only)",
                "tags": ["exports"],
                **signed,
                "responses": {
                    "200": _body(JSON, {"type": "object"}, "OpenAPI 3.1."),
                    **_errors("401", "403", "503"),
                },
            }
        },
        app_path("health"): {
            "get": {
                "operationId": "health",
                "summary": "Ready (touches nothing)",
                "tags": ["service"],
                "security": [],
                "responses": {"200": _body(TEXT, {"type": "string"}, "ok")},
            }
        },
    }


def components(datasets: Iterable[Dataset]) -> dict[str, Any]:
    """Schemas (rows, jobs, datasets, errors), error responses and the security schemes."""
    error = {
        "type": "object",
        "required": ["error"],
        "properties": {"error": {"type": "string"}, "param": {"type": "string"}},
    }
    nullable_time = {"type": ["string", "null"], "format": "date-time"}
    status: dict[str, Any] = {
        "type": "object",
        "required": ["id", "dataset", "format", "status"],
        "properties": {
            "id": {"type": "string", "format": "uuid"},
            "dataset": {"type": "string"},
            "format": {"type": "string", "enum": [format.name for format in formats()]},
            "status": {
                "type": "string",
                "enum": ["queued", "running", "succeeded", "failed", "cancelled"],
            },
            "rows": {"type": "integer"},
            "total": {"type": ["integer", "null"]},
            "bytes": {"type": "integer"},
            "error": {"type": ["string", "null"]},
            "params": {"type": "object"},
            "created_at": {"type": "string", "format": "date-time"},
            "started_at": nullable_time,
            "finished_at": nullable_time,
        },
    }
    links = {"type": "object", "additionalProperties": {"type": "string"}}
    job = {
        **status,
        "required": [*status["required"], "links"],
        "properties": {**status["properties"], "links": links},
    }
    event = {
        "type": "object",
        "description": "One event of the stream: `progress`, then one `done`.",
        "required": ["event", "id", "data"],
        "properties": {
            "event": {"type": "string", "enum": ["progress", "done"]},
            "id": {"type": "string", "pattern": "^[0-9]+$"},
            "data": {
                "type": "string",
                "contentMediaType": JSON,
                "contentSchema": {"$ref": "#/components/schemas/JobStatus"},
            },
            "retry": {"type": "integer", "minimum": 0},
        },
    }
    described = {
        "type": "object",
        "required": ["name", "fields", "urls"],
        "properties": {
            "name": {"type": "string"},
            "label": {"type": "string"},
            "fields": {"type": "array", "items": {"type": "string"}},
            "cursor": {"type": "string"},
            "filters": {"type": "array", "items": {"type": "object"}},
            "urls": {"type": "object", "additionalProperties": {"type": "string"}},
        },
    }
    schemas = {_record_name(d): record_schema(d) for d in datasets}
    errors = {
        status: _body(JSON, {"$ref": "#/components/schemas/Error"}, description)
        for status, description in ERROR_STATUSES.items()
    }
    session = {"type": "apiKey", "in": "cookie", "name": settings.SESSION_COOKIE_NAME}
    return {
        "schemas": {
            **schemas,
            "Error": error,
            "Job": job,
            "JobStatus": status,
            "JobEvent": event,
            "Dataset": described,
        },
        "responses": errors,
        "securitySchemes": {"session": session},
    }


def document(datasets: Iterable[Dataset], title: str = "stream_exports") -> dict[str, Any]:
    """The OpenAPI 3.1 document of the exports API for ``datasets``.

    Paths are inside the app; ``servers`` is the script prefix (an API Gateway stage).
    Requests are authenticated by the session cookie or by a signed URL's ``sig``.
    """
    datasets = list(datasets)
    paths: dict[str, Any] = service_paths()
    for dataset in datasets:
        paths.update(dataset_paths(dataset))
    paths.update(job_paths())
    return {
        "openapi": "3.1.0",
        "info": {"title": title, "version": __version__},
        "servers": [{"url": get_script_prefix().rstrip("/") or "/"}],
        "security": [{"session": []}, {}],
        "paths": paths,
        "components": components(datasets),
    }
