"""benchlib.py: shared helpers for the sekisho benchmarks (bench/).

Process and port helpers, /proc memory readers, and the two servers under
test, each as a private instance in a temporary directory on loopback:

  Sekisho  sekisho-smtpd -f -c CONFDIR, a copy of etc/ with its own
           data_dir/run_dir and a free port.
  Postfix  the Debian postfix binaries with their own config_directory and
           queue_directory, started with `postfix -c DIR start`; every
           message is put on hold as it is accepted, so nothing is delivered
           and accepted mail stays in the queue (see README.md).

Python 3 standard library only.  Every wait is bounded in time.
"""

import os
import platform
import pwd
import re
import resource
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
SOURCE = os.environ.get("SEKISHO_SOURCE") or os.path.dirname(HERE)
sys.path.insert(0, os.path.join(SOURCE, "t", "integration"))
from harness import ini_set  # noqa: E402  (the tested INI editor)


class BenchError(Exception):
    """A benchmark step failed; the message says what and where."""


def log(msg):
    print("bench: %s" % msg, file=sys.stderr, flush=True)


def raise_nofile():
    """Raise RLIMIT_NOFILE to its hard limit (inherited by children)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


class signals_blocked:
    """Block SIGINT/SIGTERM/SIGHUP for a teardown section, so that a
    second interrupt cannot cut a stop or a directory removal short; a
    signal that arrives meanwhile is delivered at the end."""

    SIGS = {signal.SIGINT, signal.SIGTERM, signal.SIGHUP}

    def __enter__(self):
        self.old = signal.pthread_sigmask(signal.SIG_BLOCK, self.SIGS)
        return self

    def __exit__(self, *exc):
        signal.pthread_sigmask(signal.SIG_SETMASK, self.old)


def rmtree(path):
    """Remove a directory tree; retried briefly if something still writes."""
    for _ in range(5):
        shutil.rmtree(path, ignore_errors=True)
        if not os.path.exists(path):
            return
        time.sleep(0.2)
    log("warning: could not remove %s" % path)


def free_port(host="127.0.0.1"):
    """A TCP port that was free on loopback a moment ago."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def smtp_greets(port, host="127.0.0.1", timeout=2.0):
    """True when the port answers with an SMTP 220 greeting."""
    try:
        with socket.create_connection((host, port), timeout=timeout) as s:
            s.settimeout(timeout)
            data = b""
            while b"\n" not in data and len(data) < 4096:
                chunk = s.recv(4096)
                if not chunk:
                    break
                data += chunk
            ok = data.startswith(b"220")
            try:
                s.sendall(b"QUIT\r\n")
                s.recv(512)
            except OSError:
                pass
            return ok
    except OSError:
        return False


def wait_for(pred, timeout, what, step=0.1):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        v = pred()
        if v:
            return v
        time.sleep(step)
    raise BenchError("timed out after %.0fs waiting for %s" % (timeout, what))


# ---------------------------------------------------------------- /proc

def proc_stat(pid):
    """(comm, ppid, sid) of a process, or None when it is gone."""
    try:
        with open("/proc/%d/stat" % pid) as f:
            s = f.read()
    except OSError:
        return None
    comm = s[s.index("(") + 1:s.rindex(")")]
    rest = s[s.rindex(")") + 2:].split()
    return comm, int(rest[1]), int(rest[3])


def all_pids():
    return [int(d) for d in os.listdir("/proc") if d.isdigit()]


def descendants(root):
    """root and every process below it (by parent pid)."""
    children = {}
    for pid in all_pids():
        st = proc_stat(pid)
        if st:
            children.setdefault(st[1], []).append(pid)
    out, todo = [], [root]
    while todo:
        p = todo.pop()
        if proc_stat(p) is None:
            continue
        out.append(p)
        todo.extend(children.get(p, []))
    return out


def session_members(sid):
    """Every process whose session id is sid."""
    out = []
    for pid in all_pids():
        st = proc_stat(pid)
        if st and st[2] == sid:
            out.append(pid)
    return out


def mem_kb(pid):
    """Memory of one process in KB: VmRSS, Pss, Private (clean + dirty).

    Pss and Private come from /proc/PID/smaps_rollup; a process that is
    gone counts as zero.
    """
    m = {"rss": 0, "pss": 0, "private": 0}
    try:
        with open("/proc/%d/status" % pid) as f:
            for ln in f:
                if ln.startswith("VmRSS:"):
                    m["rss"] = int(ln.split()[1])
        with open("/proc/%d/smaps_rollup" % pid) as f:
            for ln in f:
                k = ln.split(":")[0]
                if k == "Pss":
                    m["pss"] = int(ln.split()[1])
                elif k in ("Private_Clean", "Private_Dirty"):
                    m["private"] += int(ln.split()[1])
    except (OSError, ValueError, IndexError):
        pass
    return m


