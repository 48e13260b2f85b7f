"""S3 on loopback: moto's server, really started, and storages pointed at it."""

from __future__ import annotations

import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import boto3
import requests

from .servers import free_port
from .settings import s3_storages

#: moto accepts any credentials; these are not secrets.
ENV = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing"}


@contextmanager
def moto_server(log: Path) -> Iterator[str]:
    """moto's S3 server on a free loopback port; yields its endpoint URL."""
    port = free_port()
    command = [str(Path(sys.executable).parent / "moto_server"), "-H", "127.0.0.1", "-p", str(port)]
    with log.open("wb") as out:
        process = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT)
    endpoint = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                requests.get(endpoint, timeout=1)
                break
            except (requests.ConnectionError, requests.Timeout):  # not up, or slow to start
                assert time.monotonic() < deadline, log.read_text()
                time.sleep(0.1)
        yield endpoint
    finally:
        process.terminate()
        process.wait(10)


def client(endpoint: str) -> Any:
    keys = {"aws_access_key_id": "testing", "aws_secret_access_key": "testing"}
    return boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1", **keys)


def new_bucket(endpoint: str) -> str:
    name = f"jobs-{uuid.uuid4().hex[:12]}"
    client(endpoint).create_bucket(Bucket=name)
    return name


def storages_setting(endpoint: str, bucket: str) -> dict[str, Any]:
    """``STORAGES`` with a "jobs" alias on the bucket (as tests/settings.py makes from env)."""
    keys = {"access_key": ENV["AWS_ACCESS_KEY_ID"], "secret_key": ENV["AWS_SECRET_ACCESS_KEY"]}
    return s3_storages(bucket, endpoint, **keys)
