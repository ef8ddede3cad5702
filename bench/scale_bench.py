#!/usr/bin/env python3
"""scale_bench.py: the "scale" step of issue 10: how sekisho-smtpd scales
next to Postfix, with plots.

  python3 bench/scale_bench.py [--mode quick|default] --bindir BUILD/bin
  python3 bench/scale_bench.py --cleanup STATE

Three series (bench/README.md, "Scale"), each point on fresh instances,
reusing the accept/idle/relay machinery of bench.py and relay.py:

  idle      memory per idle connection of sekisho-smtpd with N open
            connections (default 5,000 and 10,000; quick 500 and 1,000),
            bench.idle_run (idle_conns.py); Postfix once at --postfix-idle
            (one smtpd process per connection: 500 by default);
  sessions  relay messages/s (smtp-source -> server -> smtp-sink,
            bench.relay_pair, scanning off on sekisho) as smtp-source's
            parallel sessions grow 1, 2, 5, 10, 20, 50, 100, 200, 5 KB
            messages, one session per message;
  size      time per message (wall time to the last delivery / messages)
            and MB/s as the size grows 5 KB, 50 KB, 500 KB, 2 MB, 10 MB,
            --size-sessions (5) parallel sessions, fewer messages for the
            larger sizes.

The fsync probe runs before the series (the disk's one-fsync-per-message
ceiling, next to which the sessions series shows the group commit).
Latency probes are off here (the relay step has them): they would be an
extra session, which matters at 1 session.

The table and the data go to bench/results/scale-<date>[-quick].txt, and
gnuplot draws three SVG plots next to it (scale-<date>[-quick]-idle.svg,
-sessions.svg, -size.svg); gnuplot-nox is installed when missing.
Exit status 0 when every check passed, 1 when one failed, 2 when setup
failed, 130 when interrupted.
"""

import argparse
import copy
import datetime
import json
import os
import shutil
import signal
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import benchlib  # noqa: E402
from benchlib import BenchError, log  # noqa: E402
import bench  # noqa: E402
import fsync_probe  # noqa: E402

MODES = {
    "quick": {"idle": (500, 1000), "postfix_idle": 100,
              "sessions": (1, 2, 5, 10, 20, 50, 100, 200),
              "messages": 300,
              "sizes": (5000, 50000, 500000, 2000000, 10000000),
              "size_bytes": 60e6, "size_min": 10, "size_max": 300,
              "fsync_seconds": 1.0},
    "default": {"idle": (5000, 10000), "postfix_idle": 500,
                "sessions": (1, 2, 5, 10, 20, 50, 100, 200),
                "messages": 5000,
                "sizes": (5000, 50000, 500000, 2000000, 10000000),
                "size_bytes": 1e9, "size_min": 50, "size_max": 5000,
                "fsync_seconds": 2.0},
}


def ints(s):
    return tuple(int(x) for x in s.split(",") if x.strip())


def run_args(a, **kw):
    """A copy of the options with what relay_run/relay_pair read."""
    r = copy.copy(a)
    r.reuse = False
    r.probe_interval = 0.0
    r.repeat = 1
    for k, v in kw.items():
        setattr(r, k, v)
    return r