def mem_sum(pids):
    tot = {"rss": 0, "pss": 0, "private": 0, "procs": 0}
    for p in pids:
        m = mem_kb(p)
        if m["rss"] == 0:
            continue
        tot["procs"] += 1
        for k in ("rss", "pss", "private"):
            tot[k] += m[k]
    return tot


def kill_pids(pids, sig):
    for p in pids:
        try:
            os.kill(p, sig)
        except (ProcessLookupError, PermissionError):
            pass


def count_files(top, suffix=None):
    """Regular files below top (optionally with a given name suffix)."""
    n = 0
    for dirpath, _dirs, files in os.walk(top):
        for fn in files:
            if suffix is None or fn.endswith(suffix):
                if os.path.isfile(os.path.join(dirpath, fn)):
                    n += 1
    return n


def make_tls_pair(directory):
    os.makedirs(directory, exist_ok=True)
    crt = os.path.join(directory, "server.crt")
    key = os.path.join(directory, "server.key")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048",
                    "-sha256", "-days", "30", "-nodes", "-subj",
                    "/CN=localhost", "-keyout", key, "-out", crt],
                   check=True, capture_output=True, timeout=60)
    os.chmod(key, 0o600)


# ---------------------------------------------------------------- sekisho

class Sekisho:
    """A private sekisho-smtpd: configuration, data and run directories."""

    name = "sekisho-smtpd"

    def __init__(self, bindir, tmp_root, max_conns=100000, extra=()):
        """extra: more (file, section, key, value) settings, applied after
        the ones below (the relay step sets SmartHost and [scan])."""
        self.bin = os.path.join(bindir, "sekisho-smtpd")
        if not os.access(self.bin, os.X_OK):
            raise BenchError("%s not built" % self.bin)
        self.dir = tempfile.mkdtemp(prefix="sekisho-bench-", dir=tmp_root)
        os.chmod(self.dir, 0o755)   # the service users traverse it
        self.confdir = os.path.join(self.dir, "etc")
        self.data_dir = os.path.join(self.dir, "data")
        self.run_dir = os.path.join(self.dir, "run")
        self.log_path = os.path.join(self.dir, "smtpd.log")
        shutil.copytree(os.path.join(SOURCE, "etc"), self.confdir)
        for d in (self.data_dir, self.run_dir):
            os.makedirs(d)
        try:
            make_tls_pair(os.path.join(self.confdir, "tls"))
        except (OSError, subprocess.SubprocessError) as e:
            rmtree(self.dir)
            raise BenchError("openssl: cannot make a TLS pair: %s" % e)
        self.port = free_port()
        self.smtps_port = free_port()
        settings = [
            ("imss.ini", "general", "data_dir", self.data_dir),
            ("imss.ini", "general", "run_dir", self.run_dir),
            ("tsmtpd.ini", "SmtpServer", "BindAddress", "127.0.0.1"),
            ("tsmtpd.ini", "SmtpServer", "Port", str(self.port)),
            ("tsmtpd.ini", "SmtpServer", "SmtpsPort", str(self.smtps_port)),
            ("tsmtpd.ini", "SmtpServer", "MaxConnections", str(max_conns)),
            ("tsmtpd.ini", "SmtpServer", "MaxConnectionsPerIP", "0"),
        ] + list(extra)
        self.settings = list(extra)
        for fn, sec, key, val in settings:
            p = os.path.join(self.confdir, fn)
            with open(p, encoding="utf-8") as f:
                text = f.read()
            with open(p, "w", encoding="utf-8") as f:
                f.write(ini_set(text, sec, key, val))
        self.proc = None
        self.logf = None

    @property
    def incoming(self):
        return os.path.join(self.data_dir, "spool", "incoming")

    def version(self):
        return "sekisho-smtpd (this tree)"

    def start(self, timeout=30):
        self.logf = open(self.log_path, "ab")
        self.proc = subprocess.Popen(
            [self.bin, "-f", "-c", self.confdir], stdout=self.logf,
            stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            start_new_session=True)

        def ready():
            if self.proc.poll() is not None:
                raise BenchError("sekisho-smtpd exited with %s at start; "
                                 "log %s:\n%s" % (self.proc.returncode,
                                                  self.log_path,
                                                  self.log_tail()))
            return smtp_greets(self.port)
        wait_for(ready, timeout, "sekisho-smtpd on 127.0.0.1:%d" % self.port)

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def pids(self):
        return descendants(self.proc.pid) if self.alive() else []

    def smtp_child(self):
        """The pid of the smtp protocol process (comm "smtpd.smtp")."""
        for p in self.pids():
            st = proc_stat(p)
            if st and st[0] == "smtpd.smtp":
                return p
        raise BenchError("no smtpd.smtp process below pid %d" % self.proc.pid)

    def landed(self):
        return count_files(self.incoming, ".env")

    def content_check(self, min_size):
        """(content files, smallest, largest) in incoming/; every
        envelope needs its content file, at least min_size bytes."""
        sizes = []
        try:
            names = os.listdir(self.incoming)
        except OSError:
            names = []
        for fn in names:
            if fn.endswith(".msg"):
                sizes.append(os.stat(os.path.join(self.incoming, fn)).st_size)
        if not sizes:
            return 0, 0, 0
        return len(sizes), min(sizes), max(sizes)

    def queue_files(self):
        """Every regular file in the spool (for the report)."""
        return count_files(os.path.join(self.data_dir, "spool"))

    def log_text(self):
        try:
            with open(self.log_path, "rb") as f:
                return f.read().decode("utf-8", "replace")
        except OSError:
            return ""

    def log_tail(self, n=30):
        return "\n".join(self.log_text().splitlines()[-n:])

    def log_problems(self):
        """Log lines at err/warn level, excluding the expected ones."""
        out = []
        for ln in self.log_text().splitlines():
            if "lvl=err" in ln or "lvl=crit" in ln or "lvl=warn" in ln:
                # Started as root in development layouts, or not root:
                # the one loud privilege warning is expected.
                if "not root" in ln or "unknown key" in ln:
                    continue
                out.append(ln)
        return out

    def stop(self):
        if self.proc is None:
            return
        pids = self.pids()
        if self.alive():
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                pass
        # The whole session (parent and its children), by id.
        kill_pids(session_members(self.proc.pid) + pids, signal.SIGKILL)
        try:
            self.proc.wait(5)
        except subprocess.TimeoutExpired:
            pass
        deadline = time.monotonic() + 10
        while (session_members(self.proc.pid) and
               time.monotonic() < deadline):
            time.sleep(0.1)
        if self.logf:
            self.logf.close()
            self.logf = None

    def remove(self, keep=False):
        if not keep:
            rmtree(self.dir)


