#!/usr/bin/env python3
"""scan_bench.py: the "scan" step: messages scanned per second per core and
memory per worker, sekisho's scanner library next to rspamd 3.4 (Debian)
on the same messages in the same run (issue 5 "Performance").

  python3 bench/scan_bench.py [--mode quick|default] --bindir BUILD/bin
  python3 bench/scan_bench.py --av [--mode quick|default] --bindir BUILD/bin
  python3 bench/scan_bench.py --cleanup STATE

--av (issue 6, "antivirus on versus off"; bench/README.md, "Antivirus")
runs sekisho-scanbench alone, without and with `-a DBDIR` (libclamav loaded
once in the parent before the workers fork, each message checked as
scanner/scanjob.c does: the raw message, then each decoded MIME part,
scanner/avmsg.c), on every class, and
writes bench/results/av-<date>[-quick].txt; no rspamd, no root.  DBDIR is
/var/lib/clamav when it holds a .cvd or .cld file, else a synthetic
database made in the temp dir (make_av_db: an EICAR body signature, 200,000
random .hdb MD5 lines, 20,000 random .ndb body signatures).

What it does (bench/README.md, "Scan"):
  1. installs rspamd when it is missing (apt-get, DEBIAN_FRONTEND=
     noninteractive, --no-install-recommends); if the install started the
     system service it is stopped and disabled again;
  2. generates the corpus (bench/scan/gen_corpus.py, fixed seed): three
     size classes, about 5 KB, 100 KB and 2 MB, with attachments;
  3. starts a private rspamd in a temp dir, with one normal worker, no
     controller or proxy, no Redis, every module that needs the network
     disabled and the multimap rules of bench/scan's keyword lists and
     executable names added; it runs in its own network namespace, whose
     only interface is its own loopback (unshare --net), and its resolver
     points at 127.0.0.1:1, so nothing it does can reach another host;
  4. for each class, R times (quick 1, default 3), in alternating order:
     sekisho-scanbench (bench/scan/scanbench.c) with the policy of
     bench/scan/ (28 rules, 6 keyword lists) on one worker process for T
     seconds, and rspamd's /checkv2 fed the same messages from C
     concurrent connections for T seconds; then, rspamd stopped,
     sekisho with K worker processes (scaling and shared memory);
  5. prints the table and writes it, with the raw JSON, to
     bench/results/scan-<date>[-quick].txt.

"Per core" is messages per CPU second of the scanning process: for
sekisho the worker's own getrusage, for rspamd the normal worker's
utime + stime from /proc/PID/stat over the timed window, so a client that
cannot keep rspamd's worker fully busy does not lower its figure.  The
wall-clock rate and the worker's CPU share are reported beside it.
Python 3 standard library only.  Needs root (apt-get, the network
namespace, clear_refs of the rspamd worker).
"""
import argparse
import datetime
import json
import os
import re
import signal
import subprocess
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
SOURCE = os.path.dirname(HERE)
sys.path.insert(0, HERE)
import benchlib  # noqa: E402
from benchlib import BenchError, log  # noqa: E402
# rspamd, the network namespace, the state file and the results are
# shared with spam_bench.py (benchlib.py).
from benchlib import (NetNs, State, cleanup, ensure_rspamd,  # noqa: E402
                      mb, netns_works, proc_cpu, proc_status_kb,
                      rspamd_version, write_results)
from benchlib import null_ctx as _null  # noqa: E402

SCAN_DIR = os.path.join(HERE, "scan")
CLASSES = ("5k", "100k", "2m")
MODES = {
    # seconds per class and run, runs per class and scanner, corpus counts
    # (5k, 100k, 2m), client connections to rspamd
    "quick": {"seconds": 5, "repeat": 1, "n": (200, 60, 12),
              "concurrency": 4},
    "default": {"seconds": 20, "repeat": 3, "n": (1000, 300, 40),
                "concurrency": 6},
}
ENV_FROM = "sender@example.net"
ENV_RCPTS = ("user1@example.com", "partner@example.org")
CLIENT_IP = "192.0.2.25"        # TEST-NET-1: documentation only


def kw_to_rspamd(path):
    """A keyword list (bench/scan/keywords) as rspamd regexp map lines."""
    out, caseless = [], False
    with open(path, encoding="utf-8") as f:
        for ln in f:
            s = ln.strip()
            if s == "#!caseless":
                caseless = True
            elif s == "#!case-sensitive":
                caseless = False
            if not s or s.startswith("#"):
                continue
            out.append("/%s/%s" % (s.replace("/", "\\/"),
                                   "iu" if caseless else "u"))
    return out