def messages_for(a, size):
    n = int(a.size_bytes // size)
    return max(a.size_min, min(a.size_max, n))


# ------------------------------------------------------------ plots

def ensure_gnuplot(no_install):
    try:
        benchlib.ensure_packages(["gnuplot-nox"], "gnuplot", [],
                                 lambda: [], no_install)
        return True
    except BenchError as e:
        log("no plots: %s" % e)
        return False


def plots(base, res):
    """Data files and a gnuplot script next to the table; the SVGs."""
    made = []
    dat = base + ".dat"
    with open(dat, "w") as f:
        f.write("# idle: connections kb_per_conn_private_smtp_child "
                "kb_per_conn_private_all\n")
        for r in res["idle"].get("sekisho", []):
            pc = r.get("per_conn_child") or {}
            pa = r.get("per_conn_all") or {}
            f.write("%d %.3f %.3f\n" % (r["n"], pc.get("private", 0),
                                        pa.get("private", 0)))
        f.write("\n\n# sessions: sessions sekisho_msg_s postfix_msg_s "
                "sekisho_one_commit_per_message_msg_s\n")
        for p in res["sessions"]:
            f.write("%d %s %s %s\n" % (
                p["sessions"], p.get("sekisho") or "NaN",
                p.get("postfix") or "NaN", p.get("sekisho1") or "NaN"))
        f.write("\n\n# size: kb sekisho_ms_per_msg postfix_ms_per_msg "
                "sekisho_MB_s postfix_MB_s\n")
        for p in res["size"]:
            f.write("%.0f %s %s %s %s\n" % (
                p["size"] / 1000.0,
                p.get("sekisho_ms") or "NaN", p.get("postfix_ms") or "NaN",
                p.get("sekisho_mbs") or "NaN", p.get("postfix_mbs") or "NaN"))
    gp = base + ".gp"
    name = os.path.basename(base)
    svg = {k: "%s-%s.svg" % (base, k) for k in ("idle", "sessions", "size")}
    with open(gp, "w") as f:
        f.write("""\
# %(name)s: gnuplot script of bench/scale_bench.py (data: %(dat)s)
set terminal svg size 800,500 dynamic font "sans,12"
set grid
set key top left
set output "%(idle)s"
set title "sekisho-smtpd: memory per idle connection"
set xlabel "open idle connections"
set ylabel "KB per connection (Private)"
set yrange [0:*]
set xrange [0:*]
plot "%(dat)s" index 0 using 1:2 with linespoints lw 2 title "smtp child", \\
     "" index 0 using 1:3 with linespoints lw 2 title "all sekisho processes"
set output "%(sessions)s"
set title "relay rate as sessions grow (5 KB, one session per message)"
set xlabel "parallel smtp-source sessions"
set ylabel "messages/s end to end"
set logscale x
set xrange [*:*]
plot "%(dat)s" index 1 using 1:2 with linespoints lw 2 title "sekisho-smtpd", \\
     "" index 1 using 1:3 with linespoints lw 2 title "postfix", \\
     "" index 1 using 1:4 with linespoints lw 2 title "sekisho, GroupCommit=0"
set output "%(size)s"
set title "time per message as the size grows (relay, end to end)"
set xlabel "message size, KB"
set ylabel "ms per message (wall / messages)"
set logscale xy
set yrange [*:*]
plot "%(dat)s" index 2 using 1:2 with linespoints lw 2 title "sekisho-smtpd", \\
     "" index 2 using 1:3 with linespoints lw 2 title "postfix"
""" % dict(name=name, dat=dat, **svg))
    r = subprocess.run(["gnuplot", gp], capture_output=True, text=True,
                       timeout=120)
    if r.returncode != 0:
        log("gnuplot failed: %s" % r.stderr.strip()[:500])
    for k, p in svg.items():
        if os.path.exists(p):
            made.append(p)
    return made, [dat, gp]


# ------------------------------------------------------------ report

def report(a, mach, disk, fs, res, started, elapsed):
    L = []
    w = L.append
    w("sekisho benchmark, step: scale (bench/run.sh %sscale)"
      % ("quick " if a.mode == "quick" else ""))
    w("date      %s   mode %s   total %.0fs" % (started, a.mode, elapsed))
    w("machine   %d CPU (%s), %.1f GiB RAM, kernel %s, Debian %s" % (
        mach["nproc"], mach["cpu"], mach["mem_gib"], mach["kernel"],
        mach["os"]))
    w("load      %s at start, %s at the end" % (mach["load_start"],
                                                mach["load_end"]))
    w("disk      %s: %s %s (write cache=%s)" % (
        disk["mount"], disk["device"], disk["fs"],
        disk.get("write_cache", "?")))
    if fs:
        w("fsync     new file + fsync %.0f/s (Postfix's one fsync per "
          "message), new file + syncfs %.0f/s, append + fdatasync %.0f/s"
          % (fs["newfile"]["per_s"], fs["newfile+syncfs"]["per_s"],
             fs["append"]["per_s"]))
    w("")
    failures = []

    def fails(tag, r):
        for e in r.get("errors") or []:
            failures.append("%s: %s" % (tag, e))

    if res["idle"]:
        w("idle: memory per idle connection (greeting read, then silent; "
          "%.0fs settle), KB (Private / Pss / RSS)" % a.settle)
        w("  %-10s %12s %10s %22s %22s" % ("server", "connections",
                                           "held", "smtp child",
                                           "all processes"))
        for srv in ("sekisho", "postfix"):
            for r in res["idle"].get(srv, []):
                pc = r.get("per_conn_child")
                pa = r.get("per_conn_all") or {}
                f3 = (lambda d: "%.1f / %.1f / %.1f" % (
                    d["private"], d["pss"], d["rss"]) if d else "-")
                w("  %-10s %12d %10s %22s %22s" % (
                    srv, r["n"], "%s/%d" % (r.get("opened", "-"), r["n"]),
                    f3(pc), f3(pa) if pa else "-"))
                fails("idle %s %d" % (srv, r["n"]), r)
                if r.get("capped"):
                    w("  %-10s %12s %10s  (the rest refused 421 4.7.0: "
                      "RLIMIT_NOFILE %d caps sekisho-smtpd at %d sessions, "
                      "2 descriptors each; raise LimitNOFILE)" % (
                          "", "", "", benchlib.raise_nofile(), r["capped"]))
        w("")
    if res["sessions"]:
        w("sessions: relay, smtp-source -s S -m M -l %d (one session per "
          "message) -> server -> smtp-sink;" % a.size)
        w("          messages/s = messages at the sink / (start -> last "
          "arrival); sekisho scanning off")
        w("          sekisho 1/msg: GroupCommit=0, one commit per message "
          "(docs/spool.md)")
        w("  %8s %8s %12s %12s %7s %14s %14s %14s" % (
            "sessions", "messages", "sekisho", "postfix", "s/p",
            "sekisho 1/msg", "sekisho wall s", "postfix wall s"))
        for p in res["sessions"]:
            s, q = p.get("sekisho"), p.get("postfix")
            s1 = p.get("sekisho1")
            w("  %8d %8d %12s %12s %7s %14s %14s %14s" % (
                p["sessions"], p["messages"],
                "%.1f" % s if s else "-", "%.1f" % q if q else "-",
                "%.2f" % (s / q) if s and q else "",
                "%.1f" % s1 if s1 else "-",
                "%.2f" % p["sekisho_wall"] if p.get("sekisho_wall") else "-",
                "%.2f" % p["postfix_wall"] if p.get("postfix_wall") else "-"))
            for srv in ("sekisho", "postfix", "sekisho1"):
                if p.get(srv + "_run"):
                    fails("sessions %d %s" % (p["sessions"], srv),
                          p[srv + "_run"])
        w("")
    if res["size"]:
        w("size: relay, smtp-source -s %d -m M -l SIZE -> server -> "
          "smtp-sink; ms per message = wall / M" % a.size_sessions)
        w("  %10s %8s %12s %12s %7s %12s %12s" % (
            "size", "messages", "sekisho ms", "postfix ms", "p/s",
            "sekisho MB/s", "postfix MB/s"))
        for p in res["size"]:
            s, q = p.get("sekisho_ms"), p.get("postfix_ms")
            w("  %10s %8d %12s %12s %7s %12s %12s" % (
                "%d KB" % (p["size"] / 1000) if p["size"] < 1e6
                else "%g MB" % (p["size"] / 1e6), p["messages"],
                "%.2f" % s if s else "-", "%.2f" % q if q else "-",
                "%.2f" % (q / s) if s and q else "",
                "%.1f" % p["sekisho_mbs"] if p.get("sekisho_mbs") else "-",
                "%.1f" % p["postfix_mbs"] if p.get("postfix_mbs") else "-"))
            for srv in ("sekisho", "postfix"):
                if p.get(srv + "_run"):
                    fails("size %d %s" % (p["size"], srv), p[srv + "_run"])
        w("")
    w("batch commit: sekisho's queue group-commits by default (every "
      "commit of one event-loop turn shares one syncfs and one directory "
      "fsync, each 250 after its own data is durable); the \"sekisho "
      "1/msg\" column is GroupCommit=0, one commit per message "
      "(docs/spool.md)")
    if failures:
        w("FAILED:")
        L.extend("  " + f for f in failures)
    else:
        w("result: all checks passed")
    return "\n".join(L) + "\n", failures


# ------------------------------------------------------------ main

def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--mode", choices=sorted(MODES), default="default")
    ap.add_argument("--series", default="idle,sessions,size",
                    help="comma-separated series to run")
    ap.add_argument("--only", choices=("sekisho", "postfix"))
    ap.add_argument("--idle", type=ints, help="e.g. 5000,10000")
    ap.add_argument("--postfix-idle", type=int)
    ap.add_argument("--sessions", type=ints, help="e.g. 1,2,5,10")
    ap.add_argument("--messages", type=int,
                    help="messages per point of the sessions series")
    ap.add_argument("--size", type=int, default=5120,
                    help="message size of the sessions series")
    ap.add_argument("--sizes", type=ints, help="bytes, e.g. 5000,50000")
    ap.add_argument("--size-sessions", type=int, default=5)
    ap.add_argument("--fsync-seconds", type=float)
    ap.add_argument("--skip-fsync", action="store_true")
    ap.add_argument("--timeout", type=int, default=900)
    ap.add_argument("--drain-timeout", type=int, default=600)
    ap.add_argument("--stall", type=float, default=60.0)
    ap.add_argument("--settle", type=float, default=2.0)
    ap.add_argument("--idle-timeout", type=float, default=300.0)
    ap.add_argument("--bindir", default=os.path.join(
        benchlib.SOURCE, "build-bench", "bin"))
    ap.add_argument("--tmpdir", default=os.environ.get("TMPDIR", "/tmp"))
    ap.add_argument("--sink-dir", default=None)
    ap.add_argument("--results", default=os.path.join(HERE, "results"))
    ap.add_argument("--state")
    ap.add_argument("--keep", action="store_true")
    ap.add_argument("--no-install", action="store_true")
    ap.add_argument("--cleanup", metavar="STATE")
    a = ap.parse_args()
    if a.cleanup:
        bench.cleanup_from_state(a.cleanup)
        return 0
    m = MODES[a.mode]
    for k in ("idle", "postfix_idle", "sessions", "messages", "sizes",
              "fsync_seconds"):
        if getattr(a, k) is None:
            setattr(a, k, m[k])
    a.size_bytes, a.size_min, a.size_max = (m["size_bytes"], m["size_min"],
                                            m["size_max"])
    a.series = [x.strip() for x in a.series.split(",") if x.strip()]
    for x in a.series:
        if x not in ("idle", "sessions", "size"):
            ap.error("--series: unknown series %r" % x)
    if a.sink_dir is None:
        import gateway_bench
        a.sink_dir = gateway_bench.default_sink_dir()
    a.set, a.postconf = [], ["message_size_limit = 52428800"]
    if os.geteuid() != 0:
        log("run as root (Postfix, the service users)")
        return 2

    def on_signal(signum, _frame):
        raise KeyboardInterrupt("signal %d" % signum)
    for sig in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, on_signal)
    nofile = benchlib.raise_nofile()
    need = max(list(a.idle) + [a.postfix_idle]) + 256
    if "idle" in a.series and nofile < need:
        log("RLIMIT_NOFILE is %d; %d idle connections need about %d "
            "(ulimit -Hn)" % (nofile, max(a.idle), need))
        return 2
    have_plot = ensure_gnuplot(a.no_install)
    servers = (a.only,) if a.only else ("sekisho", "postfix")
    tmp_root = os.path.realpath(a.tmpdir)
    state = bench.State(a.state)
    started = datetime.datetime.now()
    t_start = time.monotonic()
    mach = benchlib.machine()
    disk = bench.disk_of(tmp_root)
    res = {"idle": {}, "sessions": [], "size": []}
    fs = None
    try:
        if not a.skip_fsync:
            log("fsync probe in %s" % tmp_root)
            fs = fsync_probe.probe(tmp_root, a.fsync_seconds, 5120)
        if "idle" in a.series:
            for srv in servers:
                ns = a.idle if srv == "sekisho" else (a.postfix_idle,)
                for n in ns:
                    if n <= 0:
                        continue
                    if srv == "sekisho":
                        inst = bench.new_instance(
                            state, lambda: benchlib.Sekisho(
                                a.bindir, tmp_root,
                                max_conns=max(1000, n + 100),
                                extra=bench.KEEP))
                    else:
                        inst = bench.new_instance(
                            state, lambda: benchlib.Postfix(
                                tmp_root, maxproc=n + 50))
                    r = bench.idle_run(inst, n, a, state)
                    res["idle"].setdefault(srv, []).append(r)
                    log("idle %s %d: %s" % (srv, n, "ok" if r["ok"] else
                                             "FAILED: %s" % r["errors"]))
        if "sessions" in a.series:
            # sekisho1: sekisho with GroupCommit=0, one commit per message
            # (the "measure both"; docs/spool.md).
            ss = servers + (("sekisho1",) if "sekisho" in servers else ())
            for s in a.sessions:
                p = {"sessions": s, "messages": max(a.messages, s)}
                order = ss if len(res["sessions"]) % 2 == 0 \
                    else tuple(reversed(ss))
                for srv in order:
                    ra = run_args(a, sessions=s, messages=p["messages"],
                                  size=a.size)
                    if srv == "sekisho1":
                        ra.set = list(a.set or []) + [
                            "tsmtpd.ini:SmtpServer:GroupCommit=0"]
                    r = bench.relay_pair("sekisho" if srv == "sekisho1"
                                         else srv, ra, state, tmp_root)
                    p[srv + "_run"] = r
                    if r["ok"]:
                        p[srv] = r["rate"]
                        p[srv + "_wall"] = r["wall"]
                    log("sessions %d %s: %s" % (
                        s, srv, "ok %.1f msg/s" % r["rate"] if r["ok"]
                        else "FAILED: %s" % r["errors"]))
                res["sessions"].append(p)
        if "size" in a.series:
            for size in a.sizes:
                n = messages_for(a, size)
                p = {"size": size, "messages": n}
                order = servers if len(res["size"]) % 2 == 0 \
                    else tuple(reversed(servers))
                for srv in order:
                    ra = run_args(a, sessions=a.size_sessions, messages=n,
                                  size=size)
                    r = bench.relay_pair(srv, ra, state, tmp_root)
                    p[srv + "_run"] = r
                    if r["ok"] and r["wall"] > 0:
                        p[srv + "_ms"] = r["wall"] / n * 1000.0
                        p[srv + "_mbs"] = n * size / r["wall"] / 1e6
                    log("size %d %s: %s" % (
                        size, srv, "ok %.1f ms/msg" % p[srv + "_ms"]
                        if r["ok"] else "FAILED: %s" % r["errors"]))
                res["size"].append(p)
    except (KeyboardInterrupt, BenchError) as e:
        with benchlib.signals_blocked():
            log("interrupted; tearing down" if isinstance(
                e, KeyboardInterrupt) else "setup failed: %s" % e)
            for inst in list(state.live):
                inst.stop()
                inst.remove()
                state.drop(inst)
        return 130 if isinstance(e, KeyboardInterrupt) else 2
    mach["load_end"] = benchlib.loadavg()
    text, failures = report(a, mach, disk, fs, res,
                            started.strftime("%Y-%m-%d %H:%M:%S"),
                            time.monotonic() - t_start)
    os.makedirs(a.results, exist_ok=True)
    base = os.path.join(a.results, "scale-%s%s" % (
        started.strftime("%Y%m%d-%H%M%S"),
        "" if a.mode == "default" else "-" + a.mode))
    if have_plot:
        made, aux = plots(base, res)
        text += "plots: %s\n" % (", ".join(os.path.basename(x) for x in made)
                                 or "none (gnuplot failed)")
        text += "plot data and script: %s\n" % ", ".join(
            os.path.basename(x) for x in aux)
    print(text, end="")
    raw = {"args": {k: v for k, v in vars(a).items()}, "machine": mach,
           "disk": disk, "fsync": fs, "results": res}
    return benchlib.write_results(base + ".txt", text, raw, failures)


if __name__ == "__main__":
    sys.exit(main())
