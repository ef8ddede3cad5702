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
import ctypes
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
from benchlib import BenchError, log  # noqa: E402

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
RSPAMD_USER = "_rspamd"
CLONE_NEWNET = 0x40000000

# rspamd modules that look things up over the network (DNS lists, SPF,
# DKIM keys, fuzzy storage, HTTP maps) or need Redis: all off.
RSPAMD_OFF = (
    "antivirus", "arc", "asn", "aws_s3", "bimi", "clickhouse", "dcc",
    "dkim", "dkim_signing", "dmarc", "elastic", "emails",
    "external_services", "fuzzy_check", "greylist", "history_redis",
    "metadata_exporter", "metric_exporter", "mx_check", "neural", "p0f",
    "phishing", "ratelimit", "rbl", "replies", "reputation",
    "rspamd_update", "spamtrap", "spf", "surbl", "url_redirector",
    "whitelist",
)


# ------------------------------------------------------------ rspamd install

def rspamd_pids():
    """pids of running rspamd processes (any instance)."""
    out = []
    for pid in benchlib.all_pids():
        try:
            if os.readlink("/proc/%d/exe" % pid) == "/usr/bin/rspamd":
                out.append(pid)
        except OSError:
            pass
    return out


def rspamd_version():
    try:
        p = subprocess.run(["rspamd", "--version"], capture_output=True,
                           text=True, timeout=30)
        m = re.search(r"version\s+(\S+)", p.stdout)
        return m.group(1) if m else p.stdout.strip()
    except (OSError, subprocess.TimeoutExpired):
        return None


def ensure_rspamd(no_install):
    """Install rspamd when missing; leave no system rspamd running that
    the install started."""
    if shutil.which("rspamd") or no_install:
        if not shutil.which("rspamd"):
            raise BenchError("rspamd is not installed (apt-get install rspamd)")
        return False
    log("installing rspamd (Debian package, no recommends: no redis-server)")
    before = set(rspamd_pids())
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    cmd = ["apt-get", "install", "-y", "-q", "--no-install-recommends",
           "rspamd"]
    if subprocess.run(cmd, env=env).returncode != 0:
        subprocess.run(["apt-get", "update", "-q"], env=env)
        if subprocess.run(cmd, env=env).returncode != 0:
            raise BenchError("apt-get install rspamd failed")
    time.sleep(1)
    started = [p for p in rspamd_pids() if p not in before]
    systemctl = shutil.which("systemctl") is not None
    systemd = systemctl and os.path.isdir("/run/systemd/system")
    if systemctl:
        # disable works on the unit files even where systemd is not running
        if systemd:
            subprocess.run(["systemctl", "stop", "rspamd"],
                           capture_output=True)
        subprocess.run(["systemctl", "disable", "rspamd"],
                       capture_output=True)
        log("disabled the rspamd service the package installed%s"
            % (" and stopped it" if systemd else ""))
    if started and not systemd:
        log("stopping the rspamd the install started (pids %s)" % started)
        benchlib.kill_pids(started, signal.SIGTERM)
        time.sleep(2)
        benchlib.kill_pids([p for p in started if p in rspamd_pids()],
                           signal.SIGKILL)
    return True


# ------------------------------------------------------------ network namespace

_libc = ctypes.CDLL(None, use_errno=True)


def setns(fd):
    """Move the calling thread into the network namespace of fd."""
    if _libc.setns(fd, CLONE_NEWNET) != 0:
        e = ctypes.get_errno()
        raise OSError(e, "setns: %s" % os.strerror(e))


class NetNs:
    """`with NetNs(pid):` runs the block (and the threads it starts) in the
    network namespace of pid, and returns to ours afterwards."""

    def __init__(self, pid):
        self.pid = pid

    def __enter__(self):
        self.home = os.open("/proc/self/ns/net", os.O_RDONLY)
        fd = os.open("/proc/%d/ns/net" % self.pid, os.O_RDONLY)
        try:
            setns(fd)
        finally:
            os.close(fd)
        return self

    def __exit__(self, *exc):
        try:
            setns(self.home)
        finally:
            os.close(self.home)