def policy_names():
    """attachment_name globs of the executable rules, as one regexp list."""
    globs = []
    with open(os.path.join(SCAN_DIR, "policy.ini"), encoding="utf-8") as f:
        for ln in f:
            m = re.match(r"\s*attachment_name\s*=\s*(.*)", ln)
            if m:
                globs += [g.strip() for g in m.group(1).split(",")]
    out = []
    for g in globs:
        rx = re.escape(g).replace(r"\*", ".*").replace(r"\?", ".")
        out.append("/^%s$/iu" % rx)
    return out


MULTIMAP_RULES = (
    # symbol, type, extra settings, map file
    ("SEKISHO_OFFENSIVE", 'type = "content"; filter = "text";',
     "offensive.map", ("racism", "sexism", "defamation")),
    ("SEKISHO_CONFIDENTIAL", 'type = "content"; filter = "text";',
     "confidential.map", ("confidential",)),
    ("SEKISHO_FRAUD", 'type = "content"; filter = "text";',
     "fraud.map", ("fraud",)),
    ("SEKISHO_PII", 'type = "content"; filter = "text";',
     "pii.map", ("pii",)),
    ("SEKISHO_SUBJECT_CONF", 'type = "header"; header = "Subject";',
     "confidential.map", ()),
    ("SEKISHO_BULK_MAILER", 'type = "header"; header = "X-Mailer";',
     "bulk.map", ()),
    ("SEKISHO_SPAM_FLAG", 'type = "header"; header = "X-Spam-Flag";',
     "spamflag.map", ()),
    ("SEKISHO_EXE_NAME", 'type = "filename";', "names.map", ()),
)


class Rspamd(benchlib.Rspamd):
    """The shared private rspamd (benchlib.Rspamd) plus multimap rules made
    from bench/scan's keyword lists and executable names."""

    what = "sekisho scan benchmark"

    def configure(self):
        """bench/README.md, "Scan": benchlib's offline copy of Debian's
        configuration, its multimap replaced with the policy's lists."""
        maps = os.path.join(self.dir, "maps")
        os.makedirs(maps, exist_ok=True)
        kwdir = os.path.join(SCAN_DIR, "keywords")
        files = {}
        for sym, _typ, mapname, lists in MULTIMAP_RULES:
            if lists:
                lines = []
                for l in lists:
                    lines += kw_to_rspamd(os.path.join(kwdir, l + ".txt"))
                files[mapname] = lines
        files["bulk.map"] = [r"/\b(?:bulk|mass|blast|sendblaster|atompark|"
                             r"phpmailer)\b/i"]
        files["spamflag.map"] = [r"/^\s*yes/i"]
        files["names.map"] = policy_names()
        for name, lines in files.items():
            with open(os.path.join(maps, name), "w", encoding="utf-8") as f:
                f.write("\n".join(lines) + "\n")
        mm = ["# sekisho scan benchmark: the policy's lists (bench/scan)"]
        mm.append("multimap {")
        for sym, typ, mapname, _lists in MULTIMAP_RULES:
            mm.append('  %s { %s regexp = true; map = "%s"; score = 1.0; }'
                      % (sym, typ, os.path.join(maps, mapname)))
        mm.append("}")
        super().configure(benchlib.RSPAMD_OFF,
                          {"modules.d/multimap.conf": "\n".join(mm) + "\n"})


# ------------------------------------------------------------ rspamd client

def load_class(d):
    msgs = []
    for fn in sorted(os.listdir(d)):
        if fn.endswith(".eml"):
            with open(os.path.join(d, fn), "rb") as f:
                msgs.append(f.read())
    return msgs



def check_request(port, msg, timeout=60):
    """One /checkv2 of msg with the benchmark's envelope; (status, parsed
    JSON reply or None)."""
    hdr = ["IP: %s" % CLIENT_IP, "Helo: mx1.example.net",
           "Hostname: mx1.example.net", "From: %s" % ENV_FROM]
    hdr += ["Rcpt: %s" % r for r in ENV_RCPTS]
    return benchlib.rspamd_check(port, msg, hdr, timeout)


