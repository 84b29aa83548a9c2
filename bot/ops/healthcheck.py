"""`python -m bot.ops.healthcheck`: exit 0 when the bot's /healthz answers 200, 1 otherwise.

For Docker's HEALTHCHECK (the slim image has no curl): it asks the endpoint on loopback, at
HEALTH_PORT (8080 when unset), and prints the answer.
"""

from __future__ import annotations

import os
import sys
import urllib.error
import urllib.request

DEFAULT_PORT = 8080
TIMEOUT = 5.0


def check(port: int, host: str = "127.0.0.1") -> tuple[bool, str]:
    """Whether /healthz at host:port answers 200, and what it said."""
    url = f"http://{host}:{port}/healthz"
    try:
        with urllib.request.urlopen(url, timeout=TIMEOUT) as response:
            return response.status == 200, response.read().decode(errors="replace")
    except urllib.error.HTTPError as exc:
        return False, f"{exc.code}: {exc.read().decode(errors='replace')}"
    except OSError as exc:
        return False, f"no answer from {url}: {exc}"


def main() -> int:
    port = int(os.environ.get("HEALTH_PORT") or DEFAULT_PORT)
    healthy, answer = check(port)
    print(answer)
    return 0 if healthy else 1


if __name__ == "__main__":
    sys.exit(main())