def netns_works():
    try:
        return subprocess.run(
            ["unshare", "--net", "--", "ip", "link", "set", "lo", "up"],
            capture_output=True, timeout=10).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False


# ------------------------------------------------------------ rspamd instance

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


class Rspamd:
    """A private rspamd: config in a temp dir, one normal worker."""

    kind = "rspamd"

    def __init__(self, tmp_root, use_netns):
        self.dir = tempfile.mkdtemp(prefix="sekisho-bench-rspamd.",
                                    dir=tmp_root)
        self.conf = os.path.join(self.dir, "conf")
        self.use_netns = use_netns
        self.port = 11333 if use_netns else benchlib.free_port()
        self.proc = None
        self.sid = None
        self.logfile = os.path.join(self.dir, "log", "rspamd.log")

    # -- configuration --

    def _write(self, rel, text):
        p = os.path.join(self.conf, rel)
        os.makedirs(os.path.dirname(p), exist_ok=True)
        with open(p, "w", encoding="utf-8") as f:
            f.write(text)

    def configure(self):
        """A copy of Debian's /etc/rspamd with the changes described in
        bench/README.md; returns the list of changes."""
        shutil.copytree("/etc/rspamd", self.conf, symlinks=True)
        for sub in ("db", "run", "log", "maps"):
            os.makedirs(os.path.join(self.dir, sub), exist_ok=True)
        maps = os.path.join(self.dir, "maps")
        self._write("rspamd.conf", """\
# sekisho scan benchmark: Debian's top-level file with one worker only.
.include "$CONFDIR/common.conf"
options {
    pidfile = "$RUNDIR/rspamd.pid";
    .include "$CONFDIR/options.inc"
    .include(try=true; priority=10) "$LOCAL_CONFDIR/override.d/options.inc"
}
logging {
    type = "file";
    filename = "$LOGDIR/rspamd.log";
    .include "$CONFDIR/logging.inc"
}
worker "normal" {
    bind_socket = "127.0.0.1:%d";
    count = 1;
    .include "$CONFDIR/worker-normal.inc"
}
""" % self.port)
        self._write("override.d/options.inc", """\
# Loopback only: a resolver that answers nothing, no C modules that look
# things up (dkim, fuzzy_check); no DNS lists anywhere.
filters = "chartable,regexp";
dns {
    nameserver = ["127.0.0.1:1"];
    timeout = 0.2s;
    retransmits = 1;
}
""")
        for mod in RSPAMD_OFF:
            self._write("modules.d/%s.conf" % mod,
                        "# off in the sekisho scan benchmark (network or "
                        "Redis)\n%s { enabled = false; }\n" % mod)
        # Maps that default to https URLs: the packaged local copies only.
        self._write("modules.d/mime_types.conf", """\
mime_types {
  file = ["${CONFDIR}/maps.d/mime_types.inc"];
  extension_map = {
    html = "text/html";
    txt = ["message/disposition-notification", "text/plain",
           "text/rfc822-headers"];
    pdf = ["application/octet-stream", "application/pdf",
           "application/x-pdf"];
  }
}
""")
        self._write("modules.d/mid.conf", """\
mid = { source = { url = ["${CONFDIR}/maps.d/mid.inc"]; } }
""")
        # hfilter: keep its local checks; the HELO and From checks resolve.
        self._write("modules.d/hfilter.conf", """\
hfilter {
  helo_enabled = false;
  hostname_enabled = true;
  url_enabled = true;
  from_enabled = false;
  rcpt_enabled = true;
  mid_enabled = false;
}
""")
        # No Redis: no Bayes classifier.
        self._write("statistic.conf", "# no Redis in the benchmark: no "
                    "Bayes classifier\n")
        # The benchmark policy's keyword lists and names, as multimap rules.
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
        self._write("modules.d/multimap.conf", "\n".join(mm) + "\n")
        self.check_offline()
        uid = pwd.getpwnam(RSPAMD_USER)
        for root, dirs, fns in os.walk(self.dir):
            for n in dirs + fns + [""]:
                os.lchown(os.path.join(root, n), uid.pw_uid, uid.pw_gid)
        os.chmod(self.dir, 0o755)

    def check_offline(self):
        """No configuration line left that names a remote URL."""
        bad = []
        for root, _dirs, fns in os.walk(self.conf):
            for fn in fns:
                p = os.path.join(root, fn)
                if not (fn.endswith(".conf") or fn.endswith(".inc")):
                    continue
                with open(p, encoding="utf-8", errors="replace") as f:
                    for i, ln in enumerate(f, 1):
                        s = ln.strip()
                        if s.startswith("#") or "description" in s:
                            continue
                        if re.search(r"\b(?:https?|sign\+https?)://", s):
                            bad.append("%s:%d: %s" % (p, i, s))
        # maps.d and scores.d name URLs only in descriptions and comments
        if bad:
            raise BenchError("rspamd configuration still names remote "
                             "URLs:\n  " + "\n  ".join(bad[:10]))

    # -- process --

    def command(self):
        cmd = ["rspamd", "-f", "-c", os.path.join(self.conf, "rspamd.conf"),
               "-u", RSPAMD_USER, "-g", RSPAMD_USER,
               "--var=CONFDIR=%s" % self.conf,
               "--var=LOCAL_CONFDIR=%s" % self.conf,
               "--var=DBDIR=%s" % os.path.join(self.dir, "db"),
               "--var=RUNDIR=%s" % os.path.join(self.dir, "run"),
               "--var=LOGDIR=%s" % os.path.join(self.dir, "log")]
        if not self.use_netns:
            return cmd
        return ["unshare", "--net", "--", "sh", "-c",
                'ip link set lo up && exec "$@"', "sh"] + cmd

    def start(self, state, timeout=120):
        out = open(os.path.join(self.dir, "stdout.log"), "wb")
        self.proc = subprocess.Popen(self.command(), stdout=out,
                                     stderr=subprocess.STDOUT,
                                     stdin=subprocess.DEVNULL,
                                     start_new_session=True)
        out.close()
        self.sid = self.proc.pid
        state.add(self)
        benchlib.wait_for(lambda: self.proc.poll() is not None or
                          self.normal_worker() is not None, timeout,
                          "rspamd's normal worker")
        if self.proc.poll() is not None:
            raise BenchError("rspamd exited (%s); log:\n%s" % (
                self.proc.returncode, self.log_tail()))
        with NetNs(self.sid) if self.use_netns else _null():
            benchlib.wait_for(self.ping, timeout, "rspamd /ping")
        # Hyperscan databases are compiled by hs_helper and then loaded by
        # the worker; until then it matches with PCRE, which is slower.
        try:
            benchlib.wait_for(self.hyperscan_loaded, timeout,
                              "rspamd's hyperscan databases")
        except BenchError:
            log("warning: no 'hyperscan' load line in rspamd's log; "
                "measuring anyway")

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def pids(self):
        return benchlib.session_members(self.sid) if self.sid else []

    def normal_worker(self):
        """pid of the normal worker process, or None."""
        for pid in self.pids():
            try:
                with open("/proc/%d/cmdline" % pid, "rb") as f:
                    cmd = f.read().replace(b"\0", b" ")
            except OSError:
                continue
            if b"normal" in cmd and pid != self.sid:
                return pid
        return None

    def roles(self):
        """{pid: title} of every rspamd process of this instance."""
        out = {}
        for pid in self.pids():
            try:
                with open("/proc/%d/cmdline" % pid, "rb") as f:
                    out[pid] = f.read().replace(b"\0", b" ").decode(
                        "utf-8", "replace").strip()
            except OSError:
                pass
        return out

    def ping(self):
        try:
            with socket.create_connection(("127.0.0.1", self.port), 2) as s:
                s.sendall(b"GET /ping HTTP/1.0\r\n\r\n")
                data = b""
                while True:
                    c = s.recv(4096)
                    if not c:
                        break
                    data += c
                return b"pong" in data
        except OSError:
            return False

    def log_text(self):
        try:
            with open(self.logfile, encoding="utf-8", errors="replace") as f:
                return f.read()
        except OSError:
            return ""

    def log_tail(self, n=30):
        t = self.log_text()
        try:
            with open(os.path.join(self.dir, "stdout.log"),
                      encoding="utf-8", errors="replace") as f:
                t += f.read()
        except OSError:
            pass
        return "\n".join(t.splitlines()[-n:])

    def hyperscan_loaded(self):
        return re.search(r"\(normal\).*hyperscan database of \d+ regexps "
                         r"has been loaded", self.log_text()) is not None

    # Startup lines of a fresh instance that say nothing about the run.
    BENIGN = re.compile(r"No such file or directory|cannot find dependency|"
                        r"no valid expressions")

    def log_problems(self):
        """Log lines that report a failure, and any hint of a remote try."""
        lines = []
        for ln in self.log_text().splitlines():
            if "rspamd_task_write_log" in ln:
                continue
            if (re.search(r"cannot|error|fail|timed? ?out|refused", ln, re.I)
                    and not self.BENIGN.search(ln)) or \
                    re.search(r"https?://", ln):
                lines.append(ln)
        return lines

    def dns_requests(self):
        """(scans logged, DNS requests they made): rspamd logs both."""
        n = dns = 0
        for m in re.finditer(r"rspamd_task_write_log:.*dns req: (\d+)",
                             self.log_text()):
            n += 1
            dns += int(m.group(1))
        return n, dns

    def stop(self, timeout=15):
        if self.sid is None:
            return
        with benchlib.signals_blocked():
            benchlib.kill_pids([self.sid], signal.SIGTERM)
            deadline = time.monotonic() + timeout
            while time.monotonic() < deadline and self.proc.poll() is None:
                time.sleep(0.2)
            benchlib.kill_pids(self.pids(), signal.SIGKILL)
            if self.proc.poll() is None:
                self.proc.wait(5)

    def remove(self, keep=False):
        if keep:
            log("kept %s" % self.dir)
            return
        benchlib.rmtree(self.dir)


