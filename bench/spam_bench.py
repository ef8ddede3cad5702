#!/usr/bin/env python3
"""spam_bench.py: the "spam" step: spam-scan messages per second per core
on the SpamAssassin public corpus, sekisho's scoring engine next to
rspamd 3.4 and SpamAssassin 4.0 (spamd) on the same messages in the same
run, and the detection rates of each (issue 7 "Performance").

  python3 bench/spam_bench.py [--mode quick|default] --bindir BUILD/bin
  python3 bench/spam_bench.py --cleanup STATE

What it does (bench/README.md, "Spam"):
  1. fetches the corpus as spam_eval.py does (npm, kept in --corpus) and
     takes its held-out set, spam-2 and easy-ham-2 (quick: 300 of each,
     evenly spaced); every message is copied into the temp dir without its
     leading mbox "From " line, so all three engines get the same bytes;
  2. installs rspamd and spamassassin, spamc, spamd when they are missing
     (apt-get, DEBIAN_FRONTEND=noninteractive, --no-install-recommends),
     and stops and disables any service the install started;
  3. sekisho: sekisho-scanbench -n -S etc/spamrules/1.001.rules -c etc:
     mime_analyse + spam_eval with the shipped package and the catch rates
     of etc/policy.ini, one worker process, its CPU from getrusage; the
     check pass gives the verdicts;
  4. rspamd: a private instance (benchlib.Rspamd) with Debian's default
     rule set minus what needs the network or Redis, one normal worker,
     fed over HTTP /checkv2 from C connections; per core = messages / the
     normal worker's CPU (/proc); verdicts from the scores at its action
     thresholds (greylist 4, add header 6, reject 15);
  5. SpamAssassin: a private spamd (-x -L --round-robin, one child, no
     Bayes) fed over the SPAMD protocol (CHECK SPAMC/1.5) from C
     connections; per core = messages / the CPU of spamd's child
     processes (/proc); verdicts at required_score 5;
  6. prints the table and writes it, with the raw JSON, to
     bench/results/spam-<date>[-quick].txt.

rspamd and spamd each run in their own network namespace with only a
loopback (unshare --net), so nothing they try can reach another host.
Python 3 standard library only.  Needs root (apt-get, the network
namespaces, the daemons' users).
"""
import argparse
import datetime
import json
import os
import pwd
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
SOURCE = os.path.dirname(HERE)
sys.path.insert(0, HERE)
import benchlib  # noqa: E402
from benchlib import BenchError, NetNs, log, null_ctx  # noqa: E402
import spam_eval  # noqa: E402  (the corpus: fetch(), SETS)

MODES = {
    # messages per class (None: all), sekisho's seconds per class (at
    # least one pass), connections to rspamd and to spamd
    "quick": {"n": 300, "seconds": 3, "concurrency": 4, "sa_children": 1},
    "default": {"n": None, "seconds": 10, "concurrency": 6,
                "sa_children": 1},
}
CLASSES = ("spam", "ham")
SEKISHO_LEVELS = ("high", "medium", "low")
RSPAMD_LEVELS = (("greylist", 4.0), ("add_header", 6.0), ("reject", 15.0))
WARMUP = 50             # untimed messages per class for rspamd and spamd
SPAMD_USER = "debian-spamd"

# rspamd: its default modules minus those that need the network or Redis
# (benchlib.RSPAMD_OFF), but phishing is kept (its link checks are local;
# only its OpenPhish and PhishTank feeds are remote, and they are off
# here), and multimap is off (its default rules, freemail and disposable
# address lists, are remote maps with no packaged copy).
RSPAMD_SPAM_OFF = tuple(m for m in benchlib.RSPAMD_OFF
                        if m != "phishing") + ("multimap",)
RSPAMD_PHISHING = """\
# sekisho spam benchmark: the phishing module's local checks only.
phishing {
  symbol = "PHISHING";
  openphish_enabled = false;
  phishtank_enabled = false;
  exceptions = {
    REDIRECTOR_FALSE = ["${CONFDIR}/maps.d/redirectors.inc"];
  };
}
"""
# Without an IP header rspamd takes the sender's address from the
# Received headers and looks up its reverse DNS; offline that lookup
# always fails, which would add RDNS_NONE (1) and hfilter's
# HFILTER_HOSTNAME_UNKNOWN (2.5) to every message, spam and ham alike.
# Reverse DNS is a network test: both are scored 0 here.
RSPAMD_RDNS = """\
# sekisho spam benchmark: no reverse DNS offline, so no score for its
# absence.
symbols {
  "RDNS_NONE" { weight = 0.0; }
  "RDNS_DNSFAIL" { weight = 0.0; }
}
"""
RSPAMD_HFILTER = """\
# sekisho spam benchmark: hfilter's local checks only (no HELO, hostname
# or From lookups; the hostname checks need reverse DNS).
hfilter {
  helo_enabled = false;
  hostname_enabled = false;
  url_enabled = true;
  from_enabled = false;
  rcpt_enabled = true;
  mid_enabled = false;
}
"""
# SpamAssassin: Debian's site configuration plus these lines (local.cf):
# no Bayes (it has no training here, and auto-learning during the run
# would train it and change the figures as the run goes on).
SPAMD_LOCAL_CF = """
# sekisho spam benchmark: no Bayes, no auto-learning.
use_bayes 0
bayes_auto_learn 0
"""