def rspamd_class(rs, name, msgs, seconds, concurrency, check):
    """The timed load on one class; figures of the normal worker."""
    worker = rs.normal_worker()
    if worker is None:
        raise BenchError("rspamd has no normal worker")
    # One pass first, untimed (first run of a class only): warms the
    # worker, checks every reply, and records what rspamd decided.
    actions, syms, bad = {}, {}, 0
    for m in (msgs if check else ()):
        st, rep = check_request(rs.port, m)
        if st != 200 or not isinstance(rep, dict) or "action" not in rep:
            bad += 1
            continue
        actions[rep["action"]] = actions.get(rep["action"], 0) + 1
        for s in rep.get("symbols", {}):
            if s.startswith("SEKISHO_"):
                syms[s] = syms.get(s, 0) + 1
    try:
        with open("/proc/%d/clear_refs" % worker, "w") as f:
            f.write("5")        # reset VmHWM: the peak of this class only
    except OSError:
        pass
    stop = threading.Event()
    counts = [[0, 0, 0] for _ in range(concurrency)]    # msgs, bytes, errors

    def client(k):
        i = (len(msgs) * k) // concurrency
        c = counts[k]
        while not stop.is_set():
            m = msgs[i]
            try:
                st, _rep = check_request(rs.port, m)
                if st == 200:
                    c[0] += 1
                    c[1] += len(m)
                else:
                    c[2] += 1
            except OSError:
                c[2] += 1
            i = (i + 1) % len(msgs)

    threads = [threading.Thread(target=client, args=(k,), daemon=True)
               for k in range(concurrency)]
    cpu0 = proc_cpu(worker)
    t0 = time.monotonic()
    for t in threads:
        t.start()
    time.sleep(seconds)
    # Read the worker's CPU at the end of the window, then stop: requests
    # in flight complete after it and are not counted ...
    stop.set()
    wall = time.monotonic() - t0
    cpu = proc_cpu(worker) - cpu0
    done = sum(c[0] for c in counts)
    for t in threads:
        t.join(120)
    # ... except those that finished between the two reads: close enough
    # for windows of seconds; the count is taken after the joins.
    done = sum(c[0] for c in counts)
    nbytes = sum(c[1] for c in counts)
    errors = sum(c[2] for c in counts)
    mem = benchlib.mem_kb(worker)
    return {
        "messages": len(msgs), "scanned": done, "bytes": nbytes,
        "errors": errors + bad, "wall_s": wall, "cpu_s": cpu,
        "cpu_share": cpu / wall if wall else 0,
        "msgs_per_s": done / wall, "mb_per_s": nbytes / wall / 1e6,
        "msgs_per_cpu_s": done / cpu if cpu else 0,
        "mb_per_cpu_s": nbytes / cpu / 1e6 if cpu else 0,
        "worker_pid": worker,
        "worker_peak_rss_kb": proc_status_kb(worker, "VmHWM"),
        "worker_rss_kb": mem["rss"], "worker_pss_kb": mem["pss"],
        "worker_private_kb": mem["private"],
        "check": {"actions": actions, "sekisho_symbols": syms,
                  "bad_replies": bad},
    }


# ------------------------------------------------------------ sekisho


# ------------------------------------------------------------ sekisho

def run_scanbench(bindir, corpus, seconds, workers, tmp, classes, check,
                  avdb=None):
    """sekisho-scanbench on some classes (with -a avdb: antivirus on); its
    JSON."""
    args = ["-c", SCAN_DIR, "-t", str(seconds), "-j", str(workers)] + (
        [] if check else ["-q"]) + (["-a", avdb] if avdb else []) + [
            "%s=%s" % (c, os.path.join(corpus, c)) for c in classes]
    return benchlib.run_scanbench(bindir, args, tmp,
                                  seconds * len(classes) * 4 + 600)



EICAR = (rb"X5O!P%@AP[4\PZX54(P^)7CC)7}$EICAR-STANDARD-ANTIVIRUS-TEST-FILE!"
         rb"$H+H*")
AV_SYSTEM_DB = "/var/lib/clamav"


def make_av_db(tmp, nhdb=200000, nndb=20000, seed=6):
    """The signature directory: /var/lib/clamav when it holds official
    databases (.cvd/.cld), else a synthetic one in tmp.  Returns (dir,
    description)."""
    try:
        real = [f for f in os.listdir(AV_SYSTEM_DB)
                if f.endswith((".cvd", ".cld"))]
    except OSError:
        real = []
    if real:
        return AV_SYSTEM_DB, "%s (%s)" % (AV_SYSTEM_DB, ", ".join(sorted(real)))
    import random
    rnd = random.Random(seed)
    d = os.path.join(tmp, "clamdb")
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, "bench.hdb"), "w") as f:
        for i in range(nhdb):
            f.write("%032x:%d:Bench.Hash.%d\n"
                    % (rnd.getrandbits(128), rnd.randint(64, 4 << 20), i))
    with open(os.path.join(d, "bench.ndb"), "w") as f:
        f.write("Bench.Eicar.Body:0:*:%s\n" % EICAR.hex())
        for i in range(nndb):
            n = rnd.randint(16, 32)
            f.write("Bench.Body.%d:0:*:%s\n"
                    % (i, bytes(rnd.getrandbits(8) for _ in range(n)).hex()))
    return d, ("synthetic, in the temp dir: 1 EICAR .ndb body signature, "
               "%d random .hdb MD5s, %d random 16-32 byte .ndb body "
               "signatures (seed %d)" % (nhdb, nndb, seed))


