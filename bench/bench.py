#!/usr/bin/env python3
"""bench.py: accept rate, idle memory and relay rate of sekisho-smtpd, side
by side with Postfix, in one run.  bench/run.sh installs and builds, then
runs this.

Steps (each server is a private instance on loopback in a temporary
directory, started fresh for each step and torn down after it):

  1. machine description and the disk's fsync capability (fsync_probe.py)
     on the filesystem that holds the spools;
  2. accept rate: smtp-source -s SESSIONS -m MESSAGES -l SIZE against
     sekisho-smtpd, then against Postfix; wall time -> messages/s; then the
     messages that landed in each queue are counted (a shortfall fails the
     run);
  3. idle memory: N idle connections (greeting read, then silence) to
     sekisho-smtpd and M to Postfix; memory of the server processes before
     and with them open -> KB per connection;
  4. relay (relay.py): smtp-source -> server (sekisho: scanning off,
     SmartHost; Postfix: relayhost) -> smtp-sink on its own port; time
     until the sink has every message -> messages/s; probe messages give
     the end-of-DATA -> sink latency; the sink must get every message
     exactly once and both queues must end empty;
  5. one table, printed and written to bench/results/<steps>-<date>.txt.

Exit status 0 when every step passed, 1 when a check failed (lost
messages, smtp-source errors, a server that died, connections refused),
2 on a setup error.  Python 3 standard library only.
"""

import argparse
import statistics
import datetime
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time

import benchlib
from benchlib import BenchError, log
import fsync_probe
import idle_conns
import relay

HERE = os.path.dirname(os.path.abspath(__file__))

MODES = {
    #          sessions messages size   idle  pf_idle fsync_s
    "quick":   dict(sessions=10, messages=1000, size=5120, idle=500,
                    postfix_idle=100, fsync_seconds=1.0, repeat=1),
    "default": dict(sessions=20, messages=10000, size=5120, idle=5000,
                    postfix_idle=500, fsync_seconds=2.0, repeat=3),
}

SMTP_SOURCE = "/usr/sbin/smtp-source"

# The accept and idle steps keep accepted mail in the queue, like Postfix's
# HOLD: with scanning on and no scan server, a committed message waits in
# incoming/ and nothing is delivered (with the shipped enabled=0 the queue
# would hand it to delivery, i.e. MX lookups for example.com).
KEEP = [("policy.ini", "scan", "enabled", "1")]


# ------------------------------------------------------------ state file

class State:
    """Instances started, written to a file so run.sh's trap can clean up
    even when this process is killed (bench.py --cleanup FILE)."""

    def __init__(self, path):
        self.path = path
        self.live = []

    def add(self, inst):
        self.live.append(inst)
        self._write()

    def refresh(self):
        """Record the process ids of instances started since add()."""
        self._write()

    def drop(self, inst):
        if inst in self.live:
            self.live.remove(inst)
        self._write()

    def _write(self):
        if not self.path:
            return
        recs = []
        for i in self.live:
            if isinstance(i, benchlib.Postfix):
                recs.append({"kind": "postfix", "dir": i.dir,
                             "confdir": i.confdir, "queue": i.queue,
                             "sid": i.master_pid})
            elif isinstance(i, relay.Sink):
                recs.append({"kind": "sink", "dir": i.dir,
                             "dump": i.dump_parent,
                             "sid": i.proc.pid if i.proc else None})
            else:
                recs.append({"kind": "sekisho", "dir": i.dir,
                             "sid": i.proc.pid if i.proc else None})
        tmp = self.path + ".tmp"
        with open(tmp, "w") as f:
            json.dump(recs, f)
        os.replace(tmp, self.path)


def cleanup_from_state(path):
    """Stop and remove every instance a killed bench.py left behind."""
    try:
        with open(path) as f:
            recs = json.load(f)
    except (OSError, ValueError):
        return
    for r in recs:
        sid = r.get("sid")
        if r["kind"] == "postfix":
            try:
                subprocess.run(["/usr/sbin/postfix", "-c", r["confdir"],
                                "stop"], capture_output=True, timeout=30)
            except (OSError, subprocess.TimeoutExpired):
                pass
            try:
                with open(os.path.join(r["queue"], "pid", "master.pid")) as f:
                    sid = int(f.read().split()[0])
            except (OSError, ValueError, IndexError):
                pass
        elif sid:
            benchlib.kill_pids([sid], signal.SIGTERM)
            time.sleep(1)
        if sid:
            benchlib.kill_pids(benchlib.session_members(sid), signal.SIGKILL)
        shutil.rmtree(r["dir"], ignore_errors=True)
        if r.get("dump"):
            shutil.rmtree(r["dump"], ignore_errors=True)
        log("cleanup: removed leftover %s instance %s" % (r["kind"], r["dir"]))
    try:
        os.unlink(path)
    except OSError:
        pass


