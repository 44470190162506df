"""Container health checks: ``python -m worker.cli.health bot|worker`` exits 0 when healthy, 1 with a reason.

``bot``: Redis at ``$REDIS_URL`` answers PING (the bot's process itself is the container's PID 1, so a dead
bot already stops the container). ``worker``: Redis answers and an RQ worker started on this host
(``tunesmith-<hostname>-<pid>``, the name ``worker.jobs.runner`` gives it) is registered there, so a worker that
lost Redis or never came up is reported unhealthy. Torch-free and quick (a few Redis round trips).
"""

from __future__ import annotations

import os
import socket
import sys
from collections.abc import Mapping, Sequence

from worker.contract.redact import redact_url


def check(role: str, env: Mapping[str, str] = os.environ, hostname: str | None = None) -> str | None:
    """None when ``role`` (bot or worker) looks healthy, else why not."""
    from redis import Redis
    from redis.exceptions import RedisError
    from rq import Worker

    url = env.get("REDIS_URL", "").strip() or "redis://127.0.0.1:6379/0"
    try:
        conn = Redis.from_url(url, socket_connect_timeout=3, socket_timeout=3)
        try:
            conn.ping()
            if role == "worker":
                prefix = f"tunesmith-{hostname or socket.gethostname()}-"
                names = [w.name for w in Worker.all(connection=conn)]
                if not any(name.startswith(prefix) for name in names):
                    return f"no worker named {prefix}* is registered in Redis at {redact_url(url)}"
        finally:
            conn.close()
    except (RedisError, OSError, ValueError) as exc:
        return f"Redis at {redact_url(url)} is unreachable: {type(exc).__name__}"
    return None


def main(argv: Sequence[str] | None = None) -> int:
    """Exit code 0 when healthy, 1 when not (the reason on stderr), 2 for bad usage."""
    args = list(sys.argv[1:] if argv is None else argv)
    if len(args) != 1 or args[0] not in ("bot", "worker"):
        print("usage: python -m worker.cli.health bot|worker", file=sys.stderr)
        return 2
    problem = check(args[0])
    if problem:
        print(f"unhealthy: {problem}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
