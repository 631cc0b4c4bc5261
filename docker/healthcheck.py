"""Container health check: exit 0 when healthy, 1 with a one-line reason otherwise.

    python /app/docker/healthcheck.py                   API: GET /healthz on $PORT answers 200
    python /app/docker/healthcheck.py --queue NAME ... --relay SERVICE-outbox
                                                        worker: each queue's loop and the outbox
                                                        relay make progress

The API check is the image's HEALTHCHECK and the ECS container health check; it uses the
standard library only, so it costs a few milliseconds every interval. A worker has no HTTP
port: its consumer of each queue touches a liveness file whenever a receive call completes
(or a long batch's visibility is extended), and the check fails when one of the named queues'
files is older than WORKER_STALL_SECONDS or missing (see shared/health.py). A missing queue,
an unreachable endpoint or a hung loop all end there; the check itself makes no AWS call.
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


def check_queues(queues: list[str]) -> str | None:
    """None when the worker of every queue made progress lately, else why not."""
    from shared.health import stalled_queues
    from shared.settings import PlatformSettings

    settings = PlatformSettings()
    problems = stalled_queues(settings.worker_liveness_dir, queues,
                              stall_seconds=settings.worker_stall_seconds)
    return "; ".join(problems) or None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--queue", action="append", default=[], help="a queue the worker consumes")
    parser.add_argument("--relay", action="append", default=[],
                        help="the outbox (<service>-outbox) whose relay the worker runs")
    parser.add_argument("--timeout", type=float, default=2.0, help="API check: seconds")
    args = parser.parse_args(argv)
    if args.queue or args.relay:
        problem = check_queues([*args.queue, *args.relay])
    else:
        problem = check_api(int(os.environ.get("PORT", "8000")), args.timeout)
    if problem:
        print(f"unhealthy: {problem}", file=sys.stderr)  # noqa: T201
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