class _null:
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


class State:
    """What this run started, in a file, so that --cleanup can undo it."""

    def __init__(self, path):
        self.path = path
        self.live = []

    def _save(self):
        if not self.path:
            return
        recs = [{"kind": i.kind, "dir": i.dir, "sid": i.sid}
                for i in self.live]
        with open(self.path + ".tmp", "w") as f:
            json.dump(recs, f)
        os.replace(self.path + ".tmp", self.path)

    def add(self, inst):
        if inst not in self.live:
            self.live.append(inst)
        self._save()

    def drop(self, inst):
        if inst in self.live:
            self.live.remove(inst)
        self._save()


def cleanup(path):
    """Stop and remove what a killed run left behind (run.sh's trap)."""
    try:
        with open(path) as f:
            recs = json.load(f)
    except (OSError, ValueError):
        return 0
    for r in recs:
        sid = r.get("sid")
        # Only processes still in the session we started (a pid that was
        # reused by something else is not in it).
        if sid and sid in benchlib.session_members(sid):
            benchlib.kill_pids([sid], signal.SIGTERM)
            time.sleep(1)
            benchlib.kill_pids(benchlib.session_members(sid), signal.SIGKILL)
        shutil.rmtree(r["dir"], ignore_errors=True)
        log("cleanup: removed leftover %s instance %s" % (r["kind"], r["dir"]))
    for p in (path, path + ".tmp"):
        try:
            os.unlink(p)
        except OSError:
            pass
    return 0


