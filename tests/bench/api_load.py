#!/usr/bin/env python3
"""Registrations against hoplessd's control API over one keep-alive
connection on its Unix socket, bounded in count and time.

  api_load.py SOCKET SERVICES COUNT [SECONDS] [PER_SERVICE]

Registers COUNT endpoints: endpoint i goes to service s<i % SERVICES> (or, with
PER_SERVICE, fills services in turn), address 10.3.x.y:8080, no ttl. Times
each request from the send to the whole reply; hoplessd replies only after
the backend is written to the kernel's maps, so this is an upper bound of
"API call -> backend in the kernel map". Prints JSON: count, non-2xx, seconds,
p50/p99/max in ms.
"""
import http.client
import json
import socket
import sys
import time


class UnixConnection(http.client.HTTPConnection):
    def __init__(self, path, timeout=30):
        super().__init__("localhost", timeout=timeout)
        self.path = path

    def connect(self):
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.settimeout(self.timeout)
        s.connect(self.path)
        self.sock = s


def main():
    sock, services, count = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    limit = float(sys.argv[4]) if len(sys.argv) > 4 else 600.0
    per = int(sys.argv[5]) if len(sys.argv) > 5 else 0
    conn = UnixConnection(sock)
    lat, bad, first_bad = [], 0, None
    start = time.monotonic()
    for i in range(count):
        if time.monotonic() - start > limit:
            break
        svc = (i // per) % services if per else i % services
        name = "target" if svc == 0 else f"s{svc}"
        body = json.dumps({"address": f"10.3.{(i >> 8) & 255}.{i & 255}", "port": 8080 + (i >> 16)})
        t = time.perf_counter()
        conn.request("PUT", f"/v1/services/default/{name}/endpoints/e{i}", body=body,
                     headers={"Content-Type": "application/json"})
        r = conn.getresponse()
        data = r.read()
        lat.append((time.perf_counter() - t) * 1000)
        if r.status // 100 != 2:
            bad += 1
            first_bad = first_bad or data.decode(errors="replace")
    lat.sort()
    pct = lambda p: round(lat[min(len(lat) - 1, int(len(lat) * p))], 3) if lat else None
    print(json.dumps({"count": len(lat), "bad": bad, "first_bad": first_bad,
                      "seconds": round(time.monotonic() - start, 2),
                      "p50_ms": pct(0.5), "p99_ms": pct(0.99), "max_ms": round(lat[-1], 3) if lat else None}))


if __name__ == "__main__":
    main()
