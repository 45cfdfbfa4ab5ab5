#!/usr/bin/env python3
"""A random sequence of service and endpoint changes spread over several
hosts' control APIs (one keep-alive connection to each host's Unix socket),
bounded in count and time. Services s0..s(S-1) get fixed VIPs; each host
registers endpoints at its own address. A definition refused with 409 (the
host had not yet seen another host's change: compare-and-swap) is counted
and tried again a moment later, up to 5 times. Prints a JSON summary.

  etcd_churn.py SEED COUNT SECONDS VIP_PREFIX HOST=SOCKET=ADDRESS...

VIP_PREFIX is "127.255.N." (service k gets VIP_PREFIX + (k + 1)).
"""
import http.client
import json
import random
import socket
import sys
import time

SERVICES = 8
ENDPOINTS = 12  # ids per host


class UnixConnection(http.client.HTTPConnection):
    def __init__(self, path, timeout=10):
        super().__init__("localhost", timeout=timeout)
        self.path = path

    def connect(self):
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.settimeout(self.timeout)
        s.connect(self.path)
        self.sock = s


def main():
    seed, count, limit, vip_prefix = int(sys.argv[1]), int(sys.argv[2]), float(sys.argv[3]), sys.argv[4]
    hosts = []
    for spec in sys.argv[5:]:
        name, sock, addr = spec.split("=")
        hosts.append((name, UnixConnection(sock), addr))
    rnd = random.Random(seed)
    stats = {"ops": 0, "status": {}, "conflicts": 0, "retries_exhausted": 0, "by_kind": {}}

    def call(conn, method, path, body=None):
        conn.request(method, path, body=json.dumps(body) if body is not None else None,
                     headers={"Content-Type": "application/json"})
        r = conn.getresponse()
        text = r.read()
        return r.status, text

    start = time.monotonic()
    for _ in range(count):
        if time.monotonic() - start > limit:
            break
        name, conn, addr = rnd.choice(hosts)
        k = rnd.randrange(SERVICES)
        svc = f"s{k}"
        roll = rnd.random()
        if roll < 0.12:
            kind = "define"
            body = {"vip": f"{vip_prefix}{k + 1}", "port": 80,
                    "algorithm": rnd.choice(["round_robin", "random", "weighted"])}
            for attempt in range(5):
                status, _ = call(conn, "PUT", f"/v1/services/default/{svc}", body)
                if status != 409:
                    break
                stats["conflicts"] += 1
                time.sleep(0.05)
            else:
                stats["retries_exhausted"] += 1
        elif roll < 0.18:
            kind = "delete"
            for attempt in range(5):
                status, _ = call(conn, "DELETE", f"/v1/services/default/{svc}")
                if status != 409:
                    break
                stats["conflicts"] += 1
                time.sleep(0.05)
            else:
                stats["retries_exhausted"] += 1
        elif roll < 0.75:
            kind = "register"
            j = rnd.randrange(ENDPOINTS)
            body = {"address": addr, "port": 9000 + k * ENDPOINTS + j, "weight": rnd.randrange(1, 4)}
            status, _ = call(conn, "PUT", f"/v1/services/default/{svc}/endpoints/{name}-{j}", body)
        else:
            kind = "deregister"
            j = rnd.randrange(ENDPOINTS)
            status, _ = call(conn, "DELETE", f"/v1/services/default/{svc}/endpoints/{name}-{j}")
        stats["ops"] += 1
        stats["status"][str(status)] = stats["status"].get(str(status), 0) + 1
        stats["by_kind"][kind] = stats["by_kind"].get(kind, 0) + 1
    stats["seconds"] = round(time.monotonic() - start, 2)
    print(json.dumps(stats, sort_keys=True))


if __name__ == "__main__":
    main()