# ------------------------------------------------------------ corpus

def read_class(directory, n):
    """[(name, bytes)] of directory's messages in name order (every n-th
    spread evenly when n is smaller than the count), each without a
    leading mbox "From " line."""
    names = sorted(fn for fn in os.listdir(directory)
                   if not fn.startswith(".") and
                   os.path.isfile(os.path.join(directory, fn)))
    if n is not None and n < len(names):
        names = [names[(i * len(names)) // n] for i in range(n)]
    out = []
    for fn in names:
        with open(os.path.join(directory, fn), "rb") as f:
            data = f.read()
        if data.startswith(b"From "):
            nl = data.find(b"\n")
            data = data[nl + 1:] if nl >= 0 else b""
        if data:
            out.append((fn, data))
    return out


def prepare_corpus(corpus, n, tmp):
    """{class: {"dir", "msgs", "groups"}}: the held-out set copied into
    tmp/corpus/<class>/ (the directories sekisho-scanbench reads)."""
    out = {}
    for c in CLASSES:
        groups = spam_eval.SETS["heldout"][c]
        msgs = []
        for g in groups:
            msgs += read_class(os.path.join(corpus, g),
                               None if n is None else n // len(groups))
        d = os.path.join(tmp, "corpus", c)
        os.makedirs(d)
        for fn, data in msgs:
            with open(os.path.join(d, fn), "wb") as f:
                f.write(data)
        out[c] = {"dir": d, "msgs": [m for _fn, m in msgs],
                  "names": [fn for fn, _m in msgs], "groups": groups,
                  "bytes": sum(len(m) for _fn, m in msgs)}
    return out


# ------------------------------------------------------------ sekisho

def run_sekisho(a, tmp, cls):
    """sekisho-scanbench -n -S: analysis + scoring, one worker."""
    args = ["-c", a.confdir, "-S", a.package, "-n", "-t", str(a.seconds),
            "-j", "1"] + ["%s=%s" % (c, cls[c]["dir"]) for c in CLASSES]
    return benchlib.run_scanbench(a.bindir, args, tmp, a.seconds * 8 + 600)


def sekisho_figures(sk):
    """Throughput and detection of sekisho from scanbench's JSON."""
    cl = sk["classes"]
    # The worker loops over each class for T seconds, so the classes'
    # pass counts differ: weigh them by the corpus, as if every message
    # were scanned once (as rspamd and spamd scan them).
    msgs = sum(cl[c]["messages"] for c in CLASSES)
    cpu = sum(cl[c]["messages"] / cl[c]["msgs_per_cpu_s"] for c in CLASSES)
    wall = sum(cl[c]["messages"] / cl[c]["msgs_per_s"] for c in CLASSES)
    levels = []
    for name, thr in zip(SEKISHO_LEVELS, sk["spam_levels"]):
        key = "spam_" + name
        levels.append({"name": name, "threshold": thr,
                       "tp": cl["spam"]["check"][key],
                       "fp": cl["ham"]["check"][key]})
    return {
        "per_core": msgs / cpu, "wall_rate": msgs / wall,
        "per_class": {c: cl[c]["msgs_per_cpu_s"] for c in CLASSES},
        "scanned": msgs, "cpu_s": cpu, "wall_s": wall,
        "n": {c: cl[c]["check"]["messages"] for c in CLASSES},
        "levels": levels,
        "split": {c: {"mime_analyse": cl[c]["cpu_analyse_s"] / cl[c]["cpu_s"],
                      "spam_eval": cl[c]["cpu_spam_s"] / cl[c]["cpu_s"]}
                  for c in CLASSES},
    }


# ------------------------------------------------------------ load driver

def drive(msgs, concurrency, request):
    """request(msg) for every message from `concurrency` threads, each
    taking the next message; [(ok, result)] in message order, and the
    wall seconds."""
    results = [None] * len(msgs)
    lock = threading.Lock()
    nxt = [0]

    def client():
        while True:
            with lock:
                i = nxt[0]
                nxt[0] += 1
            if i >= len(msgs):
                return
            try:
                results[i] = (True, request(msgs[i]))
            except (OSError, ValueError) as e:
                results[i] = (False, str(e))

    threads = [threading.Thread(target=client, daemon=True)
               for _ in range(concurrency)]
    t0 = time.monotonic()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return results, time.monotonic() - t0


def session_cpu(sid, skip=()):
    """{pid: utime + stime} of the members of session sid, and the
    cutime + cstime of sid itself (children it reaped), in seconds."""
    tck = os.sysconf("SC_CLK_TCK")
    cpu, reaped = {}, 0.0
    for pid in benchlib.session_members(sid):
        if pid in skip:
            continue
        try:
            with open("/proc/%d/stat" % pid) as f:
                s = f.read()
        except OSError:
            continue
        rest = s[s.rindex(")") + 2:].split()
        cpu[pid] = (int(rest[11]) + int(rest[12])) / tck
        if pid == sid:
            reaped = (int(rest[13]) + int(rest[14])) / tck
    return cpu, reaped


# ------------------------------------------------------------ rspamd

class SpamRspamd(benchlib.Rspamd):
    """benchlib's private rspamd with Debian's default rule set, offline."""

    what = "sekisho spam benchmark"

    def configure(self):
        super().configure(RSPAMD_SPAM_OFF,
                          {"modules.d/phishing.conf": RSPAMD_PHISHING,
                           "modules.d/hfilter.conf": RSPAMD_HFILTER,
                           "local.d/headers_group.conf": RSPAMD_RDNS})

    def thresholds(self):
        """{action: score} of the copy's actions.conf."""
        out = {}
        try:
            with open(os.path.join(self.conf, "actions.conf")) as f:
                for m in re.finditer(r"^\s*(\w+)\s*=\s*([\d.]+)\s*;",
                                     f.read(), re.M):
                    out[m.group(1)] = float(m.group(2))
        except OSError:
            pass
        return out


def run_rspamd(rs, cls, concurrency, headers, fp_thr):
    """Per class: WARMUP messages untimed, then every message once from
    `concurrency` connections, timed; scores and the worker's CPU, and the
    symbols of the ham scored >= fp_thr (false positives)."""
    worker = rs.normal_worker()
    if worker is None:
        raise BenchError("rspamd has no normal worker")

    def req(m):
        st, rep = benchlib.rspamd_check(rs.port, m, headers)
        if st != 200 or not isinstance(rep, dict) or "score" not in rep:
            raise ValueError("status %d" % st)
        return rep
    out = {}
    for c in CLASSES:
        msgs = cls[c]["msgs"]
        log("rspamd: class %s, %d messages, %d connections"
            % (c, len(msgs), concurrency))
        drive(msgs[:WARMUP], concurrency, req)
        cpu0 = benchlib.proc_cpu(worker)
        res, wall = drive(msgs, concurrency, req)
        cpu = benchlib.proc_cpu(worker) - cpu0
        scores, syms, fps, actions, errors = [], {}, {}, {}, 0
        for ok, r in res:
            if not ok:
                errors += 1
                scores.append(None)
                continue
            scores.append(r["score"])
            actions[r.get("action")] = actions.get(r.get("action"), 0) + 1
            for s in r.get("symbols", {}):
                syms[s] = syms.get(s, 0) + 1
                if c == "ham" and r["score"] >= fp_thr:
                    fps[s] = fps.get(s, 0) + 1
        out[c] = {"messages": len(msgs), "wall_s": wall, "cpu_s": cpu,
                  "cpu_share": cpu / wall if wall else 0,
                  "msgs_per_s": len(msgs) / wall,
                  "msgs_per_cpu_s": len(msgs) / cpu if cpu else 0,
                  "errors": errors, "scores": scores, "actions": actions,
                  "symbols": syms, "fp_symbols": fps}
        log("rspamd: %s %.1f msg/s, %.1f msg/CPU s, worker CPU %.0f%%"
            % (c, out[c]["msgs_per_s"], out[c]["msgs_per_cpu_s"],
               100 * out[c]["cpu_share"]))
    return out


# ------------------------------------------------------------ spamassassin

def spamd_pids():
    return benchlib.pids_of_cmd("spamd")


def ensure_spamassassin(no_install):
    """spamassassin, spamc and spamd (Debian 12 splits them); the spamd
    service the install enables is disabled, one it started stopped, and
    the gpg-agent that the package's key import leaves is stopped."""
    installed = benchlib.ensure_packages(
        ["spamassassin", "spamc", "spamd"], "spamd", ["spamd"], spamd_pids,
        no_install)
    if installed and shutil.which("gpgconf"):
        subprocess.run(["gpgconf", "--homedir",
                        "/var/lib/spamassassin/sa-update-keys", "--kill",
                        "gpg-agent"], capture_output=True, timeout=30)
    return installed


def spamd_version():
    try:
        p = subprocess.run(["spamd", "--version"], capture_output=True,
                           text=True, timeout=30)
        m = re.search(r"version\s+(\S+)", p.stdout)
        return m.group(1) if m else p.stdout.strip()
    except (OSError, subprocess.TimeoutExpired):
        return None


def sa_rules_dir():
    """Where spamd finds its rules: sa-update's directory when one was
    ever downloaded, else the package's."""
    for d in sorted(os.listdir("/var/lib/spamassassin")
                    if os.path.isdir("/var/lib/spamassassin") else []):
        p = os.path.join("/var/lib/spamassassin", d,
                         "updates_spamassassin_org")
        if re.match(r"\d", d) and os.path.isdir(p):
            return p
    return "/usr/share/spamassassin"


class Spamd:
    """A private spamd: site configuration and logs in a temp dir."""

    kind = "spamd"

    def __init__(self, tmp_root, use_netns, children):
        self.dir = tempfile.mkdtemp(prefix="sekisho-bench-spamd.",
                                    dir=tmp_root)
        self.site = os.path.join(self.dir, "etc")
        self.use_netns = use_netns
        self.port = 783 if use_netns else benchlib.free_port()
        self.children = children
        self.proc = None
        self.sid = None
        self.logfile = os.path.join(self.dir, "spamd.log")

    def configure(self):
        shutil.copytree("/etc/spamassassin", self.site, symlinks=True)
        with open(os.path.join(self.site, "local.cf"), "a") as f:
            f.write(SPAMD_LOCAL_CF)
        os.makedirs(os.path.join(self.dir, "home"))
        u = pwd.getpwnam(SPAMD_USER)
        for root, dirs, fns in os.walk(self.dir):
            for n in dirs + fns + [""]:
                os.lchown(os.path.join(root, n), u.pw_uid, u.pw_gid)
        os.chmod(self.dir, 0o755)

    def command(self):
        cmd = ["spamd", "-x", "-L", "--round-robin",
               "--max-children=%d" % self.children,
               "--max-conn-per-child=1000000", "--timeout-child=300",
               "--listen=127.0.0.1:%d" % self.port, "-A", "127.0.0.1",
               "-u", SPAMD_USER, "-g", SPAMD_USER,
               "--helper-home-dir=%s" % os.path.join(self.dir, "home"),
               "--siteconfigpath=%s" % self.site,
               "--pidfile=%s" % os.path.join(self.dir, "spamd.pid"),
               "--syslog=%s" % self.logfile]
        return benchlib.in_netns(cmd) if self.use_netns else cmd

    def start(self, state, timeout=180):
        benchlib.spawn(self, state)

        def ready():
            if self.proc.poll() is not None:
                raise BenchError("spamd exited (%s):\n%s" % (
                    self.proc.returncode, self.log_tail()))
            return len(self.child_pids()) >= self.children and self.ping()
        with NetNs(self.sid) if self.use_netns else null_ctx():
            try:
                benchlib.wait_for(ready, timeout, "spamd's children")
            except BenchError as e:
                raise BenchError("%s; processes %s; log:\n%s" % (
                    e, benchlib.session_members(self.sid),
                    self.log_tail()))

    def child_pids(self):
        return [p for p in benchlib.session_members(self.sid)
                if p != self.sid]

    def ping(self):
        try:
            with socket.create_connection(("127.0.0.1", self.port), 2) as s:
                s.sendall(b"PING SPAMC/1.5\r\n\r\n")
                return b"PONG" in s.recv(256)
        except OSError:
            return False

    def check(self, msg, timeout=300):
        """CHECK of msg: (is spam, score, required)."""
        req = b"CHECK SPAMC/1.5\r\nContent-length: %d\r\n\r\n" % len(msg)
        with socket.create_connection(("127.0.0.1", self.port),
                                      timeout) as s:
            s.settimeout(timeout)
            s.sendall(req + msg)
            s.shutdown(socket.SHUT_WR)
            data = b""
            while True:
                c = s.recv(4096)
                if not c:
                    break
                data += c
        m = re.search(rb"Spam: (True|False) ; (-?[\d.]+) / (-?[\d.]+)", data)
        if not m:
            raise ValueError("bad spamd reply %r" % data[:200])
        return m.group(1) == b"True", float(m.group(2)), float(m.group(3))

    def log_text(self):
        t = ""
        for fn in (self.logfile, os.path.join(self.dir, "stdout.log")):
            try:
                with open(fn, encoding="utf-8", errors="replace") as f:
                    t += f.read()
            except OSError:
                pass
        return t

    def log_tail(self, n=30):
        return "\n".join(self.log_text().splitlines()[-n:])

    def log_problems(self):
        return [ln for ln in self.log_text().splitlines()
                if re.search(r"\b(error|warn|died|failed|timed out)\b", ln,
                             re.I)]

    def stop(self, timeout=15):
        if self.sid is None:
            return
        with benchlib.signals_blocked():
            benchlib.kill_pids([self.sid], signal.SIGTERM)
            deadline = time.monotonic() + timeout
            while time.monotonic() < deadline and self.proc.poll() is None:
                time.sleep(0.2)
            benchlib.kill_pids(benchlib.session_members(self.sid),
                               signal.SIGKILL)
            if self.proc.poll() is None:
                self.proc.wait(5)

    def remove(self, keep=False):
        if keep:
            log("kept %s" % self.dir)
            return
        benchlib.rmtree(self.dir)


def run_spamd(sa, cls, concurrency):
    """Per class: WARMUP untimed, then every message once, timed; the CPU
    of spamd's children (live ones plus any the parent reaped)."""
    out = {}
    for c in CLASSES:
        msgs = cls[c]["msgs"]
        log("spamd: class %s, %d messages, %d connections"
            % (c, len(msgs), concurrency))
        drive(msgs[:WARMUP], concurrency, sa.check)
        cpu0, reaped0 = session_cpu(sa.sid)
        res, wall = drive(msgs, concurrency, sa.check)
        cpu1, reaped1 = session_cpu(sa.sid)
        child = sum(v - cpu0.get(p, 0) for p, v in cpu1.items()
                    if p != sa.sid) + (reaped1 - reaped0)
        parent = cpu1.get(sa.sid, 0) - cpu0.get(sa.sid, 0)
        scores, spam, errors, req = [], 0, 0, None
        for ok, r in res:
            if not ok:
                errors += 1
                scores.append(None)
                continue
            spam += r[0]
            scores.append(r[1])
            req = r[2]
        out[c] = {"messages": len(msgs), "wall_s": wall, "cpu_s": child,
                  "parent_cpu_s": parent,
                  "cpu_share": child / wall if wall else 0,
                  "msgs_per_s": len(msgs) / wall,
                  "msgs_per_cpu_s": len(msgs) / child if child else 0,
                  "errors": errors, "scores": scores, "spam": spam,
                  "required": req}
        log("spamd: %s %.1f msg/s, %.1f msg/CPU s, children's CPU %.0f%%"
            % (c, out[c]["msgs_per_s"], out[c]["msgs_per_cpu_s"],
               100 * out[c]["cpu_share"]))
    return out


# ------------------------------------------------------------ report

def engine_figures(runs, levels):
    """Throughput and detection of rspamd or spamd from their runs;
    levels: [(name, threshold)]."""
    msgs = sum(runs[c]["messages"] for c in CLASSES)
    cpu = sum(runs[c]["cpu_s"] for c in CLASSES)
    wall = sum(runs[c]["wall_s"] for c in CLASSES)
    out = []
    for name, thr in levels:
        out.append({"name": name, "threshold": thr,
                    "tp": sum(1 for s in runs["spam"]["scores"]
                              if s is not None and s >= thr),
                    "fp": sum(1 for s in runs["ham"]["scores"]
                              if s is not None and s >= thr)})
    return {"per_core": msgs / cpu if cpu else 0, "wall_rate": msgs / wall,
            "per_class": {c: runs[c]["msgs_per_cpu_s"] for c in CLASSES},
            "scanned": msgs, "cpu_s": cpu, "wall_s": wall,
            "n": {c: runs[c]["messages"] for c in CLASSES},
            "errors": sum(runs[c]["errors"] for c in CLASSES),
            "levels": out}


def pct(a, b):
    return 100.0 * a / b if b else 0.0


def report(a, mach, cls, eng, info, started, elapsed):
    L = []
    L.append("spam benchmark (issue 7), %s mode, %s (%.0f s)"
             % (a.mode, started, elapsed))
    L.append("machine: %d CPUs (%s), %.1f GiB, kernel %s, Debian %s; "
             "load %s -> %s" % (mach["nproc"], mach["cpu"], mach["mem_gib"],
                                mach["kernel"], mach["os"],
                                mach["load_start"],
                                mach.get("load_end", "?")))
    L.append("corpus: SpamAssassin public corpus (npm %s), held-out set: "
             "%s %d msgs (%.1f KB mean), %s %d msgs (%.1f KB mean)%s; "
             "leading mbox From lines removed"
             % (spam_eval.NPM_PKG,
                "+".join(cls["spam"]["groups"]), len(cls["spam"]["msgs"]),
                cls["spam"]["bytes"] / 1024 / len(cls["spam"]["msgs"]),
                "+".join(cls["ham"]["groups"]), len(cls["ham"]["msgs"]),
                cls["ham"]["bytes"] / 1024 / len(cls["ham"]["msgs"]),
                ", evenly spaced subset" if a.n else ""))
    if "sekisho" in eng:
        sk = info["sekisho"]
        L.append("sekisho: sekisho-scanbench -n -S %s (version %s, %d "
                 "rules) -c %s: mime_analyse + spam_eval, 1 worker "
                 "process, >= 1 pass and %g s per class; offline (no DNS "
                 "lists, SPF, DKIM, DMARC)"
                 % (os.path.relpath(a.package, SOURCE), sk["spam_version"],
                    sk["spam_rules"], os.path.relpath(a.confdir, SOURCE),
                    a.seconds))
    if "rspamd" in eng:
        r = info["rspamd"]
        L.append("rspamd %s: Debian's default rules, 1 normal worker, %d "
                 "connections, each message once after %d warm-up; %s; "
                 "no Bayes (no Redis), no envelope%s"
                 % (r["version"], a.concurrency, WARMUP,
                    "own network namespace" if r["netns"] else
                    "host loopback", " (--envelope: IP/Helo/From/Rcpt)"
                    if a.envelope else " (message only)"))
        L.append("  modules off (network or Redis): %s; C filters "
                 "chartable,regexp only (no dkim, fuzzy_check); hfilter "
                 "without HELO, hostname and From checks; phishing without "
                 "its OpenPhish/PhishTank feeds; RDNS_NONE and RDNS_DNSFAIL "
                 "scored 0 (reverse DNS fails offline)"
                 % ", ".join(RSPAMD_SPAM_OFF))
    if "spamassassin" in eng:
        s = info["spamassassin"]
        L.append("SpamAssassin %s: spamd -x -L --round-robin, %d child, %d "
                 "connections, each message once after %d warm-up; rules %s "
                 "(no sa-update); -L: no network tests (DNSBL, URIBL, "
                 "Razor, Pyzor, DCC, SPF/DKIM lookups); use_bayes 0 (no "
                 "training; auto-learn off)%s"
                 % (s["version"], a.sa_children, a.sa_children + 1, WARMUP,
                    s["rules"], ", own network namespace" if s["netns"]
                    else ""))
    L.append("per core = messages / CPU seconds of the scanning process "
             "(sekisho: the worker's getrusage; rspamd: the normal worker, "
             "spamd: its children, from /proc); recall = spam caught, FP = "
             "ham caught")
    L.append("")
    fmt = "%-13s | %9s %9s %9s | %8s | %-10s %5s | %7s | %-13s"
    hdr = fmt % ("engine", "msg/CPU-s", "spam", "ham", "msg/s", "catch rate",
                 "score", "recall", "FP")
    L.append(hdr)
    L.append(fmt % ("", "per core", "", "", "wall", "", ">=", "", ""))
    L.append("-" * len(hdr))
    for e in ("sekisho", "rspamd", "spamassassin"):
        if e not in eng:
            continue
        f = eng[e]
        for i, lv in enumerate(f["levels"]):
            first = i == 0
            L.append(fmt % (
                e if first else "",
                "%.1f" % f["per_core"] if first else "",
                "%.1f" % f["per_class"]["spam"] if first else "",
                "%.1f" % f["per_class"]["ham"] if first else "",
                "%.1f" % f["wall_rate"] if first else "",
                lv["name"], "%g" % lv["threshold"],
                "%.1f %%" % pct(lv["tp"], f["n"]["spam"]),
                "%.2f %% (%d)" % (pct(lv["fp"], f["n"]["ham"]), lv["fp"])))
    L.append("")
    if "sekisho" in eng:
        sp = eng["sekisho"]["split"]
        L.append("sekisho CPU split: " + "; ".join(
            "%s: mime_analyse %.0f %%, spam_eval %.0f %%"
            % (c, 100 * sp[c]["mime_analyse"], 100 * sp[c]["spam_eval"])
            for c in CLASSES))
    if "rspamd" in info and info["rspamd"].get("runs"):
        rr = info["rspamd"]["runs"]
        L.append("rspamd worker CPU share of wall time: spam %.0f %%, ham "
                 "%.0f %%; actions: spam %s, ham %s"
                 % (100 * rr["spam"]["cpu_share"],
                    100 * rr["ham"]["cpu_share"],
                    json.dumps(rr["spam"]["actions"], sort_keys=True),
                    json.dumps(rr["ham"]["actions"], sort_keys=True)))
        fps = rr["ham"]["fp_symbols"]
        thr = eng["rspamd"]["levels"][1]["threshold"]
        if fps:
            L.append("rspamd symbols on ham scored >= %g: %s" % (thr, ", ".join(
                "%s %d" % kv for kv in sorted(fps.items(),
                                              key=lambda kv: -kv[1])[:12])))
        L.append("rspamd logged %d scans; DNS requests in them: %d"
                 % (info["rspamd"]["logged_scans"],
                    info["rspamd"]["dns_requests"]))
    if "spamassassin" in info and info["spamassassin"].get("runs"):
        sr = info["spamassassin"]["runs"]
        L.append("spamd children's CPU share of wall time: spam %.0f %%, "
                 "ham %.0f %%; spamd parent CPU %.2f s"
                 % (100 * sr["spam"]["cpu_share"],
                    100 * sr["ham"]["cpu_share"],
                    sr["spam"]["parent_cpu_s"] + sr["ham"]["parent_cpu_s"]))
    if "sekisho" in eng and "rspamd" in eng:
        s, r = eng["sekisho"], eng["rspamd"]
        ratio = s["per_core"] / r["per_core"] if r["per_core"] else 0
        # sekisho's high catch rate (4) and rspamd's add-header level (6)
        # are the closest in use: each engine's "mark as spam" level.
        sl = {lv["name"]: lv for lv in s["levels"]}
        rl = {lv["name"]: lv for lv in r["levels"]}
        L.append("")
        L.append("target (faster than rspamd per core, recall within a few "
                 "points, no more false positives):")
        L.append("  per core: sekisho / rspamd = %.2f (%s)"
                 % (ratio, "met" if ratio > 1 else "NOT met"))
        for sn, rn in (("high", "greylist"), ("high", "add_header"),
                       ("medium", "add_header"), ("low", "reject")):
            a_, b_ = sl[sn], rl[rn]
            dr = pct(a_["tp"], s["n"]["spam"]) - pct(b_["tp"], r["n"]["spam"])
            L.append("  sekisho %-6s (>= %g) vs rspamd %-10s (>= %g): recall "
                     "%+.1f points, false positives %d vs %d"
                     % (sn, a_["threshold"], rn, b_["threshold"], dr,
                        a_["fp"], b_["fp"]))
    failures = []
    for e in ("rspamd", "spamassassin"):
        if e in eng and eng[e]["errors"]:
            failures.append("%s: %d failed requests" % (e, eng[e]["errors"]))
    if "sekisho" in info and info["sekisho"].get("exit"):
        failures.append("sekisho-scanbench exit %d" % info["sekisho"]["exit"])
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
    ap.add_argument("--corpus", default="/tmp/sekisho-sa-corpus",
                    help="where spam_eval.py keeps the corpus")
    ap.add_argument("--confdir", default=os.path.join(SOURCE, "etc"),
                    help="sekisho's configuration (catch rates, limits)")
    ap.add_argument("--package", default=os.path.join(
        SOURCE, "etc", "spamrules", "1.001.rules"))
    ap.add_argument("-n", "--messages", type=int, dest="n",
                    help="messages per class (quick 300, default all)")
    ap.add_argument("--seconds", type=float,
                    help="sekisho's seconds per class, at least one pass "
                    "(quick 3, default 10)")
    ap.add_argument("--concurrency", type=int,
                    help="connections to rspamd (quick 4, default 6)")
    ap.add_argument("--sa-children", type=int,
                    help="spamd children (1); connections are one more")
    ap.add_argument("--only", action="append",
                    choices=("sekisho", "rspamd", "spamassassin"),
                    help="run only this engine (repeatable)")
    ap.add_argument("--envelope", action="store_true",
                    help="send rspamd an envelope (IP 192.0.2.25, Helo, "
                    "From, Rcpt) as scan_bench.py does; default: the "
                    "message only, as spamd and sekisho get it")
    ap.add_argument("--no-install", action="store_true")
    ap.add_argument("--no-netns", action="store_true",
                    help="run rspamd and spamd on the host's 127.0.0.1")
    ap.add_argument("--keep", action="store_true")
    ap.add_argument("--results", default=os.path.join(HERE, "results"))
    ap.add_argument("--state", help="file recording what this run started")
    ap.add_argument("--cleanup", metavar="STATE",
                    help="stop and remove what a killed run left, and exit")
    a = ap.parse_args()
    if a.cleanup:
        return benchlib.cleanup(a.cleanup)
    m = MODES[a.mode]
    if a.n is None:
        a.n = m["n"]
    a.seconds = a.seconds or m["seconds"]
    a.concurrency = a.concurrency or m["concurrency"]
    a.sa_children = a.sa_children or m["sa_children"]
    a.confdir = os.path.abspath(a.confdir)
    a.package = os.path.abspath(a.package)
    only = set(a.only or ("sekisho", "rspamd", "spamassassin"))
    if os.geteuid() != 0 and only != {"sekisho"}:
        log("run as root (apt-get, network namespaces, daemon users)")
        return 2

    def on_signal(signum, _frame):
        raise KeyboardInterrupt("signal %d" % signum)
    for sig in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, on_signal)

    started = datetime.datetime.now()
    t_start = time.monotonic()
    mach = benchlib.machine()
    state = benchlib.State(a.state)
    tmp_root = os.environ.get("TMPDIR", "/tmp")
    tmp = tempfile.mkdtemp(prefix="sekisho-bench-spam.", dir=tmp_root)
    insts = []
    info, eng = {}, {}

    def teardown():
        with benchlib.signals_blocked():
            for inst in insts:
                inst.stop()
                inst.remove(a.keep)
                state.drop(inst)
            del insts[:]
            if not a.keep:
                benchlib.rmtree(tmp)
    try:
        netns = False
        if only - {"sekisho"}:
            if "rspamd" in only:
                info["rspamd"] = {"installed_now":
                                  benchlib.ensure_rspamd(a.no_install)}
            if "spamassassin" in only:
                info["spamassassin"] = {"installed_now":
                                        ensure_spamassassin(a.no_install)}
            netns = not a.no_netns and benchlib.netns_works()
            if not netns and not a.no_netns:
                log("warning: unshare --net does not work here; the "
                    "daemons run on the host's loopback")
        log("corpus: %s" % spam_eval.fetch(a.corpus))
        cls = prepare_corpus(a.corpus, a.n, tmp)
        if "sekisho" in only:
            sk = run_sekisho(a, tmp, cls)
            sk.pop("stdout", None)
            info["sekisho"] = sk
            eng["sekisho"] = sekisho_figures(sk)
        if "rspamd" in only:
            rs = SpamRspamd(tmp_root, netns,
                            prefix="sekisho-bench-spam-rspamd.")
            insts.append(rs)
            rs.configure()
            log("starting rspamd (%s) in %s" % (benchlib.rspamd_version(),
                                                 rs.dir))
            rs.start(state)
            thr = rs.thresholds()
            levels = [(n, thr.get(n, v)) for n, v in RSPAMD_LEVELS]
            headers = []
            if a.envelope:
                headers = ["IP: 192.0.2.25", "Helo: mx1.example.net",
                           "Hostname: mx1.example.net",
                           "From: sender@example.net",
                           "Rcpt: user1@example.com"]
            with NetNs(rs.sid) if netns else null_ctx():
                runs = run_rspamd(rs, cls, a.concurrency, headers,
                                  levels[1][1])
            if not rs.alive():
                raise BenchError("rspamd died during the run:\n%s"
                                 % rs.log_tail())
            for c in CLASSES:
                runs[c]["scores"] = [None if s is None else round(s, 2)
                                     for s in runs[c]["scores"]]
            info["rspamd"].update({
                "version": benchlib.rspamd_version(), "netns": netns,
                "thresholds": thr, "off": RSPAMD_SPAM_OFF, "runs": runs,
                "problems": rs.log_problems()[:50]})
            info["rspamd"]["logged_scans"], info["rspamd"]["dns_requests"] = \
                rs.dns_requests()
            eng["rspamd"] = engine_figures(runs, levels)
            rs.stop()
        if "spamassassin" in only:
            sa = Spamd(tmp_root, netns, a.sa_children)
            insts.append(sa)
            sa.configure()
            log("starting spamd (%s) in %s" % (spamd_version(), sa.dir))
            sa.start(state)
            with NetNs(sa.sid) if netns else null_ctx():
                runs = run_spamd(sa, cls, a.sa_children + 1)
            req = runs["spam"]["required"] or 5.0
            info["spamassassin"].update({
                "version": spamd_version(), "netns": netns,
                "rules": sa_rules_dir(), "runs": runs,
                "problems": sa.log_problems()[:50]})
            eng["spamassassin"] = engine_figures(
                runs, [("required", req)])
            sa.stop()
    except (KeyboardInterrupt, BenchError, subprocess.CalledProcessError,
            subprocess.TimeoutExpired) as e:
        if isinstance(e, KeyboardInterrupt):
            log("interrupted; tearing down")
        else:
            log("failed: %s" % e)
        teardown()
        return 130 if isinstance(e, KeyboardInterrupt) else 2
    except BaseException:
        teardown()
        raise
    teardown()

    mach["load_end"] = benchlib.loadavg()
    text, failures = report(a, mach, cls, eng, info,
                            started.strftime("%Y-%m-%d %H:%M:%S"),
                            time.monotonic() - t_start)
    print(text, end="")
    os.makedirs(a.results, exist_ok=True)
    name = "spam-%s%s.txt" % (started.strftime("%Y%m%d-%H%M%S"),
                              "" if a.mode == "default" else "-" + a.mode)
    corpus_info = {c: {"groups": cls[c]["groups"],
                       "messages": len(cls[c]["msgs"]),
                       "bytes": cls[c]["bytes"], "files": cls[c]["names"]}
                   for c in CLASSES}
    return benchlib.write_results(os.path.join(a.results, name), text, {
        "args": vars(a), "machine": mach, "corpus": corpus_info,
        "figures": eng, "engines": info}, failures)


if __name__ == "__main__":
    sys.exit(main())