def av_report(a, mach, manifest, off, on, onk, dbdesc, started, elapsed):
    """The table of --av: antivirus off versus on, per class."""
    L = []
    L.append("antivirus benchmark (issue 6), %s mode, %s (%.0f s); T = %g s "
             "per class and run, 1 run each" % (a.mode, started, elapsed,
                                                a.seconds))
    L.append("machine: %d CPUs (%s), %.1f GiB, kernel %s, %s; load %s -> %s"
             % (mach["nproc"], mach["cpu"], mach["mem_gib"], mach["kernel"],
                "Debian " + mach["os"], mach["load_start"],
                mach.get("load_end", "?")))
    L.append("corpus: gen_corpus.py seed %d: %s" % (manifest["seed"], ", ".join(
        "%s %d msgs (mean %.1f KB)" % (c, v["messages"], v["mean"] / 1024)
        for c, v in ((c, manifest["classes"][c]) for c in CLASSES))))
    L.append("sekisho: sekisho-scanbench, bench/scan/policy.ini (%d rules), "
             "1 worker process; AV on = -a DBDIR: %s, %d signatures"
             % (off["rules"], on["av"], on["av_signatures"]))
    L.append("signatures: %s" % dbdesc)
    L.append("limits: max_scan 100 MiB, max_file 25 MiB, recursion 18, "
             "files 10000, timeout 60 s, block_encrypted (scanner defaults)")
    L.append("per core = messages / CPU s of the worker (getrusage); av% = "
             "share of the worker's CPU in av_scan() (raw message + each decoded part)")
    L.append("")
    fmt = "%-5s | %12s | %12s | %6s | %5s | %-21s | %-21s"
    hdr = fmt % ("class", "AV off", "AV on", "on/off", "av%",
                 "worker off Rss/Pss", "worker on Rss/Pss")
    L.append(hdr)
    L.append(fmt % ("", "msg/s/core", "msg/s/core", "", "", "(Private)",
                    "(Private)"))
    L.append("-" * len(hdr))
    for c in CLASSES:
        f, o = off["classes"][c], on["classes"][c]
        L.append(fmt % (
            c, "%.1f" % f["msgs_per_cpu_s"], "%.1f" % o["msgs_per_cpu_s"],
            "%.3f" % (o["msgs_per_cpu_s"] / f["msgs_per_cpu_s"]),
            "%.0f%%" % (100 * o["cpu_av_s"] / o["cpu_s"]),
            "%s/%s (%s)" % (mb(f["worker_rss_kb"]), mb(f["worker_pss_kb"]),
                            mb(f["worker_private_kb"])),
            "%s/%s (%s)" % (mb(o["worker_rss_kb"]), mb(o["worker_pss_kb"]),
                            mb(o["worker_private_kb"]))))
    L.append("")
    L.append("parent (the process that loads the policy and the engine, then "
             "forks): RSS after the policy %s, after av_open %s (+%s); "
             "av_open took %.2f s"
             % (mb(on["rss_after_load_kb"]), mb(on["rss_after_av_kb"]),
                mb(on["rss_after_av_kb"] - on["rss_after_load_kb"]),
                on["av_load_s"]))
    for tag, r in (("AV off", off), ("AV on", on)) + (
            (("AV on, %d workers" % onk["workers"], onk),) if onk else ()):
        for c in CLASSES:
            x = r["classes"][c]
            ws = x["per_worker"]
            L.append("%-17s %-4s parent Rss %s Pss %s Private %s | workers "
                     "(Rss/Pss/Private) %s | parent + workers Pss %s"
                     % (tag, c, mb(x["parent_rss_kb"]), mb(x["parent_pss_kb"]),
                        mb(x["parent_private_kb"]), ", ".join(
                            "%s/%s/%s" % (mb(w["rss_kb"]), mb(w["pss_kb"]),
                                          mb(w["private_kb"])) for w in ws),
                        mb(x["total_pss_kb"])))
    L.append("")
    fails = []
    for tag, r in (("off", off), ("on", on), ("on-k", onk)):
        if not r:
            continue
        for c, x in r["classes"].items():
            if x["errors"] or x["check"]["av_error"]:
                fails.append("AV %s %s: %d scan errors, %d av errors"
                             % (tag, c, x["errors"], x["check"]["av_error"]))
    for c in CLASSES:
        k = on["classes"][c]["check"]
        L.append("check %-4s AV verdicts: %d clean, %d infected, %d "
                 "encrypted, %d too large, %d errors"
                 % (c, k["av_clean"], k["av_infected"], k["av_encrypted"],
                    k["av_too_large"], k["av_error"]))
    return "\n".join(L) + "\n", fails