# ------------------------------------------------------------ rspamd client

def load_class(d):
    msgs = []
    for fn in sorted(os.listdir(d)):
        if fn.endswith(".eml"):
            with open(os.path.join(d, fn), "rb") as f:
                msgs.append(f.read())
    return msgs


def check_request(port, msg, timeout=60):
    """One /checkv2 of msg; (status, parsed JSON reply or None)."""
    hdr = ["POST /checkv2 HTTP/1.0", "Content-Length: %d" % len(msg),
           "IP: %s" % CLIENT_IP, "Helo: mx1.example.net",
           "Hostname: mx1.example.net", "From: %s" % ENV_FROM]
    hdr += ["Rcpt: %s" % r for r in ENV_RCPTS]
    req = ("\r\n".join(hdr) + "\r\n\r\n").encode() + msg
    with socket.create_connection(("127.0.0.1", port), timeout) as s:
        s.settimeout(timeout)
        s.sendall(req)
        chunks = []
        while True:
            c = s.recv(65536)
            if not c:
                break
            chunks.append(c)
    data = b"".join(chunks)
    head, _, body = data.partition(b"\r\n\r\n")
    m = re.match(rb"HTTP/1\.[01] (\d+)", head)
    status = int(m.group(1)) if m else 0
    try:
        reply = json.loads(body)
    except ValueError:
        reply = None
    return status, reply


