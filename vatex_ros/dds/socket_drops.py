"""What the kernel drops before DDS sees it: UDP datagrams lost on this process's sockets (Linux).

Why the node needs this: a best-effort frame larger than what the socket receive buffer holds (Cyclone asks for
up to 32 MiB; Linux grants at most twice ``net.core.rmem_max``, 8 MiB on a default machine) overflows it, and the
kernel drops fragment after fragment. Cyclone then never sees a complete sample, so its sample-lost status
stays 0 and nothing is logged: a 3840x2880 rgb8 frame (33 MB) just never produces a mask. The kernel counts
every datagram it drops on a full receive buffer, per socket (the ``drops`` column of ``/proc/net/udp`` and
``/proc/net/udp6``); summed over the sockets of this process it is the loss Cyclone cannot report.

Where ``/proc`` is not there (not Linux), :func:`udp_drops` returns None and the node says nothing.
"""

from __future__ import annotations

import os
import socket
from pathlib import Path

_PROC_TABLES = (Path("/proc/net/udp"), Path("/proc/net/udp6"))
_SOCKET_LINK = "socket:["  # readlink of /proc/self/fd/N for a socket: socket:[<inode>]


def own_socket_inodes() -> dict[int, int]:
    """Inode -> file descriptor of every socket this process has open (empty where /proc is missing)."""
    inodes: dict[int, int] = {}
    try:
        names = os.listdir("/proc/self/fd")
    except OSError:
        return inodes
    for name in names:
        try:
            target = os.readlink(f"/proc/self/fd/{name}")
        except OSError:  # closed meanwhile
            continue
        if target.startswith(_SOCKET_LINK):
            inodes[int(target[len(_SOCKET_LINK):-1])] = int(name)
    return inodes


def udp_drops(inodes: set[int] | None = None) -> int | None:
    """Datagrams the kernel dropped on this process's UDP sockets (or on ``inodes``), or None without /proc."""
    wanted = set(own_socket_inodes()) if inodes is None else inodes
    total, readable = 0, False
    for table in _PROC_TABLES:
        try:
            lines = table.read_text().splitlines()[1:]
        except OSError:
            continue
        readable = True
        for line in lines:
            fields = line.split()  # sl local rem st tx:rx tr:when retrnsmt uid timeout inode ref pointer drops
            if len(fields) >= 13 and int(fields[9]) in wanted:
                total += int(fields[12])
    return total if readable else None


def largest_udp_receive_buffer() -> int | None:
    """The largest receive buffer (bytes, as the kernel granted it) of this process's UDP sockets, or None.

    The DDS data socket is the one with the largest buffer; a best-effort sample much larger than it is likely
    to be dropped by the kernel when it arrives in one burst.
    """
    largest = None
    for fd in own_socket_inodes().values():
        try:
            probe = socket.socket(fileno=os.dup(fd))  # a duplicate: closing it leaves Cyclone's socket open
        except OSError:
            continue
        try:
            if probe.type == socket.SOCK_DGRAM:
                size = probe.getsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF)
                largest = size if largest is None else max(largest, size)
        except OSError:
            pass
        finally:
            probe.close()
    return largest


class DropWatch:
    """Growth of :func:`udp_drops` since the last look, from a baseline taken at construction."""

    def __init__(self) -> None:
        self._last = udp_drops()

    def new_drops(self) -> int:
        """Datagrams dropped since the previous call (0 where the kernel does not say)."""
        now = udp_drops()
        if now is None or self._last is None:
            self._last = now
            return 0
        grown, self._last = max(0, now - self._last), now
        return grown