def run_av(a, mach, started, t_start, tmp, corpus, manifest):
    """--av: AV off and on, per class; the table and the results file."""
    dbdir, dbdesc = make_av_db(tmp)
    log("antivirus database: %s" % dbdesc)
    off = run_scanbench(a.bindir, corpus, a.seconds, 1, tmp, CLASSES, True)
    on = run_scanbench(a.bindir, corpus, a.seconds, 1, tmp, CLASSES, True,
                       dbdir)
    k = a.workers if a.workers > 1 else 2
    onk = run_scanbench(a.bindir, corpus, a.seconds, k, tmp, CLASSES, False,
                        dbdir)
    mach["load_end"] = benchlib.loadavg()
    text, fails = av_report(a, mach, manifest, off, on, onk, dbdesc,
                            started.strftime("%Y-%m-%d %H:%M:%S"),
                            time.monotonic() - t_start)
    print(text, end="")
    os.makedirs(a.results, exist_ok=True)
    out = os.path.join(a.results, "av-%s%s.txt" % (
        started.strftime("%Y%m%d-%H%M%S"),
        "" if a.mode == "default" else "-" + a.mode))
    return write_results(out, text, {
        "args": vars(a), "machine": mach, "corpus": manifest,
        "av_db": dbdesc, "av_off": off, "av_on": on, "av_on_workers": onk},
        fails)


# ------------------------------------------------------------ report