# ------------------------------------------------------------ machine

def disk_of(path):
    """Device, filesystem type, rotational flag and write cache of path."""
    st = os.stat(path)
    dev = fstype = "?"
    best = ""
    with open("/proc/mounts") as f:
        for ln in f:
            p = ln.split()
            mnt = p[1].replace("\\040", " ")
            if (path == mnt or path.startswith(mnt.rstrip("/") + "/")) \
                    and len(mnt) >= len(best):
                best, dev, fstype = mnt, p[0], p[2]
    info = {"path": path, "mount": best, "device": dev, "fs": fstype}
    name = os.path.basename(os.path.realpath(dev)) if dev.startswith("/") else ""
    sysb = "/sys/class/block/%s" % name
    if name and os.path.exists(sysb):
        q = os.path.join(sysb, "queue")
        if not os.path.exists(q):      # a partition: its disk's queue
            q = os.path.join(os.path.dirname(os.path.realpath(sysb)), "queue")
        for k, fn in (("rotational", "rotational"),
                      ("write_cache", "write_cache")):
            try:
                with open(os.path.join(q, fn)) as f:
                    info[k] = f.read().strip()
            except OSError:
                pass
        try:
            with open(os.path.join(sysb, "size")) as f:
                info["size_gib"] = round(int(f.read()) * 512 / 2**30)
        except (OSError, ValueError):
            pass
    del st
    return info


# ------------------------------------------------------------ steps

def new_instance(state, factory):
    """Create an instance and record it in the state file, with no
    interrupt in between (so run.sh's trap always knows its directory)."""
    with benchlib.signals_blocked():
        inst = factory()
        state.add(inst)
    return inst


def teardown(inst, res, a, state):
    """Stop one instance and remove its directory (kept on failure with
    --keep)."""
    if not res["ok"]:
        res["log_tail"] = inst.log_tail(20)
    inst.stop()
    keep = a.keep and not res["ok"]
    inst.remove(keep=keep)
    state.drop(inst)
    if keep:
        log("%s: kept %s for inspection" % (inst.name, inst.dir))


def accept_run(inst, a, state):
    """smtp-source against one fresh instance; returns a result dict."""
    res = {"server": inst.name, "ok": False, "errors": []}
    try:
        inst.start()
        state.refresh()
        res["version"] = inst.version()
        base = inst.landed()
        argv = [SMTP_SOURCE, "-s", str(a.sessions), "-m", str(a.messages),
                "-l", str(a.size), "-M", "bench.localdomain",
                "-f", "from@example.com", "-t", "to@example.com"]
        if a.reuse:
            argv.append("-d")
        argv.append("127.0.0.1:%d" % inst.port)
        res["argv"] = " ".join(argv)
        log("%s: %s" % (inst.name, res["argv"]))
        t0 = time.monotonic()
        try:
            r = subprocess.run(argv, capture_output=True, text=True,
                               timeout=a.timeout, stdin=subprocess.DEVNULL)
            rc, err = r.returncode, (r.stderr + r.stdout).strip()
        except subprocess.TimeoutExpired as e:
            rc = "timeout"
            err = "smtp-source did not finish within %ds" % a.timeout
            out = e.stderr or b""
            err += "\n" + (out.decode("utf-8", "replace")
                           if isinstance(out, bytes) else out)
        wall = time.monotonic() - t0
        res["wall"] = wall
        res["rate"] = a.messages / wall if wall > 0 else 0.0
        res["sessions_rate"] = (a.sessions if a.reuse else a.messages) / wall
        res["source_rc"] = rc
        res["source_err"] = err[-2000:]
        if rc != 0:
            res["errors"].append("smtp-source exit %s: %s" % (rc, err[-500:]))
        # Every 250 was sent after the commit, so the count is final now;
        # give a slow directory listing a moment anyway (bounded).
        deadline = time.monotonic() + 10
        landed = inst.landed() - base
        while landed < a.messages and time.monotonic() < deadline:
            time.sleep(0.5)
            landed = inst.landed() - base
        res["landed"] = landed
        if isinstance(inst, benchlib.Sekisho):
            nmsg, smin, smax = inst.content_check(a.size)
            res["content"] = {"files": nmsg, "min": smin, "max": smax}
            if nmsg != landed:
                res["errors"].append("%d envelopes but %d content files in "
                                     "incoming/" % (landed, nmsg))
            if nmsg and smin < a.size:
                res["errors"].append("a stored message has %d bytes, less "
                                     "than the %d-byte body sent"
                                     % (smin, a.size))
        if isinstance(inst, benchlib.Postfix):
            res["postqueue"] = inst.postqueue_count()
            if res["postqueue"] != landed:
                res["errors"].append("postqueue -p counts %d, hold/ has %d"
                                     % (res["postqueue"], landed))
        if landed < a.messages and rc == 0:
            # smtp-source got a 250 for every message: these are lost.
            res["errors"].append("LOST: only %d of %d acknowledged messages "
                                 "are in the queue" % (landed, a.messages))
        elif landed < a.messages:
            res["errors"].append("only %d of %d messages landed in the queue "
                                 "(smtp-source stopped at an error)"
                                 % (landed, a.messages))
        elif landed > a.messages:
            res["errors"].append("%d messages landed, %d sent (duplicates?)"
                                 % (landed, a.messages))
        if not inst.alive():
            res["errors"].append("%s died during the run" % inst.name)
        probs = inst.log_problems()
        res["log_problems"] = len(probs)
        if probs:
            res["log_sample"] = probs[:5]
        res["ok"] = not res["errors"]
    except BenchError as e:
        res["errors"].append(str(e))
    finally:
        with benchlib.signals_blocked():
            teardown(inst, res, a, state)
    return res


