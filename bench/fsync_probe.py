#!/usr/bin/env python3
"""fsync_probe.py: how many durable writes per second the disk under DIR does.

Four loops, each for about SECONDS (and at most 200,000 rounds), writing
SIZE-byte blocks in a scratch directory below DIR (use the filesystem the
spools live on):

  newfile       create a new file, write, fsync it        (one fsync/message,
                                                            like Postfix)
  newfile+dir   the same, then fsync the directory        (what a spool that
                                                            also fsyncs its
                                                            directory pays)
  newfile+syncfs the same, then syncfs(2) on the filesystem  (what
                                                            sekisho's group
                                                            commit does, per
                                                            commit)
  append        append to one open file, fdatasync        (a journal/batch
                                                            commit)

Prints one line per loop: name, operations, seconds, operations/s; with
--json a JSON object instead.  Python 3 standard library only.

usage: fsync_probe.py [--seconds S] [--size BYTES] [--json] DIR
"""

import argparse
import ctypes
import ctypes.util
import json
import os
import shutil
import tempfile
import time

MAX_ROUNDS = 200000

_libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6",
                    use_errno=True)


def syncfs(fd):
    if _libc.syncfs(fd) != 0:
        e = ctypes.get_errno()
        raise OSError(e, os.strerror(e))


def loop_newfile(d, block, seconds, how):
    """how: "fsync", "fsync+dir" or "syncfs"."""
    dfd = os.open(d, os.O_RDONLY | os.O_DIRECTORY)
    n = 0
    t0 = time.monotonic()
    end = t0 + seconds
    try:
        while n < MAX_ROUNDS and time.monotonic() < end:
            fd = os.open(os.path.join(d, "f%07d" % n),
                         os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            os.write(fd, block)
            if how == "syncfs":
                syncfs(fd)
            else:
                os.fsync(fd)
            os.close(fd)
            if how == "fsync+dir":
                os.fsync(dfd)
            n += 1
    finally:
        os.close(dfd)
    return n, time.monotonic() - t0


def loop_append(d, block, seconds):
    fd = os.open(os.path.join(d, "journal"),
                 os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    n = 0
    t0 = time.monotonic()
    end = t0 + seconds
    try:
        while n < MAX_ROUNDS and time.monotonic() < end:
            os.write(fd, block)
            os.fdatasync(fd)
            n += 1
    finally:
        os.close(fd)
    return n, time.monotonic() - t0


def probe(top, seconds=2.0, size=5120):
    block = os.urandom(size)
    res = {}
    for name, how in (("newfile", "fsync"), ("newfile+dir", "fsync+dir"),
                      ("newfile+syncfs", "syncfs"), ("append", None)):
        d = tempfile.mkdtemp(prefix="fsync-probe-", dir=top)
        try:
            if how is None:
                n, dt = loop_append(d, block, seconds)
            else:
                n, dt = loop_newfile(d, block, seconds, how)
        finally:
            shutil.rmtree(d, ignore_errors=True)
        res[name] = {"ops": n, "seconds": round(dt, 3),
                     "per_s": round(n / dt, 1) if dt > 0 else 0.0}
    return res


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=2.0)
    ap.add_argument("--size", type=int, default=5120)
    ap.add_argument("--json", action="store_true")
    ap.add_argument("dir")
    a = ap.parse_args()
    res = probe(a.dir, min(max(a.seconds, 0.1), 60.0), a.size)
    if a.json:
        print(json.dumps(res))
    else:
        for k, v in res.items():
            print("%-15s %7d ops %6.2f s %9.1f /s" % (k, v["ops"], v["seconds"],
                                                      v["per_s"]))


if __name__ == "__main__":
    main()