def median_run(runs):
    """The run with the median messages per CPU second (the lower of the
    two middle ones for an even count)."""
    srt = sorted(runs, key=lambda r: r["msgs_per_cpu_s"])
    return srt[(len(srt) - 1) // 2]


def share(r):
    return r["cpu_s"] / r["wall_s"] if r["wall_s"] else 0


def report(a, mach, manifest, sk, skk, rs, rsinfo, started, elapsed):
    L = []
    L.append("scan benchmark, %s mode, %s (%.0f s); T = %g s per class and "
             "run, %d run%s per class and scanner, alternating"
             % (a.mode, started, elapsed, a.seconds, a.repeat,
                "" if a.repeat == 1 else "s"))
    L.append("machine: %d CPUs (%s), %.1f GiB, kernel %s, %s; load %s -> %s"
             % (mach["nproc"], mach["cpu"], mach["mem_gib"], mach["kernel"],
                "Debian " + mach["os"], mach["load_start"],
                mach.get("load_end", "?")))
    L.append("corpus: gen_corpus.py seed %d: %s" % (manifest["seed"], ", ".join(
        "%s %d msgs (mean %.1f KB)" % (c, v["messages"], v["mean"] / 1024)
        for c, v in ((c, manifest["classes"][c]) for c in CLASSES))))
    L.append("sekisho: sekisho-scanbench, bench/scan/policy.ini (%d rules, "
             "6 keyword lists), 1 worker process" % sk["rules"])
    if rs:
        L.append("rspamd %s: Debian config minus network/Redis modules, plus "
                 "%d multimap rules from the same lists; 1 normal worker, "
                 "%d client connections%s"
                 % (rsinfo["version"], len(MULTIMAP_RULES), a.concurrency,
                    ", own network namespace" if rsinfo["netns"] else ""))
    L.append("per core = messages / CPU seconds of the scanning worker "
             "(wall-clock msg/s and worker CPU share in brackets); median "
             "run")
    L.append("")
    fmt = "%-5s | %-24s | %-24s | %6s | %-14s | %-14s"
    hdr = fmt % ("class", "sekisho msg/s/core", "rspamd msg/s/core", "ratio",
                 "sekisho worker", "rspamd worker")
    L.append(hdr)
    L.append(fmt % ("", "", "", "s/r", "peak RSS (1)", "peak RSS (1)"))
    L.append("-" * len(hdr))
    med = {}
    for c in CLASSES:
        s = median_run(sk["classes"][c])
        r = median_run(rs[c]) if rs else None
        med[c] = (s, r)
        # Memory from the first run of the class: rspamd's worker keeps
        # what a bigger class made it allocate, and later runs would show
        # that (sekisho's workers are new processes each run).
        speak = sk["classes"][c][0]["worker_peak_rss_kb"]
        rpeak = rs[c][0]["worker_peak_rss_kb"] if rs else 0
        sc = "%8.1f (%6.1f, %3.0f%%)" % (s["msgs_per_cpu_s"], s["msgs_per_s"],
                                         100 * share(s))
        rc = ("%8.1f (%6.1f, %3.0f%%)" % (
            r["msgs_per_cpu_s"], r["msgs_per_s"], 100 * r["cpu_share"])
            if r else "-")
        ratio = ("%6.2f" % (s["msgs_per_cpu_s"] / r["msgs_per_cpu_s"])
                 if r and r["msgs_per_cpu_s"] else "-")
        L.append(fmt % (c, sc, rc, ratio, mb(speak), mb(rpeak) if r else "-"))
    L.append("(1) peak RSS of the worker during the first run of the class "
             "(VmHWM, reset before it); sekisho's without its mapped corpus")
    L.append("")
    if a.repeat > 1:
        L.append("every run, messages per CPU second (wall-clock msg/s):")
        for c in CLASSES:
            L.append("  %-5s sekisho %s" % (c, ", ".join(
                "%.1f (%.1f)" % (x["msgs_per_cpu_s"], x["msgs_per_s"])
                for x in sk["classes"][c])))
            if rs:
                L.append("        rspamd  %s" % ", ".join(
                    "%.1f (%.1f)" % (x["msgs_per_cpu_s"], x["msgs_per_s"])
                    for x in rs[c]))
    L.append("MB per CPU second (median run):  " + "   ".join(
        "%s: sekisho %.1f%s" % (
            c, med[c][0]["mb_per_cpu_s"],
            ", rspamd %.1f" % med[c][1]["mb_per_cpu_s"] if rs else "")
        for c in CLASSES))
    L.append("sekisho CPU split (median run): " + "; ".join(
        "%s: mime_analyse %.0f%%, policy_eval %.0f%%, actions_apply %.0f%%"
        % (c, 100 * med[c][0]["cpu_analyse_s"] / med[c][0]["cpu_s"],
           100 * med[c][0]["cpu_eval_s"] / med[c][0]["cpu_s"],
           100 * med[c][0]["cpu_apply_s"] / med[c][0]["cpu_s"])
        for c in CLASSES))
    L.append("worker memory at the end of the first run of each class (Rss / "
             "Pss / Private; sekisho without its mapped corpus):")
    for c in CLASSES:
        s = sk["classes"][c][0]
        r = rs[c][0] if rs else None
        line = "  %-5s sekisho %s / %s / %s" % (
            c, mb(s["worker_rss_kb"]), mb(s["worker_pss_kb"]),
            mb(s["worker_private_kb"]))
        if r:
            line += "    rspamd %s / %s / %s" % (
                mb(r["worker_rss_kb"]), mb(r["worker_pss_kb"]),
                mb(r["worker_private_kb"]))
        L.append(line)
    if rs:
        L.append("  rspamd, RSS of each process at the end: %s"
                 % ", ".join("%s %s" % (re.sub(r"^rspamd: | process.*$", "",
                                               t), mb(k))
                             for t, k in rsinfo["procs"].items()))
        L.append("  rspamd logged %d scans; DNS requests in them: %d "
                 "(resolver 127.0.0.1:1%s)" % (
                     rsinfo["logged_scans"], rsinfo["dns_requests"],
                     ", inside its own network namespace"
                     if rsinfo["netns"] else ""))
    if skk:
        L.append("")
        L.append("sekisho with %d worker processes (forked after loading; "
                 "scaling and shared memory; one run, after rspamd stopped):"
                 % skk["workers"])
        for c in CLASSES:
            s = skk["classes"][c]
            L.append("  %-5s %7.1f msg/s total, %6.1f msg per CPU s; per "
                     "worker: peak RSS %s, Pss %s, Private %s"
                     % (c, s["msgs_per_s"], s["msgs_per_cpu_s"],
                        mb(s["worker_peak_rss_kb"]), mb(s["worker_pss_kb"]),
                        mb(s["worker_private_kb"])))
    L.append("")
    L.append("what the policies decided (first pass over each class):")
    for c in CLASSES:
        ch = sk["classes"][c][0]["check"]
        L.append("  %-5s sekisho: %d groups, %d rewritten, %d quarantined, "
                 "%d/%d rules fired, %d errors" % (
                     c, ch["groups"], ch["rewritten_groups"],
                     ch["quarantine"], len(ch["rule_hits"]), sk["rules"],
                     ch["errors"]))
        if rs:
            rc = rs[c][0]["check"]
            L.append("        rspamd: actions %s; sekisho multimap symbols "
                     "%s; bad replies %d" % (
                         json.dumps(rc["actions"], sort_keys=True),
                         json.dumps(rc["sekisho_symbols"], sort_keys=True),
                         rc["bad_replies"]))
    failures = []
    for c in CLASSES:
        for x in sk["classes"][c]:
            if x["errors"] or x["check"]["errors"]:
                failures.append("sekisho errors in class %s" % c)
        for x in (rs[c] if rs else ()):
            if x["errors"]:
                failures.append("rspamd errors in class %s: %d"
                                % (c, x["errors"]))
    if skk and any(skk["classes"][c]["errors"] for c in CLASSES):
        failures.append("sekisho errors with %d workers" % skk["workers"])
    if rs and rsinfo.get("problems"):
        kinds = {}
        for ln in rsinfo["problems"]:
            m = re.search(r"; (\w+: .*)$", ln) or re.search(r"\) (.*)$", ln)
            text = re.sub(r"\d+", "N", m.group(1) if m else ln)
            kinds.setdefault(text, [0, ln])[0] += 1
        L.append("")
        L.append("rspamd log lines reporting a problem (%d, by kind):"
                 % len(rsinfo["problems"]))
        L += ["  %5dx %s" % (n, first[first.find(";") + 1:].strip()[:160])
              for n, first in sorted(kinds.values(), reverse=True)[:10]]
    L.append("")
    L.append("checks: %s" % ("all passed" if not failures else
                             "FAILED: " + "; ".join(failures)))
    return "\n".join(L) + "\n", failures


# ------------------------------------------------------------ main

def main():
    ap = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0],
        formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--mode", choices=sorted(MODES), default="default")
    ap.add_argument("--bindir", default=os.path.join(SOURCE, "build-bench",
                                                     "bin"))
    ap.add_argument("--seconds", type=float, help="per class (quick 5, "
                    "default 20)")
    ap.add_argument("--repeat", type=int, help="runs per class and "
                    "scanner, alternating; the table gives the median "
                    "(quick 1, default 3)")
    ap.add_argument("--concurrency", type=int,
                    help="connections to rspamd (quick 4, default 6)")
    ap.add_argument("--workers", type=int, default=None,
                    help="also run sekisho with K worker processes "
                    "(default: the CPU count in default mode, 0 in quick)")
    ap.add_argument("--corpus", help="use this corpus directory (made by "
                    "gen_corpus.py) instead of generating one")
    ap.add_argument("--only", choices=("sekisho", "rspamd"))
    ap.add_argument("--av", action="store_true",
                    help="issue 6: sekisho with antivirus off versus on "
                    "(libclamav, -a DBDIR), no rspamd; writes "
                    "results/av-<date>[-<mode>].txt")
    ap.add_argument("--no-install", action="store_true")
    ap.add_argument("--no-netns", action="store_true",
                    help="run rspamd in the host's network namespace "
                    "(still on 127.0.0.1, resolver 127.0.0.1:1)")
    ap.add_argument("--keep", action="store_true",
                    help="keep the temp dirs (corpus, rspamd) afterwards")
    ap.add_argument("--results", default=os.path.join(HERE, "results"))
    ap.add_argument("--state", help="file recording what this run started")
    ap.add_argument("--cleanup", metavar="STATE",
                    help="stop and remove what a killed run left, and exit")
    a = ap.parse_args()
    if a.cleanup:
        return cleanup(a.cleanup)
    m = MODES[a.mode]
    a.seconds = a.seconds or m["seconds"]
    a.concurrency = a.concurrency or m["concurrency"]
    a.repeat = a.repeat or m["repeat"]
    if a.workers is None:
        a.workers = 0 if a.mode == "quick" else (os.cpu_count() or 1)
    if a.av:
        a.only = "sekisho"
    if os.geteuid() != 0 and a.only != "sekisho":
        log("run as root (apt-get, network namespace, rspamd user)")
        return 2

    def on_signal(signum, _frame):
        raise KeyboardInterrupt("signal %d" % signum)
    for sig in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, on_signal)

    started = datetime.datetime.now()
    t_start = time.monotonic()
    mach = benchlib.machine()
    state = State(a.state)
    tmp_root = os.environ.get("TMPDIR", "/tmp")
    tmp = tempfile.mkdtemp(prefix="sekisho-bench-scan.", dir=tmp_root)
    rs_inst = None
    sk = skk = None
    rs, rsinfo = {}, {}
    try:
        installed = False
        if a.only != "sekisho":
            installed = ensure_rspamd(a.no_install)
        corpus = a.corpus
        if corpus is None:
            corpus = os.path.join(tmp, "corpus")
            n = m["n"]
            cmd = [sys.executable, os.path.join(SCAN_DIR, "gen_corpus.py"),
                   "--n5k", str(n[0]), "--n100k", str(n[1]),
                   "--n2m", str(n[2]), corpus]
            log("generating the corpus: %s" % " ".join(cmd[1:]))
            subprocess.run(cmd, check=True, stdout=sys.stderr)
        with open(os.path.join(corpus, "manifest.json")) as f:
            manifest = json.load(f)
        if a.av:
            rc = run_av(a, mach, started, t_start, tmp, corpus, manifest)
            if not a.keep:
                benchlib.rmtree(tmp)
            return rc
        if a.only != "sekisho":
            netns = not a.no_netns and netns_works()
            if not netns and not a.no_netns:
                log("warning: unshare --net does not work here; rspamd "
                    "runs on the host's loopback")
            rs_inst = Rspamd(tmp_root, netns)
            rs_inst.configure()
            log("starting rspamd (%s) in %s" % (rspamd_version(),
                                                 rs_inst.dir))
            rs_inst.start(state)
            rsinfo = {"version": rspamd_version(), "netns": netns,
                      "installed_now": installed, "dir": rs_inst.dir}
        # Each class: sekisho then rspamd, the order alternating from run
        # to run, so that both meet the same machine (and its other load).
        sk = {"rules": 0, "classes": {c: [] for c in CLASSES}}
        rs = {c: [] for c in CLASSES}
        for rep in range(a.repeat):
            for c in CLASSES:
                order = ["sekisho", "rspamd"]
                if rep % 2:
                    order.reverse()
                for who in order:
                    if who == "sekisho" and a.only != "rspamd":
                        r = run_scanbench(a.bindir, corpus, a.seconds, 1,
                                          tmp, [c], rep == 0)
                        sk["rules"] = r["rules"]
                        sk["classes"][c].append(r["classes"][c])
                    elif who == "rspamd" and a.only != "sekisho":
                        msgs = load_class(os.path.join(corpus, c))
                        log("rspamd: class %s run %d/%d, %d messages, %g s, "
                            "%d connections" % (c, rep + 1, a.repeat,
                                                len(msgs), a.seconds,
                                                a.concurrency))
                        with NetNs(rs_inst.sid) if rs_inst.use_netns \
                                else _null():
                            r = rspamd_class(rs_inst, c, msgs, a.seconds,
                                             a.concurrency, rep == 0)
                        rs[c].append(r)
                        log("rspamd: %s %.1f msg/s, %.1f msg/CPU s, worker "
                            "CPU %.0f%%" % (c, r["msgs_per_s"],
                                            r["msgs_per_cpu_s"],
                                            100 * r["cpu_share"]))
        if rs_inst is not None:
            rsinfo["procs"] = {t: benchlib.mem_kb(p)["rss"]
                               for p, t in rs_inst.roles().items()}
            rsinfo["problems"] = rs_inst.log_problems()
            rsinfo["logged_scans"], rsinfo["dns_requests"] = \
                rs_inst.dns_requests()
            if not rs_inst.alive():
                raise BenchError("rspamd died during the run:\n%s"
                                 % rs_inst.log_tail())
            rs_inst.stop()
        if a.only != "rspamd" and a.workers > 1:
            skk = run_scanbench(a.bindir, corpus, a.seconds, a.workers,
                                tmp, CLASSES, False)
    except (KeyboardInterrupt, BenchError, subprocess.CalledProcessError,
            subprocess.TimeoutExpired) as e:
        with benchlib.signals_blocked():
            if isinstance(e, KeyboardInterrupt):
                log("interrupted; tearing down")
            else:
                log("failed: %s" % e)
            if rs_inst is not None:
                rs_inst.stop()
                rs_inst.remove(a.keep)
                state.drop(rs_inst)
            if not a.keep:
                benchlib.rmtree(tmp)
        return 130 if isinstance(e, KeyboardInterrupt) else 2
    with benchlib.signals_blocked():
        if rs_inst is not None:
            rs_inst.stop()
            rs_inst.remove(a.keep)
            state.drop(rs_inst)
        if not a.keep:
            benchlib.rmtree(tmp)
        else:
            log("kept %s" % tmp)

    mach["load_end"] = benchlib.loadavg()
    if a.only == "rspamd":
        log("--only rspamd: no table")
        print(json.dumps(rs, indent=1))
        return 0
    if a.only == "sekisho":
        rs = {}
    text, failures = report(a, mach, manifest, sk, skk, rs, rsinfo,
                            started.strftime("%Y-%m-%d %H:%M:%S"),
                            time.monotonic() - t_start)
    print(text, end="")
    os.makedirs(a.results, exist_ok=True)
    name = "scan-%s%s.txt" % (started.strftime("%Y%m%d-%H%M%S"),
                              "" if a.mode == "default" else "-" + a.mode)
    out = os.path.join(a.results, name)
    if skk:
        skk.pop("stdout", None)
    return write_results(out, text, {
        "args": vars(a), "machine": mach, "corpus": manifest,
        "sekisho": sk, "sekisho_workers": skk, "rspamd": rs,
        "rspamd_info": rsinfo}, failures)


if __name__ == "__main__":
    sys.exit(main())