def idle_run(inst, n, a, state):
    """N idle connections to one fresh instance; memory before and with."""
    res = {"server": inst.name, "n": n, "ok": False, "errors": []}
    try:
        inst.start()
        state.refresh()
        time.sleep(1.0)     # let start-up settle (a greeting was exchanged)
        is_sekisho = isinstance(inst, benchlib.Sekisho)
        child = inst.smtp_child() if is_sekisho else None
        before_all = benchlib.mem_sum(inst.pids())
        before_child = benchlib.mem_kb(child) if child else None
        log("%s: opening %d idle connections" % (inst.name, n))
        ic = idle_conns.IdleConnections(inst.port, n, timeout=a.idle_timeout)
        with ic:
            res["opened"] = len(ic.socks)
            res["open_seconds"] = ic.open_seconds
            # sekisho-smtpd caps its sessions to what RLIMIT_NOFILE
            # carries at two descriptors each (docs/smtpd.md, "Resource
            # limits"): a refusal past that cap is the design, not a
            # failure, and is reported as the cap.
            cap = (benchlib.raise_nofile() - 32) // 2 if is_sekisho else n
            if ic.failed and cap < n and ic.failed == n - cap and all(
                    "421 4.7.0" in k for k in ic.fail_reasons):
                res["capped"] = cap
            elif ic.failed:
                res["errors"].append("%d of %d connections failed: %s" % (
                    ic.failed, n, ic.fail_reasons))
            time.sleep(a.settle)
            after_all = benchlib.mem_sum(inst.pids())
            after_child = benchlib.mem_kb(child) if child else None
            res["still_open"] = ic.still_open()
            if res["still_open"] < res["opened"]:
                res["errors"].append("server closed %d idle connections" % (
                    res["opened"] - res["still_open"]))
            if not is_sekisho:
                res["smtpd_procs"] = len(inst.smtpd_pids())
                res["smtpd_mem"] = benchlib.mem_sum(inst.smtpd_pids())
        k = max(1, res["opened"])
        res["before_all"], res["after_all"] = before_all, after_all
        res["per_conn_all"] = {m: (after_all[m] - before_all[m]) / k
                               for m in ("rss", "pss", "private")}
        if child:
            res["before_child"], res["after_child"] = before_child, after_child
            res["per_conn_child"] = {m: (after_child[m] - before_child[m]) / k
                                     for m in ("rss", "pss", "private")}
        if not inst.alive():
            res["errors"].append("%s died during the run" % inst.name)
        res["ok"] = not res["errors"]
    except (BenchError, RuntimeError) as e:
        res["errors"].append(str(e))
    finally:
        with benchlib.signals_blocked():
            teardown(inst, res, a, state)
    return res