# ---------------------------------------------------------------- postfix

POSTFIX_SBIN = "/usr/sbin/postfix"
POSTFIX_DAEMONS = "/usr/lib/postfix/sbin"

# master.cf: the standard services (as shipped by Debian), none chrooted,
# plus our SMTP listener on a loopback port.  Delivery agents are listed
# so that nothing is missing, but every message is put on hold by smtpd,
# so the queue manager never schedules a delivery.
MASTER_CF = """\
# service type  private unpriv  chroot  wakeup  maxproc command + args
127.0.0.1:{port} inet n  -       n       -       {maxproc} smtpd
pickup    unix  n       -       n       60      1       pickup
cleanup   unix  n       -       n       -       0       cleanup
qmgr      unix  n       -       n       300     1       qmgr
tlsmgr    unix  -       -       n       1000?   1       tlsmgr
rewrite   unix  -       -       n       -       -       trivial-rewrite
bounce    unix  -       -       n       -       0       bounce
defer     unix  -       -       n       -       0       bounce
trace     unix  -       -       n       -       0       bounce
verify    unix  -       -       n       -       1       verify
flush     unix  n       -       n       1000?   0       flush
proxymap  unix  -       -       n       -       -       proxymap
proxywrite unix -       -       n       -       1       proxymap
smtp      unix  -       -       n       -       -       smtp
relay     unix  -       -       n       -       -       smtp
showq     unix  n       -       n       -       -       showq
error     unix  -       -       n       -       -       error
retry     unix  -       -       n       -       -       error
discard   unix  -       -       n       -       -       discard
local     unix  -       n       n       -       -       local
virtual   unix  -       n       n       -       -       virtual
lmtp      unix  -       -       n       -       -       lmtp
anvil     unix  -       -       n       -       1       anvil
scache    unix  -       -       n       -       1       scache
postlog   unix-dgram n  -       n       -       1       postlogd
"""

