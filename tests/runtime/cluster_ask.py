"""``python -m tests.runtime.cluster_ask HOST PORT SECRET_FILE NAME``: bump a counter, print where it ran.

For tests whose nodes live in network namespaces the test process cannot
reach: run it there with ``ip netns exec``.
"""

from __future__ import annotations

import json
import sys

from omega_actors.runtime import Runtime, SystemConfig
from omega_actors.runtime.cluster_config import ClusterConfig

from .cluster_probes import Bump


def main(host: str, port: str, secret_file: str, name: str) -> int:
    config = SystemConfig(base="tcp", bind=host, allow_remote=True, cluster=ClusterConfig(secret_file=secret_file))
    runtime = Runtime.connect(int(port), config)
    try:
        reply = runtime.ask(name, Bump(), 3.0)
    finally:
        runtime.close()
    print(json.dumps({"count": reply.count, "node": reply.node, "pid": reply.pid}))
    return 0


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:]))