def relay_pair(srv, a, state, tmp_root):
    """One relay run: a fresh smtp-sink and a fresh relay instance."""
    sink = new_instance(state, lambda: relay.Sink(tmp_root, a.sink_dir))
    try:
        if srv == "sekisho":
            extra = [("policy.ini", "scan", "enabled", "0"),
                     ("tsmtpd.ini", "SmtpClient", "SmartHost",
                      "127.0.0.1:%d" % sink.port),
                     ("tsmtpd.ini", "SmtpClient", "TlsPolicy", "none")]
            for spec in a.set:
                f, sec, kv = spec.split(":", 2)
                k, _, v = kv.partition("=")
                extra.append((f, sec, k.strip(), v.strip()))
            inst = new_instance(state, lambda: benchlib.Sekisho(
                a.bindir, tmp_root, extra=extra))
        else:
            inst = new_instance(state, lambda: benchlib.Postfix(
                tmp_root, maxproc=max(100, a.sessions + 20),
                relayport=sink.port, postconf=a.postconf))
    except BaseException:
        with benchlib.signals_blocked():
            sink.remove()
            state.drop(sink)
        raise

    def td(x, res):
        if x is inst:
            teardown(x, res, a, state)
        elif x is sink:
            sres = {"ok": res["ok"]}
            teardown(x, sres, a, state)
            if sres.get("log_tail"):
                res["sink_log_tail"] = sres["log_tail"]
    # the state file learns the pids as soon as both run
    orig_start = inst.start

    def start_and_record(*args, **kw):
        orig_start(*args, **kw)
        state.refresh()
    inst.start = start_and_record
    r = relay.relay_run(inst, sink, a, td)
    if isinstance(inst, benchlib.Sekisho):
        r["settings"] = ["%s [%s] %s=%s" % x for x in inst.settings]
    else:
        r["settings"] = ["main.cf %s = %s" % kv for kv in
                         inst.postconf.items()]
    return r


# ------------------------------------------------------------ report

def fmt(v, spec="%.0f"):
    return "-" if v is None else spec % v


def ms(v):
    return "-" if v is None else "%.1f" % (v * 1000.0)


def report_relay(a, rel, w):
    sruns = rel.get("sekisho") or []
    pruns = rel.get("postfix") or []
    nrun = max(len(sruns), len(pruns))
    w("relay: smtp-source -s %d -m %d -l %d%s -> server -> smtp-sink, "
      "127.0.0.1;" % (a.sessions, a.messages, a.size,
                      " -d" if a.reuse else " (one session per message)"))
    w("       messages/s = messages at the sink / (smtp-source start -> "
      "last one at the sink);")
    if a.probe_interval > 0:
        w("       latency = one probe message every %.0f ms on an extra "
          "session: final \".\" sent ->" % (a.probe_interval * 1000))
        w("       whole message at the sink (inotify on smtp-sink's dump "
          "file); probes count as messages;")
    w("       %d run%s per server, alternating, each on a fresh instance "
      "and a fresh sink" % (nrun, "s" if nrun != 1 else ""))
    pver = next((r.get("version") for r in pruns if r.get("version")),
                "postfix")
    w("  %-34s %14s %16s %8s" % ("", "sekisho-smtpd", pver[:16], "s/p"))

    def med(runs, get):
        v = []
        for r in runs:
            try:
                x = get(r)
            except (KeyError, TypeError):
                x = None
            if x is not None:
                v.append(x)
        return statistics.median(v) if v else None

    def row(label, get, spec="%.1f", ratio=None, conv=None):
        sv, pv = med(sruns, get), med(pruns, get)
        r = ""
        if ratio == "s/p" and sv and pv:
            r = "%.2f" % (sv / pv)
        elif ratio == "p/s" and sv and pv:
            r = "%.2f" % (sv / pv)
        c = conv or (lambda v: fmt(v, spec))
        w("  %-34s %14s %16s %8s" % (label, c(sv), c(pv), r))
    row("messages/s end to end (median)", lambda r: r["rate"], ratio="s/p")
    row("wall time to last delivery, s", lambda r: r["wall"], "%.2f")
    row("smtp-source time (accepting), s", lambda r: r["source_seconds"],
        "%.2f")
    if a.probe_interval > 0:
        row("latency EOD->sink p50, ms",
            lambda r: r["probe_latency"]["p50"], conv=ms, ratio="p/s")
        row("latency EOD->sink p99, ms",
            lambda r: r["probe_latency"]["p99"], conv=ms, ratio="p/s")
        row("latency EOD->250 p50, ms (commit)",
            lambda r: r["probe_ack"]["p50"], conv=ms)
        w("  %-34s %14s %16s" % (
            "probes timed, all runs",
            sum(r.get("probe_latency", {}).get("n", 0) for r in sruns)
            if sruns else "-",
            sum(r.get("probe_latency", {}).get("n", 0) for r in pruns)
            if pruns else "-"))

    def tot(runs, key, key2=None):
        if not runs:
            return "-"
        x = sum(r.get(key, 0) or 0 for r in runs)
        if key2:
            return "%d/%d" % (x, sum(r.get(key2, 0) or 0 for r in runs))
        return str(x)
    w("  %-34s %14s %16s" % ("at the sink (distinct)/sent, all",
                             tot(sruns, "unique_ids", "expected"),
                             tot(pruns, "unique_ids", "expected")))
    w("  %-34s %14s %16s" % ("duplicates at the sink",
                             tot(sruns, "duplicates"),
                             tot(pruns, "duplicates")))
    w("  %-34s %14s %16s" % ("left in the queue after the run",
                             tot(sruns, "queue_left"),
                             tot(pruns, "queue_left")))
    w("  %-34s %14s %16s" % (
        "smtp-source failures",
        sum(1 for r in sruns if r.get("source_rc") != 0) if sruns else "-",
        sum(1 for r in pruns if r.get("source_rc") != 0) if pruns else "-"))
    w("  %-34s %14s %16s" % ("server log warnings/errors",
                             tot(sruns, "log_problems"),
                             tot(pruns, "log_problems")))
    w("  %-34s %14s" % ("sekisho log lvl=err lines",
                        tot(sruns, "log_err_lines")))
    for name, runs in (("sekisho", sruns), ("postfix", pruns)):
        if len(runs) > 1:
            w("  %s runs, messages/s: %s" % (name, ", ".join(
                "%.1f" % r["rate"] if r.get("rate") else "-"
                for r in runs)))
    for name, runs in (("sekisho", sruns), ("postfix", pruns)):
        if runs and runs[0].get("settings"):
            w("  %s settings: %s" % (name, "; ".join(runs[0]["settings"])))
    w("")
    return sruns, pruns