# main.cf: loopback only, relay for 127.0.0.0/8, no local delivery, no
# connection limits for loopback, and HOLD for every client, so accepted
# mail goes straight from cleanup into the hold queue (fsynced before the
# 250 like any queue file) and is never delivered.
MAIN_CF = """\
compatibility_level = 3.6
queue_directory = {queue}
data_directory = {data}
mail_owner = postfix
setgid_group = postdrop
maillog_file_prefixes = {dir}
maillog_file = {maillog}
myhostname = bench.localdomain
mydomain = localdomain
myorigin = $myhostname
mydestination =
relay_domains =
local_recipient_maps =
alias_maps =
alias_database =
inet_interfaces = 127.0.0.1
inet_protocols = ipv4
mynetworks = 127.0.0.0/8
smtpd_client_restrictions = check_client_access static:HOLD
smtpd_relay_restrictions = permit_mynetworks, reject
smtpd_recipient_restrictions =
smtpd_client_connection_count_limit = 0
smtpd_client_event_limit_exceptions = 127.0.0.0/8
smtpd_peername_lookup = no
default_process_limit = {maxproc}
smtpd_tls_security_level = none
biff = no
"""

# The relay step: the same instance without HOLD, relaying everything to
# one next hop (smtp-sink).  Queue files are fsynced before the 250 as
# always; delivery settings are Postfix's defaults (destination
# concurrency 20, connection cache on demand).
RELAY_MAIN_CF_CHANGES = {
    "smtpd_client_restrictions": "",
    "relayhost": "[127.0.0.1]:{relayport}",
    "smtp_tls_security_level": "none",
}


