"""``python -m deploy``: package, deploy, switch an API to streaming, verify a URL.

    python -m deploy package [--output build]
    python -m deploy up --stack NAME --bucket BUCKET --database-url-secret S --secret-key-secret S
    python -m deploy enable-streaming --api-id ID --stage prod
    python -m deploy verify URL
    python -m deploy local [--scale S] [--port 9000]   (the app behind AWS's limits, here)
    python -m deploy openapi [--output FILE] [--function-arn ARN]   (API Gateway import body)

AWS credentials and the region come from boto3's usual places (``AWS_PROFILE``,
``AWS_REGION``, ...) or ``--region``.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from . import local, openapi, package, stack, streaming, verify


def clients(region: str | None) -> dict[str, Any]:
    """The boto3 clients the commands use, in one region."""
    import boto3

    session = boto3.session.Session(region_name=region)
    return {name: session.client(name) for name in ("s3", "cloudformation", "apigateway")}


def run_package(args: argparse.Namespace) -> int:
    path = package.build(args.output)
    print(f"{path} ({path.stat().st_size / 1e6:.1f} MB)")
    return 0


def run_up(args: argparse.Namespace) -> int:
    path = Path(args.package) if args.package else package.build(args.output)
    parameters = {
        "DatabaseUrlSecret": args.database_url_secret,
        "SecretKeySecret": args.secret_key_secret,
        "StageName": args.stage,
    }
    if args.custom_domains:
        parameters["CustomDomains"] = args.custom_domains
    if args.adapter_layer_version:
        parameters["AdapterLayerVersion"] = str(args.adapter_layer_version)
    found = stack.deploy(clients(args.region), path, args.stack, args.bucket, parameters)
    print(f"deployed {args.stack}: {found['ApiUrl']}")
    print(f"check it: python -m deploy verify '{found['ApiUrl']}exports/orders.ndjson?sig=...'")
    return 0


def run_enable_streaming(args: argparse.Namespace) -> int:
    api = clients(args.region)["apigateway"]
    for route in streaming.enable_streaming(api, args.api_id, args.stage):
        print(f"streaming: {route}")
    print(f"deployed stage {args.stage}")
    return 0


def run_verify(args: argparse.Namespace) -> int:
    arrivals = verify.fetch(args.url, timeout=args.timeout)
    verify.report(arrivals, sys.stdout)
    problems = arrivals.problems()
    for problem in problems:
        print(f"FAIL: {problem}", file=sys.stderr)
    if not problems:
        print("OK: streamed, and the trailer says complete")
    return 1 if problems else 0


def parser() -> argparse.ArgumentParser:
    main = argparse.ArgumentParser(prog="python -m deploy", description=__doc__.split("\n")[0])
    main.add_argument("--region", help="AWS region (default: boto3's)")
    commands = main.add_subparsers(dest="command", required=True)

    build = argparse.ArgumentParser(add_help=False)
    build.add_argument("--output", type=Path, default=package.ROOT / "build")

    commands.add_parser("package", parents=[build], help="build the Lambda zip").set_defaults(
        run=run_package
    )
    up = commands.add_parser("up", parents=[build], help="package, then create/update the stack")
    up.add_argument("--stack", required=True, help="CloudFormation stack name")
    up.add_argument("--bucket", required=True, help="S3 bucket for the package")
    up.add_argument("--database-url-secret", required=True, help="Secrets Manager name/ARN")
    up.add_argument("--secret-key-secret", required=True, help="Secrets Manager name/ARN")
    up.add_argument("--stage", default="prod")
    up.add_argument(
        "--custom-domains", help="the API's custom domains (comma-separated), hosts the app accepts"
    )
    up.add_argument("--adapter-layer-version", type=int)
    up.add_argument("--package", help="an already built zip (skips packaging)")
    up.set_defaults(run=run_up)

    enable = commands.add_parser("enable-streaming", help="switch an API's routes to STREAM")
    enable.add_argument("--api-id", required=True)
    enable.add_argument("--stage", required=True)
    enable.set_defaults(run=run_enable_streaming)

    check = commands.add_parser("verify", help="check that a deployed export URL streams")
    check.add_argument("url")
    check.add_argument("--timeout", type=float, default=60)
    check.set_defaults(run=run_verify)

    emulate = commands.add_parser(
        "local", help="run.sh as Lambda Web Adapter starts it, behind AWS's streaming limits"
    )
    local.add_arguments(emulate)
    emulate.set_defaults(run=local.run)

    described = commands.add_parser(
        "openapi", help="the OpenAPI body for API Gateway's import, every route streaming"
    )
    openapi.add_arguments(described)
    described.set_defaults(run=openapi.run)
    return main


def main(argv: list[str] | None = None) -> int:
    from botocore.exceptions import BotoCoreError, ClientError
    from requests import RequestException

    args = parser().parse_args(argv)
    try:
        return args.run(args)
    except (package.PackagingFailed, BotoCoreError, ClientError, RequestException) as exc:
        print(f"{args.command} failed: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    raise SystemExit(main())