def report(a, mach, disk, fs, acc, idle, started, elapsed, rel=None):
    rel = rel or {}
    L = []
    w = L.append
    w("sekisho benchmark, steps: %s (bench/run.sh)" % ", ".join(
        x for x in ("accept", "idle", "relay") if x in a.steps))
    w("date      %s   mode %s   total %.0fs" % (started, a.mode, elapsed))
    w("machine   %d CPU (%s), %.1f GiB RAM, kernel %s, Debian %s" % (
        mach["nproc"], mach["cpu"], mach["mem_gib"], mach["kernel"],
        mach["os"]))
    w("load      %s at start, %s at the end (1/5/15-minute averages; "
      "other work on the host skews every figure)" % (mach["load_start"],
                                                      mach["load_end"]))
    w("disk      %s: %s %s (%s GiB, rotational=%s, write cache=%s)" % (
        disk["mount"], disk["device"], disk["fs"], disk.get("size_gib", "?"),
        disk.get("rotational", "?"), disk.get("write_cache", "?")))
    w("")
    if fs:
        w("fsync capability of that filesystem (%d-byte writes, ~%.0fs each,"
          % (a.size, a.fsync_seconds))
        w("measured before and after the servers ran):")
        for label, k in (("new file + fsync", "newfile"),
                         ("new file + fsync + dir fsync", "newfile+dir"),
                         ("new file + syncfs", "newfile+syncfs"),
                         ("append + fdatasync (one file)", "append")):
            w("  %-30s %8.0f /s %8s" % (
                label, fs[0][k]["per_s"],
                "%.0f /s" % fs[1][k]["per_s"] if fs[1] else ""))
        w("")
    sruns = acc.get("sekisho") or []
    pruns = acc.get("postfix") or []
    if acc:
        nrun = max(len(sruns), len(pruns))
        w("accept: smtp-source -s %d -m %d -l %d%s, 127.0.0.1;" % (
            a.sessions, a.messages, a.size,
            " -d (messages share sessions)" if a.reuse
            else " (one session per message)"))
        w("        %d run%s per server, alternating, each on a fresh instance"
          % (nrun, "s" if nrun != 1 else ""))
        pver = next((r.get("version") for r in pruns if r.get("version")),
                    "postfix")
        w("  %-30s %16s %16s %10s" % ("", "sekisho-smtpd", pver[:16], "s/p"))

        def med(runs, key):
            v = [r[key] for r in runs if r.get(key) is not None]
            return statistics.median(v) if v else None

        def row(label, key, spec, ratio=False):
            sv, pv = med(sruns, key), med(pruns, key)
            r = ("%.2f" % (sv / pv)) if ratio and sv and pv else ""
            w("  %-30s %16s %16s %10s" % (label, fmt(sv, spec),
                                          fmt(pv, spec), r))
        row("messages/s (median)", "rate", "%.1f", ratio=True)
        if not a.reuse:
            row("sessions/s (median)", "sessions_rate", "%.1f", ratio=True)
        row("wall time, s (median)", "wall", "%.2f")

        def landed(runs):
            if not runs:
                return "-"
            return "%d/%d" % (sum(r.get("landed", 0) for r in runs),
                              a.messages * len(runs))
        w("  %-30s %16s %16s" % ("landed in queue / sent, all",
                                 landed(sruns), landed(pruns)))
        w("  %-30s %16s %16s" % (
            "smtp-source failures",
            sum(1 for r in sruns if r.get("source_rc") != 0) if sruns else "-",
            sum(1 for r in pruns if r.get("source_rc") != 0) if pruns else "-"))
        w("  %-30s %16s %16s" % (
            "server log warnings/errors",
            sum(r.get("log_problems", 0) for r in sruns) if sruns else "-",
            sum(r.get("log_problems", 0) for r in pruns) if pruns else "-"))
        for name, runs in (("sekisho", sruns), ("postfix", pruns)):
            if len(runs) > 1:
                w("  %s runs, messages/s: %s" % (name, ", ".join(
                    "%.1f" % r["rate"] if r.get("rate") else "-"
                    for r in runs)))
        w("")
    si = idle.get("sekisho") or {}
    pi = idle.get("postfix") or {}
    if idle:
        w("idle connections (greeting read, then silent; %.0fs settle):"
          % a.settle)
        w("  %-30s %16s %16s %10s" % ("", "sekisho-smtpd", "postfix", "s/p"))
        w("  %-30s %16s %16s" % ("connections held",
                                 "%s/%s" % (si.get("opened", "-"),
                                            si.get("n", "-")) if si else "-",
                                 "%s/%s" % (pi.get("opened", "-"),
                                            pi.get("n", "-")) if pi else "-"))

        def mrow(label, sd, pd, m):
            sv = sd.get(m) if sd else None
            pv = pd.get(m) if pd else None
            r = ("%.4f" % (sv / pv)) if sv is not None and pv else ""
            w("  %-30s %16s %16s %10s" % (label, fmt(sv, "%.1f"),
                                          fmt(pv, "%.1f"), r))
        sa, pa = si.get("per_conn_all"), pi.get("per_conn_all")
        mrow("KB/conn, all procs, Private", sa, pa, "private")
        mrow("KB/conn, all procs, Pss", sa, pa, "pss")
        mrow("KB/conn, all procs, RSS", sa, pa, "rss")
        sc = si.get("per_conn_child")
        if sc:
            w("  %-30s %16s" % ("KB/conn, smtp child, Private",
                                fmt(sc["private"], "%.1f")))
            w("  %-30s %16s" % ("KB/conn, smtp child, Pss", fmt(sc["pss"], "%.1f")))
            w("  %-30s %16s" % ("KB/conn, smtp child, VmRSS", fmt(sc["rss"], "%.1f")))
            w("  %-30s %16s" % ("smtp child total, before/with",
                                "%d/%d KB" % (si["before_child"]["pss"],
                                              si["after_child"]["pss"])))
        if pi.get("smtpd_mem"):
            w("  %-30s %16s %16s" % ("postfix smtpd processes", "",
                                     pi.get("smtpd_procs")))
        if sa:
            worst = max(list(sa.values()) + list((sc or {}).values()))
            w("  target < 32 KB per idle connection (sekisho, largest of the "
              "figures above): %s" % ("met" if worst < 32 else "NOT MET"))
        w("")
    rs, rp = [], []
    if rel:
        rs, rp = report_relay(a, rel, w)
    failures = []
    tagged = ([("accept sekisho #%d" % (i + 1), r)
               for i, r in enumerate(sruns)] +
              [("accept postfix #%d" % (i + 1), r)
               for i, r in enumerate(pruns)] +
              [("idle sekisho", si), ("idle postfix", pi)] +
              [("relay sekisho #%d" % (i + 1), r)
               for i, r in enumerate(rs)] +
              [("relay postfix #%d" % (i + 1), r)
               for i, r in enumerate(rp)])
    for tag, r in tagged:
        for e in (r.get("errors") or []):
            failures.append("%s: %s" % (tag, e))
        if r.get("log_sample"):
            L.append("%s: server log sample:" % tag)
            L.extend("    " + x[:200] for x in r["log_sample"])
        if r.get("log_err_sample"):
            L.append("%s: sekisho log lvl=err lines (first %d of %d):" % (
                tag, len(r["log_err_sample"]), r.get("log_err_lines", 0)))
            L.extend("    " + x[:300] for x in r["log_err_sample"])
    if failures:
        w("FAILED:")
        for f in failures:
            w("  " + f)
        for tag, r in tagged:
            if r.get("log_tail"):
                w("%s: last log lines:" % tag)
                L.extend("    " + x[:300] for x in r["log_tail"].splitlines())
            if r.get("sink_log_tail"):
                w("%s: smtp-sink stderr:" % tag)
                L.extend("    " + x[:300] for x in
                         r["sink_log_tail"].splitlines())
    else:
        w("result: all checks passed")
    return "\n".join(L) + "\n", failures