class Postfix:
    """A private Postfix instance that only accepts (HOLD) on loopback."""

    name = "postfix"

    def __init__(self, tmp_root, maxproc=100, relayport=None, postconf=()):
        """relayport: relay every message to [127.0.0.1]:relayport instead
        of holding it; postconf: more "key = value" main.cf lines."""
        if os.geteuid() != 0:
            raise BenchError("the Postfix instance needs root")
        for p in (POSTFIX_SBIN, os.path.join(POSTFIX_DAEMONS, "master")):
            if not os.access(p, os.X_OK):
                raise BenchError("%s missing (apt-get install postfix)" % p)
        pwd.getpwnam("postfix")
        self.dir = tempfile.mkdtemp(prefix="postfix-bench-", dir=tmp_root)
        os.chmod(self.dir, 0o755)
        self.confdir = os.path.join(self.dir, "etc")
        self.queue = os.path.join(self.dir, "queue")
        self.data = os.path.join(self.dir, "data")
        self.maillog = os.path.join(self.dir, "maillog")
        os.makedirs(self.confdir)
        os.makedirs(self.queue)
        os.makedirs(self.data)
        pf = pwd.getpwnam("postfix")
        os.chown(self.data, pf.pw_uid, pf.pw_gid)
        self.port = free_port()
        self.maxproc = maxproc
        main = MAIN_CF.format(queue=self.queue, data=self.data,
                              maillog=self.maillog, maxproc=maxproc,
                              dir=self.dir)
        changes = {}
        if relayport:
            changes = {k: v.format(relayport=relayport)
                       for k, v in RELAY_MAIN_CF_CHANGES.items()}
        for kv in postconf:
            k, _, v = kv.partition("=")
            changes[k.strip()] = v.strip()
        lines = main.splitlines()
        for k, v in changes.items():
            done = False
            for i, ln in enumerate(lines):
                if ln.split("=")[0].strip() == k:
                    lines[i] = "%s = %s" % (k, v)
                    done = True
            if not done:
                lines.append("%s = %s" % (k, v))
        self.postconf = changes
        with open(os.path.join(self.confdir, "main.cf"), "w") as f:
            f.write("\n".join(lines) + "\n")
        with open(os.path.join(self.confdir, "master.cf"), "w") as f:
            f.write(MASTER_CF.format(port=self.port, maxproc=maxproc))
        # postfix check wants these next to main.cf
        for fn in ("dynamicmaps.cf",):
            src = os.path.join("/etc/postfix", fn)
            if os.path.exists(src):
                shutil.copy(src, os.path.join(self.confdir, fn))
        self.master_pid = None

    def _postfix(self, *args, timeout=60, check=True):
        r = subprocess.run([POSTFIX_SBIN, "-c", self.confdir] + list(args),
                           capture_output=True, text=True, timeout=timeout,
                           stdin=subprocess.DEVNULL)
        if check and r.returncode != 0:
            # postfix(1) writes its reasons to stderr only on a terminal;
            # ask `postfix check` again under script(1) to show them.
            why = ""
            if shutil.which("script"):
                w = subprocess.run(
                    ["script", "-qec", "%s -c %s check" % (
                        POSTFIX_SBIN, self.confdir), "/dev/null"],
                    capture_output=True, text=True, timeout=timeout,
                    stdin=subprocess.DEVNULL)
                why = w.stdout
            raise BenchError("postfix %s failed (%d): %s%s%s%s" % (
                " ".join(args), r.returncode, r.stdout, r.stderr, why,
                self.log_tail(10)))
        return r

    def version(self):
        r = subprocess.run(["/usr/sbin/postconf", "-c", self.confdir, "-h",
                            "mail_version"], capture_output=True, text=True,
                           timeout=30)
        return "postfix %s" % r.stdout.strip()

    def start(self, timeout=30):
        self._postfix("start")
        pidfile = os.path.join(self.queue, "pid", "master.pid")

        def master():
            try:
                with open(pidfile) as f:
                    pid = int(f.read().split()[0])
            except (OSError, ValueError, IndexError):
                return None
            return pid if proc_stat(pid) else None
        self.master_pid = wait_for(master, timeout, "postfix master.pid")
        wait_for(lambda: smtp_greets(self.port), timeout,
                 "postfix smtpd on 127.0.0.1:%d" % self.port)

    def alive(self):
        return self.master_pid is not None and proc_stat(self.master_pid)

    def pids(self):
        if not self.master_pid:
            return []
        return descendants(self.master_pid)

    def smtpd_pids(self):
        out = []
        for p in self.pids():
            st = proc_stat(p)
            if st and st[0] == "smtpd" and p != self.master_pid:
                out.append(p)
        return out

    def landed(self):
        """Messages in the hold queue (where every accepted one goes)."""
        return count_files(os.path.join(self.queue, "hold"))

    def queue_files(self):
        n = 0
        for q in ("maildrop", "incoming", "active", "deferred", "hold",
                  "corrupt"):
            n += count_files(os.path.join(self.queue, q))
        return n

    def postqueue_count(self):
        """The request count from `postqueue -p` (cross-check)."""
        r = subprocess.run(["/usr/sbin/postqueue", "-c", self.confdir, "-p"],
                           capture_output=True, text=True, timeout=300)
        last = r.stdout.strip().splitlines()[-1:] or [""]
        m = re.search(r"in (\d+) Requests?", last[0])
        if m:
            return int(m.group(1))
        if "Mail queue is empty" in last[0]:
            return 0
        return -1

    def log_text(self):
        try:
            with open(self.maillog, "rb") as f:
                return f.read().decode("utf-8", "replace")
        except OSError:
            return ""

    def log_tail(self, n=30):
        return "\n".join(self.log_text().splitlines()[-n:])

    def log_problems(self):
        return [ln for ln in self.log_text().splitlines()
                if re.search(r"\b(warning|error|fatal|panic):", ln)]

    def stop(self):
        if not self.master_pid:
            return
        sid = self.master_pid
        try:
            self._postfix("stop", timeout=30, check=False)
        except subprocess.TimeoutExpired:
            pass
        try:
            wait_for(lambda: not proc_stat(self.master_pid), 15,
                     "postfix master to exit", step=0.2)
        except BenchError:
            pass
        # master runs in its own session; its children share it.
        kill_pids(session_members(sid), signal.SIGKILL)
        deadline = time.monotonic() + 10
        while session_members(sid) and time.monotonic() < deadline:
            time.sleep(0.1)
        self.master_pid = None

    def remove(self, keep=False):
        if not keep:
            rmtree(self.dir)


def machine():
    """The host, for the results header: CPUs, model, memory, kernel,
    Debian version (os) and the load average now (load_start)."""
    def first(path, default="?"):
        try:
            with open(path) as f:
                return f.read().strip()
        except OSError:
            return default
    cpu = "?"
    with open("/proc/cpuinfo") as f:
        for ln in f:
            if ln.startswith("model name"):
                cpu = ln.split(":", 1)[1].strip()
                break
    mem_kb = 0
    with open("/proc/meminfo") as f:
        for ln in f:
            if ln.startswith("MemTotal:"):
                mem_kb = int(ln.split()[1])
    return {"nproc": os.cpu_count(), "cpu": cpu, "load_start": loadavg(),
            "mem_gib": round(mem_kb / 1048576, 1),
            "kernel": platform.release(),
            "os": first("/etc/debian_version")}


def loadavg():
    """The 1/5/15-minute load averages as text."""
    with open("/proc/loadavg") as f:
        return " ".join(f.read().split()[:3])
