"""What a run's client and its warm parent say to each other over the team's Unix socket.

The client sends one message: a length-prefixed JSON request ({"env", "cwd", "argv"}) with its three
standard streams passed as file descriptors. The parent answers one line, `pid N` once it has forked the
run, or why it will not (`reload`, `refused ...`), and, when the run ends, `exit N` or `signal N`.
Standard library only: the pool's command imports this before anything else.
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import struct
import sys
from typing import Any

HEADER = struct.Struct("!I")


STREAMS = (0, 1, 2)


def gone() -> contextlib.suppress:
    """Ignore a peer that has gone away (its run is dealt with by the reaper)."""
    return contextlib.suppress(ProcessLookupError, BrokenPipeError, ConnectionError)


def log(message: str) -> None:
    print(f"warm launcher: {message}", file=sys.stderr, flush=True)


def receive(conn: socket.socket) -> tuple[dict[str, Any], list[int]]:
    data, fds, _flags, _addr = socket.recv_fds(conn, 1 << 16, len(STREAMS))
    if len(fds) != len(STREAMS):
        for fd in fds:
            os.close(fd)
        raise ValueError(f"expected {len(STREAMS)} streams, got {len(fds)}")
    while len(data) < HEADER.size or len(data) < HEADER.size + HEADER.unpack_from(data)[0]:
        more = conn.recv(1 << 16)
        if not more:
            raise ValueError("the request was cut short")
        data += more
    (size,) = HEADER.unpack_from(data)
    request = json.loads(data[HEADER.size : HEADER.size + size])
    if not isinstance(request, dict) or not {"env", "cwd", "argv"} <= set(request):
        raise ValueError("a request names env, cwd and argv")
    return request, fds


def decline(conn: socket.socket, streams: list[int], answer: bytes) -> None:
    """Answer a request the parent will not fork for (the run then starts cold) and let go of it."""
    with gone():
        conn.sendall(answer)
    conn.close()
    for fd in streams:
        os.close(fd)


def gone_away(conn: socket.socket) -> bool:
    """Whether a run's client has closed its end (it timed out and started the run cold)."""
    try:
        return conn.recv(1, socket.MSG_PEEK | socket.MSG_DONTWAIT) == b""
    except BlockingIOError:
        return False
    except OSError:
        return True