# ------------------------------------------------------------ main

def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--mode", choices=sorted(MODES), default="default")
    ap.add_argument("--sessions", type=int)
    ap.add_argument("--messages", type=int)
    ap.add_argument("--size", type=int, help="body bytes per message")
    ap.add_argument("--idle", type=int, help="idle connections, sekisho")
    ap.add_argument("--postfix-idle", type=int,
                    help="idle connections, Postfix (one process each)")
    ap.add_argument("--fsync-seconds", type=float)
    ap.add_argument("--repeat", type=int,
                    help="accept runs per server (median reported)")
    ap.add_argument("--reuse", action="store_true",
                    help="smtp-source -d: send the messages over SESSIONS "
                    "connections instead of one connection per message")
    ap.add_argument("--only", choices=("sekisho", "postfix"),
                    help="run one server only (development)")
    ap.add_argument("--steps", default="accept,idle,relay",
                    help="comma-separated steps to run (default: all of "
                    "accept,idle,relay; the fsync probe always runs unless "
                    "skipped)")
    ap.add_argument("--skip", action="append", default=[],
                    choices=("fsync", "accept", "idle", "relay"))
    ap.add_argument("--probe-interval", type=float, default=0.02,
                    help="relay: seconds between latency probes (0: none)")
    ap.add_argument("--drain-timeout", type=int, default=600,
                    help="relay: seconds after smtp-source ends for the last "
                    "message to reach the sink")
    ap.add_argument("--stall", type=float, default=60.0,
                    help="relay: give up when nothing reaches the sink for "
                    "this many seconds")
    ap.add_argument("--sink-dir", default=None,
                    help="relay: where smtp-sink dumps the messages "
                    "(default /dev/shm when it is a tmpfs, else --tmpdir)")
    ap.add_argument("--set", action="append", default=[],
                    metavar="FILE:SECTION:KEY=VALUE",
                    help="relay: one more sekisho setting, e.g. "
                    "tsmtpd.ini:SmtpClient:MaxConnectionsPerDestination=20")
    ap.add_argument("--postconf", action="append", default=[],
                    metavar="KEY=VALUE",
                    help="relay: one more Postfix main.cf setting")
    ap.add_argument("--timeout", type=int, default=900,
                    help="seconds one smtp-source run may take")
    ap.add_argument("--idle-timeout", type=float, default=180.0)
    ap.add_argument("--settle", type=float, default=2.0)
    ap.add_argument("--bindir", default=os.path.join(
        benchlib.SOURCE, "build-bench", "bin"))
    ap.add_argument("--tmpdir", default=os.environ.get("TMPDIR", "/tmp"),
                    help="where the instances (spools) live")
    ap.add_argument("--results", default=os.path.join(HERE, "results"))
    ap.add_argument("--state", help="instance list for run.sh's trap")
    ap.add_argument("--keep", action="store_true",
                    help="keep the directories of failed instances")
    ap.add_argument("--cleanup", metavar="STATE",
                    help="only clean up after a killed run, then exit")
    a = ap.parse_args()
    if a.cleanup:
        cleanup_from_state(a.cleanup)
        return 0
    for k, v in MODES[a.mode].items():
        if getattr(a, k) is None:
            setattr(a, k, v)
    for k in ("sessions", "messages", "size", "repeat"):
        if getattr(a, k) < 1:
            ap.error("--%s must be at least 1" % k)
    steps = [x.strip() for x in a.steps.split(",") if x.strip()]
    for x in steps:
        if x not in ("accept", "idle", "relay"):
            ap.error("--steps: unknown step %r" % x)
    a.steps = [x for x in ("accept", "idle", "relay")
               if x in steps and x not in a.skip]
    for spec in a.set:
        if spec.count(":") < 2 or "=" not in spec:
            ap.error("--set wants FILE:SECTION:KEY=VALUE, not %r" % spec)
    for kv in a.postconf:
        if "=" not in kv:
            ap.error("--postconf wants KEY=VALUE, not %r" % kv)
    if a.sink_dir is None:
        a.sink_dir = None
        try:
            with open("/proc/mounts") as f:
                for ln in f:
                    p = ln.split()
                    if p[1] == "/dev/shm" and p[2] == "tmpfs" and \
                            os.access("/dev/shm", os.W_OK):
                        a.sink_dir = "/dev/shm"
        except OSError:
            pass

    # SIGTERM/SIGHUP behave like Ctrl-C: unwind through the finally blocks.
    def on_signal(signum, _frame):
        raise KeyboardInterrupt("signal %d" % signum)
    for sig in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, on_signal)

    benchlib.raise_nofile()
    # client and server are separate processes, each with this limit
    need = max(a.idle, a.postfix_idle) + 256
    nofile = benchlib.raise_nofile()
    if "idle" in a.steps and nofile < need:
        log("RLIMIT_NOFILE is %d; %d idle connections need about %d "
            "(ulimit -Hn)" % (nofile, max(a.idle, a.postfix_idle), need))
        return 2
    servers = ("sekisho", "postfix") if not a.only else (a.only,)
    if not os.access(SMTP_SOURCE, os.X_OK):
        log("%s missing: apt-get install postfix (bench/run.sh does)"
            % SMTP_SOURCE)
        return 2

    busy = float(benchlib.loadavg().split()[0])
    if busy > 0.5 * (os.cpu_count() or 1):
        log("warning: load average %.1f on %d CPUs: other work is running, "
            "the figures will be noisy" % (busy, os.cpu_count() or 1))
    tmp_root = os.path.realpath(a.tmpdir)
    state = State(a.state)
    started = datetime.datetime.now()
    t_start = time.monotonic()
    mach = benchlib.machine()
    disk = disk_of(tmp_root)
    fs, acc, idle, rel = None, {}, {}, {}
    try:
        if "fsync" not in a.skip:
            log("fsync probe in %s (%.0fs per loop)" % (tmp_root,
                                                          a.fsync_seconds))
            fs = [fsync_probe.probe(tmp_root, a.fsync_seconds, a.size), None]
        if "accept" in a.steps:
            for i in range(a.repeat):
                # alternate the order so that drift hits both alike
                order = servers if i % 2 == 0 else tuple(reversed(servers))
                for srv in order:
                    if srv == "sekisho":
                        inst = new_instance(state, lambda: benchlib.Sekisho(
                            a.bindir, tmp_root, extra=KEEP))
                    else:
                        inst = new_instance(state, lambda: benchlib.Postfix(
                            tmp_root, maxproc=max(100, a.sessions + 20)))
                    r = accept_run(inst, a, state)
                    acc.setdefault(srv, []).append(r)
                    log("%s run %d/%d: %s" % (
                        srv, i + 1, a.repeat, "ok %.1f msg/s" % r["rate"]
                        if r["ok"] else "FAILED: %s" % r["errors"]))
        if "idle" in a.steps:
            for srv in servers:
                n = a.idle if srv == "sekisho" else a.postfix_idle
                if n <= 0:
                    continue
                if srv == "sekisho":
                    inst = new_instance(state, lambda: benchlib.Sekisho(
                        a.bindir, tmp_root, max_conns=max(1000, n + 100),
                        extra=KEEP))
                else:
                    inst = new_instance(state, lambda: benchlib.Postfix(
                        tmp_root, maxproc=n + 50))
                idle[srv] = idle_run(inst, n, a, state)
                log("%s: idle %s" % (srv, "ok" if idle[srv]["ok"] else
                                      "FAILED: %s" % idle[srv]["errors"]))
        if "relay" in a.steps:
            for i in range(a.repeat):
                order = servers if i % 2 == 0 else tuple(reversed(servers))
                for srv in order:
                    r = relay_pair(srv, a, state, tmp_root)
                    rel.setdefault(srv, []).append(r)
                    log("%s relay run %d/%d: %s" % (
                        srv, i + 1, a.repeat,
                        "ok %.1f msg/s" % r["rate"] if r["ok"]
                        else "FAILED: %s" % r["errors"]))
        if fs:
            log("fsync probe again")
            fs[1] = fsync_probe.probe(tmp_root, a.fsync_seconds, a.size)
    except (KeyboardInterrupt, BenchError) as e:
        with benchlib.signals_blocked():
            if isinstance(e, KeyboardInterrupt):
                log("interrupted; tearing down")
            else:
                log("setup failed: %s" % e)
            for inst in list(state.live):
                inst.stop()
                inst.remove()
                state.drop(inst)
        return 130 if isinstance(e, KeyboardInterrupt) else 2

    mach["load_end"] = benchlib.loadavg()
    text, failures = report(a, mach, disk, fs, acc, idle,
                            started.strftime("%Y-%m-%d %H:%M:%S"),
                            time.monotonic() - t_start, rel)
    print(text, end="")
    os.makedirs(a.results, exist_ok=True)
    # accept-<date> as before when relay did not run; relay-<date> for the
    # relay step alone; all-<date> when both ran.
    prefix = ("relay" if a.steps == ["relay"] else
              "all" if "relay" in a.steps else "accept")
    name = "%s-%s%s.txt" % (prefix, started.strftime("%Y%m%d-%H%M%S"),
                            "" if a.mode == "default" else "-" + a.mode)
    out = os.path.join(a.results, name)
    with open(out, "w") as f:
        f.write(text)
        f.write("\n# raw\n")
        json.dump({"args": vars(a), "machine": mach, "disk": disk,
                   "fsync": fs, "accept": acc, "idle": idle, "relay": rel},
                  f, indent=1,
                  default=str)
        f.write("\n")
    log("results written to %s" % out)
    if failures:
        log("FAILED: %d check(s) failed, see above" % len(failures))
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
