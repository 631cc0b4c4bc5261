"""Container health check: exit 0 when healthy, 1 with a one-line reason otherwise.

    python /app/docker/healthcheck.py                   API: GET /healthz on $PORT answers 200
    python /app/docker/healthcheck.py --queue NAME ...  worker: each queue it consumes answers

The API check is the image's HEALTHCHECK and the ECS container health check; it uses the
standard library only, so it costs a few milliseconds every interval. A worker has no HTTP
port: its check asks SQS for the URL of each queue it consumes (the same endpoint, credentials
and name prefix as the worker), which fails while the AWS endpoint or the queue is missing.
"""

from __future__ import annotations

import argparse
import os
import sys
import urllib.error
import urllib.request


def check_api(port: int, timeout: float) -> str | None:
    """None when GET /healthz answers 200, else why not."""
    url = f"http://127.0.0.1:{port}/healthz"
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            return None if response.status == 200 else f"{url} answered {response.status}"
    except (urllib.error.URLError, OSError) as exc:
        return f"{url}: {exc}"


def check_queues(queues: list[str], timeout: float) -> str | None:
    """None when every queue's URL resolves, else why not."""
    import boto3
    from botocore.config import Config
    from botocore.exceptions import BotoCoreError, ClientError

    from shared.settings import PlatformSettings

    settings = PlatformSettings()
    sqs = boto3.client(
        "sqs",
        region_name=settings.aws_region,
        endpoint_url=settings.aws_endpoint_url,
        config=Config(connect_timeout=timeout, read_timeout=timeout,
                      retries={"max_attempts": 1}),
    )
    for queue in queues:
        try:
            sqs.get_queue_url(QueueName=settings.resource_name(queue))
        except (BotoCoreError, ClientError) as exc:
            return f"queue {queue}: {exc}"
    return None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--queue", action="append", default=[], help="a queue the worker consumes")
    parser.add_argument("--timeout", type=float, default=2.0)
    args = parser.parse_args(argv)
    if args.queue:
        problem = check_queues(args.queue, args.timeout)
    else:
        problem = check_api(int(os.environ.get("PORT", "8000")), args.timeout)
    if problem:
        print(f"unhealthy: {problem}", file=sys.stderr)  # noqa: T201
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
