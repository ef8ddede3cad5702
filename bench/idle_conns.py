#!/usr/bin/env python3
"""idle_conns.py: hold N idle SMTP connections open to a loopback server.

Each connection is opened, reads the server's greeting (a 220 line) and
then sends nothing.  Connections are opened BATCH at a time (so the
listen backlog never overflows) with non-blocking sockets and one
selector; the whole opening is bounded by TIMEOUT seconds.  A connection
that gets anything but 220, is reset, or gets no greeting in time counts
as failed.

As a module: `with IdleConnections(port, n) as ic: ...` holds them while
the caller measures; `ic.still_open()` checks that the server has closed
none of them.  As a program it holds them for --hold seconds and prints
the counts.  Python 3 standard library only.

usage: idle_conns.py [--host 127.0.0.1] [--batch 200] [--timeout 120]
                     [--hold 10] PORT N
"""

import argparse
import errno
import os
import resource
import selectors
import socket
import sys
import time


class IdleConnections:
    def __init__(self, port, n, host="127.0.0.1", batch=200, timeout=120.0):
        self.port, self.n, self.host = port, n, host
        self.batch = max(1, batch)
        self.timeout = timeout
        self.socks = []         # greeted and idle
        self.failed = 0
        self.fail_reasons = {}
        self.open_seconds = 0.0

    def _fail(self, why):
        self.failed += 1
        self.fail_reasons[why] = self.fail_reasons.get(why, 0) + 1

    def open(self):
        need = self.n + 64
        soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        if soft < need:
            if hard < need:
                raise RuntimeError("RLIMIT_NOFILE hard limit %d < %d needed "
                                   "for %d connections (ulimit -Hn)"
                                   % (hard, need, self.n))
            resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
        t0 = time.monotonic()
        deadline = t0 + self.timeout
        sel = selectors.DefaultSelector()
        started = 0
        pending = {}    # sock -> bytes read so far
        try:
            while (started < self.n or pending) and time.monotonic() < deadline:
                while started < self.n and len(pending) < self.batch:
                    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
                    s.setblocking(False)
                    rc = s.connect_ex((self.host, self.port))
                    started += 1
                    if rc not in (0, errno.EINPROGRESS):
                        s.close()
                        self._fail("connect: %s" % os.strerror(rc))
                        continue
                    pending[s] = b""
                    sel.register(s, selectors.EVENT_READ)
                left = max(0.0, deadline - time.monotonic())
                for key, _ev in sel.select(timeout=min(1.0, left)):
                    s = key.fileobj
                    try:
                        chunk = s.recv(4096)
                    except BlockingIOError:
                        continue
                    except OSError as e:
                        chunk = None
                        why = "recv: %s" % e.strerror
                    else:
                        why = "closed before greeting"
                    if not chunk:
                        sel.unregister(s)
                        del pending[s]
                        s.close()
                        self._fail(why)
                        continue
                    buf = pending[s] + chunk
                    # Multi-line greetings: wait for the last "220 " line.
                    lines = buf.split(b"\r\n")
                    done = [ln for ln in lines[:-1] if ln[3:4] != b"-"]
                    if done or len(buf) > 8192:
                        sel.unregister(s)
                        del pending[s]
                        if done and done[-1].startswith(b"220"):
                            self.socks.append(s)
                        else:
                            s.close()
                            self._fail("greeting %r" % (done[-1][:40]
                                                        if done else buf[:40]))
                    else:
                        pending[s] = buf
            for s in list(pending):
                s.close()
                self._fail("no greeting within %.0fs" % self.timeout)
            if started < self.n:
                self._fail("not started within %.0fs" % self.timeout)
                self.failed += self.n - started - 1
        finally:
            sel.close()
        self.open_seconds = time.monotonic() - t0
        return self

    def still_open(self):
        """How many of the greeted connections the server has not closed."""
        n = 0
        for s in self.socks:
            try:
                chunk = s.recv(4096, socket.MSG_PEEK | socket.MSG_DONTWAIT)
            except BlockingIOError:
                n += 1
                continue
            except OSError:
                continue
            # b"" is end of file; anything else (e.g. 421) is not idle.
        return n

    def close(self):
        for s in self.socks:
            try:
                s.close()
            except OSError:
                pass
        self.socks = []

    def __enter__(self):
        return self.open()

    def __exit__(self, *exc):
        self.close()


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--batch", type=int, default=200)
    ap.add_argument("--timeout", type=float, default=120.0)
    ap.add_argument("--hold", type=float, default=10.0)
    ap.add_argument("port", type=int)
    ap.add_argument("n", type=int)
    a = ap.parse_args()
    with IdleConnections(a.port, a.n, a.host, a.batch, a.timeout) as ic:
        print("opened %d/%d in %.2fs, failed %d %s" % (
            len(ic.socks), a.n, ic.open_seconds, ic.failed, ic.fail_reasons))
        time.sleep(min(max(a.hold, 0.0), 3600.0))
        print("still open after %.0fs: %d" % (a.hold, ic.still_open()))
    return 0 if ic.failed == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
