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

import ctypes
import json
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


NOFILE_WANT = 65536     # 10,000 idle sessions at 2 descriptors each, and more


def raise_nofile():
    """Raise RLIMIT_NOFILE (inherited by children): as root to at least
    NOFILE_WANT (within /proc/sys/fs/nr_open; sekisho-smtpd caps
    MaxConnections to what the limit allows, two descriptors per session),
    otherwise to the hard limit."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if os.geteuid() == 0 and hard != resource.RLIM_INFINITY and \
            hard < NOFILE_WANT:
        try:
            with open("/proc/sys/fs/nr_open") as f:
                cap = int(f.read())
        except (OSError, ValueError):
            cap = NOFILE_WANT
        hard = min(NOFILE_WANT, cap)
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
        except (OSError, ValueError):
            hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
    if resource.getrlimit(resource.RLIMIT_NOFILE)[0] < hard:
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


# ---------------------------------------------------------------- packages

def pids_of_exe(path):
    """pids of running processes whose executable is path."""
    out = []
    for pid in all_pids():
        try:
            if os.readlink("/proc/%d/exe" % pid) == path:
                out.append(pid)
        except OSError:
            pass
    return out


def pids_of_cmd(word):
    """pids of running processes whose command line's first or second word
    ends in /word or is word (interpreted daemons such as spamd)."""
    out = []
    for pid in all_pids():
        try:
            with open("/proc/%d/cmdline" % pid, "rb") as f:
                argv = f.read().split(b"\0")[:2]
        except OSError:
            continue
        for a in argv:
            a = a.decode("utf-8", "replace").split()[0] if a else ""
            if a == word or a.endswith("/" + word):
                out.append(pid)
                break
    return out


def ensure_packages(pkgs, probe, services, running, no_install):
    """Install the Debian packages pkgs when the program probe is missing
    (apt-get, DEBIAN_FRONTEND=noninteractive, --no-install-recommends),
    then leave none of services running or enabled that the install
    started: `systemctl disable` (it works on unit files where systemd
    does not run), `systemctl stop` where it does, and elsewhere SIGTERM
    to the new pids that running() lists.  True when it installed."""
    if shutil.which(probe) or no_install:
        if not shutil.which(probe):
            raise BenchError("%s is not installed (apt-get install %s)"
                             % (probe, " ".join(pkgs)))
        return False
    log("installing %s (Debian packages, no recommends)" % " ".join(pkgs))
    before = set(running())
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    cmd = ["apt-get", "install", "-y", "-q", "--no-install-recommends"] + \
        list(pkgs)
    if subprocess.run(cmd, env=env).returncode != 0:
        subprocess.run(["apt-get", "update", "-q"], env=env)
        if subprocess.run(cmd, env=env).returncode != 0:
            raise BenchError("apt-get install %s failed" % " ".join(pkgs))
    time.sleep(1)
    started = [p for p in running() if p not in before]
    systemctl = shutil.which("systemctl") is not None
    systemd = systemctl and os.path.isdir("/run/systemd/system")
    if systemctl:
        for svc in services:
            if systemd:
                subprocess.run(["systemctl", "stop", svc],
                               capture_output=True)
            subprocess.run(["systemctl", "disable", svc],
                           capture_output=True)
        log("disabled the %s service%s the packages installed%s"
            % (", ".join(services), "" if len(services) == 1 else "s",
               " and stopped it" if systemd else ""))
    if started and not systemd:
        log("stopping what the install started (pids %s)" % started)
        kill_pids(started, signal.SIGTERM)
        time.sleep(2)
        kill_pids([p for p in started if p in running()], signal.SIGKILL)
    return True


# ---------------------------------------------------------------- rspamd

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


def rspamd_pids():
    """pids of running rspamd processes (any instance)."""
    return pids_of_exe("/usr/bin/rspamd")


def rspamd_version():
    try:
        p = subprocess.run(["rspamd", "--version"], capture_output=True,
                           text=True, timeout=30)
        m = re.search(r"version\s+(\S+)", p.stdout)
        return m.group(1) if m else p.stdout.strip()
    except (OSError, subprocess.TimeoutExpired):
        return None


def ensure_rspamd(no_install):
    """Install rspamd when missing (no recommends: no redis-server); leave
    no system rspamd running that the install started."""
    return ensure_packages(["rspamd"], "rspamd", ["rspamd"], rspamd_pids,
                           no_install)


# ---------------------------------------------------------------- netns

_libc = ctypes.CDLL(None, use_errno=True)


def setns(fd):
    """Move the calling thread into the network namespace of fd."""
    if _libc.setns(fd, CLONE_NEWNET) != 0:
        e = ctypes.get_errno()
        raise OSError(e, "setns: %s" % os.strerror(e))


def spawn(server, state):
    """Start server.command() in a session of its own, its output in
    server.dir/stdout.log, registered with state for the cleanup; with
    server.use_netns, return only once its network namespace exists
    (before that, /proc/PID/ns/net is still ours and joining it would
    reach the host's loopback)."""
    with open(os.path.join(server.dir, "stdout.log"), "wb") as out:
        server.proc = subprocess.Popen(server.command(), stdout=out,
                                       stderr=subprocess.STDOUT,
                                       stdin=subprocess.DEVNULL,
                                       start_new_session=True)
    server.sid = server.proc.pid
    state.add(server)
    if server.use_netns:
        wait_for(lambda: server.proc.poll() is not None or
                 os.readlink("/proc/%d/ns/net" % server.sid) !=
                 os.readlink("/proc/self/ns/net"), 30,
                 "the server's network namespace")


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


def in_netns(cmd):
    """cmd run in a new network namespace with only its loopback up."""
    return ["unshare", "--net", "--", "sh", "-c",
            'ip link set lo up && exec "$@"', "sh"] + list(cmd)


class Rspamd:
    """A private rspamd: config in a temp dir, one normal worker.

    configure() copies Debian's /etc/rspamd and changes it (README.md,
    "Scan"): one normal worker on 127.0.0.1, the C filters chartable and
    regexp only, the modules of `off` disabled, the resolver 127.0.0.1:1,
    local maps only for mime_types and mid, hfilter without its lookups,
    no Bayes (no Redis); then `files` ({path relative to the config:
    text}) are written over the copy.  Subclasses add their own rules."""

    kind = "rspamd"
    what = "sekisho benchmark"

    def __init__(self, tmp_root, use_netns, prefix="sekisho-bench-rspamd."):
        self.dir = tempfile.mkdtemp(prefix=prefix, dir=tmp_root)
        self.conf = os.path.join(self.dir, "conf")
        self.use_netns = use_netns
        self.port = 11333 if use_netns else free_port()
        self.proc = None
        self.sid = None
        self.logfile = os.path.join(self.dir, "log", "rspamd.log")

    # -- configuration --

    def _write(self, rel, text):
        p = os.path.join(self.conf, rel)
        os.makedirs(os.path.dirname(p), exist_ok=True)
        with open(p, "w", encoding="utf-8") as f:
            f.write(text)

    def configure(self, off=RSPAMD_OFF, files=None):
        """A copy of Debian's /etc/rspamd with the changes above."""
        shutil.copytree("/etc/rspamd", self.conf, symlinks=True)
        for sub in ("db", "run", "log", "maps"):
            os.makedirs(os.path.join(self.dir, sub), exist_ok=True)
        self._write("rspamd.conf", """\
# %s: Debian's top-level file with one worker only.
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
""" % (self.what, self.port))
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
        for mod in off:
            self._write("modules.d/%s.conf" % mod,
                        "# off in the %s (network or Redis)\n"
                        "%s { enabled = false; }\n" % (self.what, mod))
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
        for rel, text in (files or {}).items():
            self._write(rel, text)
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
        return in_netns(cmd) if self.use_netns else cmd

    def start(self, state, timeout=120):
        spawn(self, state)
        wait_for(lambda: self.proc.poll() is not None or
                 self.normal_worker() is not None, timeout,
                 "rspamd's normal worker")
        if self.proc.poll() is not None:
            raise BenchError("rspamd exited (%s); log:\n%s" % (
                self.proc.returncode, self.log_tail()))
        with NetNs(self.sid) if self.use_netns else null_ctx():
            wait_for(self.ping, timeout, "rspamd /ping")
        # Hyperscan databases are compiled by hs_helper and then loaded by
        # the worker; until then it matches with PCRE, which is slower.
        try:
            wait_for(self.hyperscan_loaded, timeout,
                     "rspamd's hyperscan databases")
        except BenchError:
            log("warning: no 'hyperscan' load line in rspamd's log; "
                "measuring anyway")

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def pids(self):
        return session_members(self.sid) if self.sid else []

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
        with signals_blocked():
            kill_pids([self.sid], signal.SIGTERM)
            deadline = time.monotonic() + timeout
            while time.monotonic() < deadline and self.proc.poll() is None:
                time.sleep(0.2)
            kill_pids(self.pids(), signal.SIGKILL)
            if self.proc.poll() is None:
                self.proc.wait(5)

    def remove(self, keep=False):
        if keep:
            log("kept %s" % self.dir)
            return
        rmtree(self.dir)



class null_ctx:
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
        if sid and sid in session_members(sid):
            kill_pids([sid], signal.SIGTERM)
            time.sleep(1)
            kill_pids(session_members(sid), signal.SIGKILL)
        shutil.rmtree(r["dir"], ignore_errors=True)
        log("cleanup: removed leftover %s instance %s" % (r["kind"], r["dir"]))
    for p in (path, path + ".tmp"):
        try:
            os.unlink(p)
        except OSError:
            pass
    return 0




# ---------------------------------------------------------------- clients

def rspamd_check(port, msg, headers=(), timeout=60):
    """One POST /checkv2 of msg with more request headers (rspamd's
    envelope: IP, Helo, From, Rcpt, ...); (status, parsed JSON reply or
    None)."""
    hdr = ["POST /checkv2 HTTP/1.0", "Content-Length: %d" % len(msg)]
    hdr += list(headers)
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




def run_scanbench(bindir, args, tmp, timeout):
    """sekisho-scanbench with args (its -o is added); its JSON, with its
    exit status ("exit") and standard output ("stdout").  Its lines are
    shown on stderr as they come."""
    exe = os.path.join(bindir, "sekisho-scanbench")
    if not os.access(exe, os.X_OK):
        raise BenchError("%s missing (build the sekisho-scanbench target)"
                         % exe)
    out = os.path.join(tmp, "scanbench.json")
    if os.path.exists(out):
        os.unlink(out)
    cmd = [exe, "-o", out] + list(args)
    log("running %s" % " ".join(cmd))
    p = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True)
    lines = []
    try:
        for ln in p.stdout:
            sys.stderr.write(ln)
            lines.append(ln)
        rc = p.wait(timeout)
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


# ---------------------------------------------------------------- results

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
