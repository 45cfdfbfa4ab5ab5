#!/usr/bin/env python3
"""Registration storm against hoplessd's control API (one keep-alive
connection over its Unix socket): N register + deregister pairs of ids
under one service, bounded in count and time. Prints a JSON summary:
requests, non-2xx replies, elapsed seconds, per-request latency p50/p99 (ms).

  api_storm.py SOCKET NAMESPACE SERVICE COUNT ADDRESS PORT_BASE [SECONDS] [WEIGHT]
"""
import http.client
import json
import socket
import sys
import time


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
    sock, ns, svc, count, address, port_base = sys.argv[1:7]
    limit = float(sys.argv[7]) if len(sys.argv) > 7 else 60.0
    weight = int(sys.argv[8]) if len(sys.argv) > 8 else 1
    count, port_base = int(count), int(port_base)
    conn = UnixConnection(sock)
    bad, lat, n = 0, [], 0
    start = time.monotonic()
    for i in range(count):
        if time.monotonic() - start > limit:
            break
        ident = f"storm-{i}"
        body = json.dumps({"address": address, "port": port_base + (i % 1000), "ttl": 60, "weight": weight})
        for method, path, data in (
            ("PUT", f"/v1/services/{ns}/{svc}/endpoints/{ident}", body),
            ("DELETE", f"/v1/services/{ns}/{svc}/endpoints/{ident}", None),
        ):
            t = time.monotonic()
            conn.request(method, path, body=data, headers={"Content-Type": "application/json"})
            r = conn.getresponse()
            r.read()
            lat.append((time.monotonic() - t) * 1000)
            n += 1
            if r.status // 100 != 2:
                bad += 1
    lat.sort()
    pct = lambda p: round(lat[min(len(lat) - 1, int(len(lat) * p))], 3) if lat else None
    print(json.dumps({"requests": n, "bad": bad, "seconds": round(time.monotonic() - start, 2),
                      "p50_ms": pct(0.5), "p99_ms": pct(0.99)}))


if __name__ == "__main__":
    main()
