#!/bin/sh
# The Lambda handler under Lambda Web Adapter: start the app server on $AWS_LWA_PORT.
# uvicorn serves ASGI, so every stream is an async iterator that Django does not buffer;
# one worker (a Lambda sandbox serves one request at a time), no access log, fast start:
# asyncio and h11 as the package's plain uvicorn has them, no WebSocket protocol and no
# lifespan (Django has neither), so nothing else is imported. No proxy headers: the app
# sees the adapter's loopback address, which is how it knows the gateway's headers
# (x-amzn-request-context, X-Forwarded-*) came through the adapter
# (stream_exports.aws.gateway); it takes the client's address from X-Forwarded-For itself.
set -e
cd "$(dirname "$0")/.."
export DJANGO_SETTINGS_MODULE="${DJANGO_SETTINGS_MODULE:-project.settings}"
export PYTHONPATH="${LAMBDA_TASK_ROOT:-$PWD}${PYTHONPATH:+:$PYTHONPATH}"
exec python -m uvicorn project.asgi:application \
    --host 127.0.0.1 --port "${AWS_LWA_PORT:-8080}" \
    --workers 1 --no-access-log --no-proxy-headers --timeout-keep-alive 60 \
    --loop asyncio --http h11 --ws none --lifespan off
