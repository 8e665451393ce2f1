"""Network namespaces for ``make cluster``: hosts on one subnet of the project's own, 10.77.0.0/24.

A switch namespace (``fp-net``) holds a bridge; each host namespace has an ``eth0`` (one end of a veth
pair, the other end on the bridge) and its loopback. Nothing is routed out: the host's own network and the
root namespace have no address on the subnet, so all traffic stays inside these namespaces.
"""

from __future__ import annotations

import subprocess

SWITCH = "fp-net"
SUBNET = "10.77.0"
HOSTS = {"fp-data": 2, "fp-web": 3, "fp-worker-1": 11, "fp-worker-2": 12, "fp-client": 100}


def address(host: str) -> str:
    return f"{SUBNET}.{HOSTS[host]}"


def _ip(*args: str, check: bool = True) -> subprocess.CompletedProcess:
    return subprocess.run(["ip", *args], check=check, capture_output=True, text=True)


def in_host(host: str, argv: list[str]) -> list[str]:
    """``argv`` run inside ``host``'s namespace."""
    return ["ip", "netns", "exec", host, *argv]


def up() -> None:
    down()
    _ip("netns", "add", SWITCH)
    _ip("-n", SWITCH, "link", "add", "br0", "type", "bridge")
    _ip("-n", SWITCH, "link", "set", "br0", "up")
    _ip("-n", SWITCH, "link", "set", "lo", "up")
    for index, (host, last) in enumerate(HOSTS.items()):
        _ip("netns", "add", host)
        _ip("-n", host, "link", "set", "lo", "up")
        outer, inner = f"fpv{index}o", f"fpv{index}i"
        _ip("link", "add", outer, "type", "veth", "peer", "name", inner)
        _ip("link", "set", outer, "netns", SWITCH)
        _ip("link", "set", inner, "netns", host)
        _ip("-n", SWITCH, "link", "set", outer, "master", "br0")
        _ip("-n", SWITCH, "link", "set", outer, "up")
        _ip("-n", host, "link", "set", inner, "name", "eth0")
        _ip("-n", host, "addr", "add", f"{SUBNET}.{last}/24", "dev", "eth0")
        _ip("-n", host, "link", "set", "eth0", "up")


def link(host: str, state: str) -> None:
    """``state`` "down" cuts ``host`` off the network (its processes keep running); "up" brings it back."""
    _ip("-n", host, "link", "set", "eth0", state)


def down() -> None:
    for name in [*HOSTS, SWITCH]:
        _ip("netns", "del", name, check=False)
