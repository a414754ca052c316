"""HTTP client of the VM cases: requests through the router on
127.0.0.1:80 with a Host header, one new connection per request.

  client.py lat HOST N [PATH]
      N sequential requests; prints "n=N ok=K p50_ms=.. p99_ms=.. max_ms=.."
  client.py raw HOST N
      the same, one "STATUS MS" line per request (for pooling rounds)
  client.py sum FILE
      the summary of the "STATUS MS" lines of FILE
  client.py loop HOST INTERVAL_S STOPFILE LOG
      one request every INTERVAL_S until STOPFILE exists; a line per
      request in LOG: "EPOCH STATUS MS"; prints the same summary as lat
"""
import http.client
import os
import sys
import time


def get(host, path="/", timeout=30):
    t = time.perf_counter()
    try:
        c = http.client.HTTPConnection("127.0.0.1", 80, timeout=timeout)
        c.request("GET", path, headers={"Host": host})
        r = c.getresponse()
        r.read()
        status = r.status
        c.close()
    except Exception:
        status = 0
    return status, (time.perf_counter() - t) * 1000


def summary(samples):
    ms = sorted(m for _, m in samples)
    n = len(ms)
    ok = sum(1 for s, _ in samples if s == 200)
    pct = lambda p: ms[min(n - 1, int(p * n))] if n else 0
    return "n=%d ok=%d p50_ms=%.2f p99_ms=%.2f max_ms=%.2f" % (n, ok, pct(0.50), pct(0.99), ms[-1] if n else 0)


def main():
    mode, host = sys.argv[1], sys.argv[2]
    samples = []
    if mode == "lat":
        path = sys.argv[4] if len(sys.argv) > 4 else "/"
        for _ in range(int(sys.argv[3])):
            samples.append(get(host, path))
    elif mode == "raw":
        for _ in range(int(sys.argv[3])):
            print("%d %.3f" % get(host))
        return
    elif mode == "sum":
        with open(host) as f:
            samples = [(int(a), float(b)) for a, b in (l.split() for l in f if l.strip())]
    elif mode == "loop":
        interval, stop, log = float(sys.argv[3]), sys.argv[4], sys.argv[5]
        with open(log, "w") as f:
            while not os.path.exists(stop):
                s, m = get(host)
                samples.append((s, m))
                f.write("%.3f %d %.1f\n" % (time.time(), s, m))
                f.flush()
                time.sleep(interval)
    print(summary(samples))


main()