def proc_cpu(pid):
    """utime + stime of pid (all threads), in seconds."""
    with open("/proc/%d/stat" % pid) as f:
        s = f.read()
    rest = s[s.rindex(")") + 2:].split()
    return (int(rest[11]) + int(rest[12])) / os.sysconf("SC_CLK_TCK")


def proc_status_kb(pid, key):
    try:
        with open("/proc/%d/status" % pid) as f:
            for ln in f:
                if ln.startswith(key + ":"):
                    return int(ln.split()[1])
    except (OSError, ValueError):
        pass
    return 0


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

def run_scanbench(bindir, corpus, seconds, workers, tmp, classes, check,
                  avdb=None):
    """sekisho-scanbench on some classes (with -a avdb: antivirus on); its
    JSON."""
    exe = os.path.join(bindir, "sekisho-scanbench")
    if not os.access(exe, os.X_OK):
        raise BenchError("%s missing (build the sekisho-scanbench target)"
                         % exe)
    out = os.path.join(tmp, "scanbench.json")
    if os.path.exists(out):
        os.unlink(out)
    cmd = [exe, "-c", SCAN_DIR, "-t", str(seconds), "-j", str(workers),
           "-o", out] + ([] if check else ["-q"]) + (
               ["-a", avdb] if avdb else []) + [
               "%s=%s" % (c, os.path.join(corpus, c)) for c in classes]
    log("running %s" % " ".join(cmd))
    # Its lines are shown as they come (one per class), and kept.
    p = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True)
    lines = []
    try:
        for ln in p.stdout:
            sys.stderr.write(ln)
            lines.append(ln)
        rc = p.wait(seconds * len(classes) * 4 + 600)
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()
    if rc not in (0, 1) or not os.path.exists(out):
        raise BenchError("sekisho-scanbench failed (exit %d)" % rc)
    with open(out) as f:
        res = json.load(f)
    res["exit"] = rc
    res["stdout"] = "".join(lines)
    return res


# ------------------------------------------------------------ antivirus

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

def write_results(path, text, raw, failures):
    """The table, then the raw figures as JSON; the exit status."""
    with open(path, "w") as f:
        f.write(text)
        f.write("\n# raw\n")
        json.dump(raw, f, indent=1, default=str)
        f.write("\n")
    log("results written to %s" % path)
    if failures:
        log("FAILED: %s" % "; ".join(failures))
        return 1
    return 0


def mb(kb):
    return "%.1f MB" % (kb / 1024.0) if kb else "-"


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
