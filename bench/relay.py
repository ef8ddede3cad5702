"""relay.py: the end-to-end relay benchmark (issue 4 "Performance", issue 10
"relay"): smtp-source -> server under test -> smtp-sink.

Pieces used by bench.py:

  Sink     Postfix's smtp-sink on its own loopback port, dumping every
           message into a file of its own (-d, on tmpfs when there is one)
           and printing counters (-c).  An inotify watch on the dump
           directory stamps the moment each message is complete: smtp-sink
           closes the dump file when it has read the final "." and before
           it answers 250.
  Prober   while smtp-source runs, one extra SMTP session sends a probe
           message (same size, envelope sender probe-K@bench.example) every
           --probe-interval seconds and notes when it sent the final "."
           and when the 250 came back; probe K's dump file at the sink gives
           its arrival.  That is the end-of-DATA -> delivery latency, under
           the same load (smtp-source messages are all alike, so they cannot
           be timed one by one).
  relay_run  one measured run against one fresh relay instance.

Python 3 standard library only; every wait is bounded.
"""

import ctypes
import ctypes.util
import os
import pwd
import re
import select
import smtplib
import socket
import struct
import subprocess
import tempfile
import threading
import time

import benchlib
from benchlib import BenchError, log

SMTP_SINK = "/usr/sbin/smtp-sink"
SMTP_SOURCE = "/usr/sbin/smtp-source"

IN_CLOSE_WRITE = 0x00000008
IN_NONBLOCK = 0o4000
IN_CLOEXEC = 0o2000000
IN_Q_OVERFLOW = 0x00004000
EVENT_HDR = struct.Struct("iIII")


class Inotify:
    """IN_CLOSE_WRITE events of one directory, time-stamped by a reader
    thread (time.monotonic()) as soon as the kernel reports them."""

    def __init__(self, directory):
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6",
                           use_errno=True)
        self.fd = libc.inotify_init1(IN_NONBLOCK | IN_CLOEXEC)
        if self.fd < 0:
            raise BenchError("inotify_init1: errno %d" % ctypes.get_errno())
        wd = libc.inotify_add_watch(self.fd, directory.encode(),
                                    IN_CLOSE_WRITE)
        if wd < 0:
            os.close(self.fd)
            raise BenchError("inotify_add_watch %s: errno %d"
                             % (directory, ctypes.get_errno()))
        self.closed = {}          # file name -> monotonic time of close
        self.overflow = False
        self.lock = threading.Lock()
        self.stop_ev = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self):
        poller = select.poll()
        poller.register(self.fd, select.POLLIN)
        while not self.stop_ev.is_set():
            if not poller.poll(100):
                continue
            try:
                buf = os.read(self.fd, 1 << 16)
            except BlockingIOError:
                continue
            except OSError:
                return
            now = time.monotonic()
            off = 0
            with self.lock:
                while off + EVENT_HDR.size <= len(buf):
                    _wd, mask, _cookie, ln = EVENT_HDR.unpack_from(buf, off)
                    off += EVENT_HDR.size
                    name = buf[off:off + ln].rstrip(b"\0").decode(
                        "utf-8", "replace")
                    off += ln
                    if mask & IN_Q_OVERFLOW:
                        self.overflow = True
                    elif name and name not in self.closed:
                        self.closed[name] = now

    def count(self):
        with self.lock:
            return len(self.closed)

    def snapshot(self):
        with self.lock:
            return dict(self.closed)

    def close(self):
        self.stop_ev.set()
        self.thread.join(5)
        try:
            os.close(self.fd)
        except OSError:
            pass


def sink_user():
    for u in ("nobody", "postfix"):
        try:
            return pwd.getpwnam(u)
        except KeyError:
            continue
    raise BenchError("no unprivileged user for smtp-sink -u")


class Sink:
    """A private smtp-sink on 127.0.0.1 that keeps every message."""

    name = "smtp-sink"

    def __init__(self, tmp_root, dump_root=None):
        if not os.access(SMTP_SINK, os.X_OK):
            raise BenchError("%s missing (apt-get install postfix)"
                             % SMTP_SINK)
        self.dir = tempfile.mkdtemp(prefix="sink-bench-", dir=tmp_root)
        # The dumps go to tmpfs when there is one, so that the sink's own
        # writes do not compete with the relay's fsyncs on the spool disk.
        droot = dump_root or tmp_root
        self.dump_parent = tempfile.mkdtemp(prefix="sink-dump-", dir=droot)
        self.dump = os.path.join(self.dump_parent, "d")
        os.makedirs(self.dump)
        u = sink_user()
        self.user = u.pw_name
        os.chown(self.dump, u.pw_uid, u.pw_gid)
        os.chmod(self.dump_parent, 0o755)
        self.out_path = os.path.join(self.dir, "counters.txt")
        self.err_path = os.path.join(self.dir, "stderr.txt")
        self.port = benchlib.free_port()
        self.proc = None
        self.inotify = None
        self._files = []

    def start(self, timeout=30):
        self.inotify = Inotify(self.dump)
        out = open(self.out_path, "wb")
        err = open(self.err_path, "wb")
        self._files = [out, err]
        # -m: connections served at once (more wait in the backlog)
        self.proc = subprocess.Popen(
            [SMTP_SINK, "-c", "-u", self.user, "-m", "1000",
             "-d", self.dump + "/", "127.0.0.1:%d" % self.port, "1024"],
            stdout=out, stderr=err, stdin=subprocess.DEVNULL,
            start_new_session=True)

        def ready():
            if self.proc.poll() is not None:
                raise BenchError("smtp-sink exited with %s: %s" % (
                    self.proc.returncode, self.stderr()))
            return benchlib.smtp_greets(self.port)
        benchlib.wait_for(ready, timeout, "smtp-sink on 127.0.0.1:%d"
                          % self.port)

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def stderr(self):
        try:
            with open(self.err_path, "rb") as f:
                return f.read()[-2000:].decode("utf-8", "replace")
        except OSError:
            return ""

    def counters(self):
        """The last counter line of smtp-sink -c: sess, quit, mesg."""
        try:
            with open(self.out_path, "rb") as f:
                f.seek(0, 2)
                n = f.tell()
                f.seek(max(0, n - 200))
                tail = f.read().decode("ascii", "replace")
        except OSError:
            return {}
        recs = [r for r in re.split(r"[\r\n]+", tail) if "mesg=" in r]
        if not recs:
            return {}
        return {k: int(v) for k, v in re.findall(r"(\w+)=(\d+)", recs[-1])}

    def arrived(self):
        """Messages completely received (dump files closed)."""
        return self.inotify.count() if self.inotify else 0

    def scan(self, size):
        """Read every dump file: message ids, probe numbers, body sizes.

        Returns a dict: files, ids (Message-Id -> count), probes
        (probe number -> file name), short (files whose body is shorter
        than 90 % of size; smtp-sink drops the CRs)."""
        res = {"files": 0, "ids": {}, "probes": {}, "short": [],
               "noid": 0, "min_body": None}
        try:
            names = os.listdir(self.dump)
        except OSError:
            return res
        for fn in names:
            p = os.path.join(self.dump, fn)
            try:
                with open(p, "rb") as f:
                    data = f.read()
            except OSError:
                continue
            res["files"] += 1
            head, sep, body = data.partition(b"\n\n")
            m = re.search(rb"^X-Mail-Args: <probe-(\d+)@", head, re.M)
            if m:
                res["probes"][int(m.group(1))] = fn
            m = re.search(rb"^Message-Id:[ \t]*(\S+)", head, re.M | re.I)
            if m:
                mid = m.group(1).decode("ascii", "replace")
                res["ids"][mid] = res["ids"].get(mid, 0) + 1
            else:
                res["noid"] += 1
            bl = len(body)
            if res["min_body"] is None or bl < res["min_body"]:
                res["min_body"] = bl
            if not sep or bl < 0.9 * size:
                res["short"].append(fn)
        return res

    def stop(self):
        if self.proc is not None:
            if self.proc.poll() is None:
                self.proc.terminate()
                try:
                    self.proc.wait(10)
                except subprocess.TimeoutExpired:
                    pass
            benchlib.kill_pids(benchlib.session_members(self.proc.pid),
                               9)
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                pass
        if self.inotify:
            self.inotify.close()
            self.inotify = None
        for f in self._files:
            f.close()
        self._files = []

    def log_tail(self, n=20):
        return self.stderr()

    def remove(self, keep=False):
        if not keep:
            benchlib.rmtree(self.dump_parent)
            benchlib.rmtree(self.dir)


# ---------------------------------------------------------------- probes

def probe_body(k, size):
    """A message of about size bytes (CRLF), with no line starting with
    a dot."""
    head = ("From: <probe-%d@bench.example>\r\n"
            "To: <to@example.com>\r\n"
            "Subject: bench probe %d\r\n"
            "Message-Id: <probe-%d.%d@bench.localdomain>\r\n"
            "X-Bench-Probe: %d\r\n\r\n" % (k, k, k, os.getpid(), k))
    line = "P" * 78 + "\r\n"
    body = []
    n = len(head)
    while n < size:
        body.append(line)
        n += len(line)
    return (head + "".join(body)).encode("ascii")


class Prober(threading.Thread):
    """Send one probe message every interval seconds over one SMTP session
    (reconnecting on error, at most max_errors times), until stopped."""

    def __init__(self, port, size, interval, max_probes=100000,
                 max_errors=20):
        super().__init__(daemon=True)
        self.port, self.size, self.interval = port, size, interval
        self.max_probes, self.max_errors = max_probes, max_errors
        self.stop_ev = threading.Event()
        self.sent = {}            # k -> (t_dot, t_ack) for acknowledged ones
        self.errors = []
        self.lock = threading.Lock()

    def _connect(self):
        s = smtplib.SMTP("127.0.0.1", self.port, local_hostname="probe",
                         timeout=60)
        s.ehlo("probe.bench")
        return s

    def run(self):
        s = None
        k = 0
        while not self.stop_ev.is_set() and k < self.max_probes:
            t_next = time.monotonic() + self.interval
            try:
                if s is None:
                    s = self._connect()
                k += 1
                code, msg = s.mail("probe-%d@bench.example" % k)
                if code != 250:
                    raise smtplib.SMTPException("MAIL: %d %s" % (code, msg))
                code, msg = s.rcpt("to@example.com")
                if code != 250:
                    raise smtplib.SMTPException("RCPT: %d %s" % (code, msg))
                code, msg = s.docmd("DATA")
                if code != 354:
                    raise smtplib.SMTPException("DATA: %d %s" % (code, msg))
                s.send(probe_body(k, self.size) + b".\r\n")
                t_dot = time.monotonic()
                code, msg = s.getreply()
                t_ack = time.monotonic()
                if code != 250:
                    raise smtplib.SMTPException("end of data: %d %s"
                                                % (code, msg))
                with self.lock:
                    self.sent[k] = (t_dot, t_ack)
            except (OSError, smtplib.SMTPException) as e:
                self.errors.append("probe %d: %s" % (k, e))
                try:
                    if s is not None:
                        s.close()
                except OSError:
                    pass
                s = None
                if len(self.errors) >= self.max_errors:
                    break
            wait = t_next - time.monotonic()
            if wait > 0:
                self.stop_ev.wait(wait)
        if s is not None:
            try:
                s.quit()
            except (OSError, smtplib.SMTPException):
                try:
                    s.close()
                except OSError:
                    pass

    def finish(self, timeout=120):
        self.stop_ev.set()
        self.join(timeout)
        with self.lock:
            return dict(self.sent)


def percentile(vals, p):
    """Nearest-rank percentile of a list (None when empty)."""
    if not vals:
        return None
    v = sorted(vals)
    i = max(0, min(len(v) - 1, int(round(p / 100.0 * len(v) + 0.5)) - 1))
    return v[i]


# ---------------------------------------------------------------- queues

def sekisho_queued(inst):
    """Envelopes left anywhere in sekisho's spool (tmp, incoming, queue,
    hold, corrupt...)."""
    return benchlib.count_files(os.path.join(inst.data_dir, "spool"), ".env")


def postfix_queued(inst):
    return inst.queue_files()


def queued(inst):
    if isinstance(inst, benchlib.Sekisho):
        return sekisho_queued(inst)
    return postfix_queued(inst)


# ---------------------------------------------------------------- one run

def relay_run(inst, sink, a, teardown_fn):
    """smtp-source -> inst -> sink; returns a result dict.  inst and sink
    are fresh and not started; both are stopped and removed by
    teardown_fn(inst/sink, res) at the end."""
    res = {"server": inst.name, "ok": False, "errors": []}
    prober = None
    try:
        sink.start()
        inst.start()
        res["version"] = inst.version()
        argv = [SMTP_SOURCE, "-s", str(a.sessions), "-m", str(a.messages),
                "-l", str(a.size), "-M", "bench.localdomain",
                "-f", "from@example.com", "-t", "to@example.com"]
        if a.reuse:
            argv.append("-d")
        argv.append("127.0.0.1:%d" % inst.port)
        res["argv"] = " ".join(argv)
        log("%s relay: %s  (sink 127.0.0.1:%d)" % (inst.name, res["argv"],
                                                    sink.port))
        if a.probe_interval > 0:
            prober = Prober(inst.port, a.size, a.probe_interval)
        t0 = time.monotonic()
        src = subprocess.Popen(argv, stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT,
                               stdin=subprocess.DEVNULL)
        if prober:
            prober.start()
        try:
            out, _ = src.communicate(timeout=a.timeout)
            rc = src.returncode
        except subprocess.TimeoutExpired:
            src.kill()
            out, _ = src.communicate(timeout=10)
            rc = "timeout"
            res["errors"].append("smtp-source did not finish within %ds"
                                 % a.timeout)
        t_src = time.monotonic() - t0
        sent_probes = prober.finish() if prober else {}
        err = (out or b"").decode("utf-8", "replace").strip()
        res["source_rc"], res["source_err"] = rc, err[-2000:]
        res["source_seconds"] = t_src
        if rc != 0 and rc != "timeout":
            res["errors"].append("smtp-source exit %s: %s" % (rc, err[-500:]))
        res["probes_sent"] = len(sent_probes)
        if prober and prober.errors:
            res["probe_errors"] = prober.errors[:10]
            res["errors"].append("probe client: %d error(s), first: %s"
                                 % (len(prober.errors), prober.errors[0]))
        expect = a.messages + len(sent_probes)
        res["expected"] = expect

        # Wait until everything arrived: bounded by --drain-timeout, and
        # given up early when nothing arrives for --stall seconds.
        deadline = time.monotonic() + a.drain_timeout
        last_n, last_change = sink.arrived(), time.monotonic()
        stalled = False
        while True:
            n = sink.arrived()
            now = time.monotonic()
            if n >= expect:
                break
            if n != last_n:
                last_n, last_change = n, now
            if now - last_change > a.stall or now > deadline:
                stalled = True
                break
            if not inst.alive():
                break
            time.sleep(0.02)
        arrivals = sink.inotify.snapshot()
        times = sorted(arrivals.values())
        if times and len(times) >= min(expect, len(times)):
            t_end = times[min(expect, len(times)) - 1]
        else:
            t_end = time.monotonic()
        wall = t_end - t0
        res["wall"] = wall
        res["delivered_at_end"] = len(times)
        res["rate"] = min(len(times), expect) / wall if wall > 0 else 0.0
        if stalled or len(times) < expect:
            res["errors"].append(
                "only %d of %d messages reached the sink (%s)" % (
                    len(times), expect,
                    "no progress for %.0fs" % a.stall
                    if stalled and time.monotonic() < deadline
                    else "drain timeout %ds" % a.drain_timeout
                    if stalled else "server died"))

        # The queue must drain: a message leaves it once delivered.
        qdeadline = time.monotonic() + 30
        left = queued(inst)
        while left and time.monotonic() < qdeadline:
            time.sleep(0.2)
            left = queued(inst)
        res["queue_left"] = left
        if isinstance(inst, benchlib.Postfix):
            res["postqueue"] = inst.postqueue_count()
            if res["postqueue"] != 0:
                res["errors"].append("postqueue -p: %d messages left"
                                     % res["postqueue"])
        if left:
            res["errors"].append("%d messages still in the queue 30s after "
                                 "the run" % left)
        # Late duplicates would show up now.
        time.sleep(a.settle)
        sc = sink.scan(a.size)
        ctr = sink.counters()
        res["sink_counters"] = ctr
        res["sink_files"] = sc["files"]
        res["unique_ids"] = len(sc["ids"])
        res["duplicates"] = sum(c - 1 for c in sc["ids"].values() if c > 1)
        res["no_message_id"] = sc["noid"]
        res["min_body"] = sc["min_body"]
        if sc["short"]:
            res["errors"].append("%d messages arrived truncated (body < 90%% "
                                 "of %d bytes), e.g. %s" % (
                                     len(sc["short"]), a.size,
                                     sc["short"][0]))
        if ctr.get("mesg") is not None and ctr["mesg"] != sc["files"]:
            res["errors"].append("smtp-sink counted %d messages, %d dump "
                                 "files" % (ctr["mesg"], sc["files"]))
        if res["duplicates"]:
            res["errors"].append("%d duplicate deliveries (same Message-Id)"
                                 % res["duplicates"])
        if sc["noid"]:
            res["errors"].append("%d delivered messages without Message-Id"
                                 % sc["noid"])
        if rc == 0 and len(sc["ids"]) < expect:
            res["errors"].append("LOST: %d of %d acknowledged messages never "
                                 "reached the sink" % (
                                     expect - len(sc["ids"]), expect))
        elif len(sc["ids"]) > expect:
            res["errors"].append("%d distinct messages at the sink, %d sent"
                                 % (len(sc["ids"]), expect))

        # Latency of the probes: end of DATA (the final "." sent) -> the
        # sink has the whole message; and end of DATA -> the relay's 250.
        lat, ack = [], []
        for k, (t_dot, t_ack) in sent_probes.items():
            ack.append(t_ack - t_dot)
            fn = sc["probes"].get(k)
            if fn and fn in arrivals:
                lat.append(arrivals[fn] - t_dot)
        res["probe_latency"] = {
            "n": len(lat), "p50": percentile(lat, 50),
            "p99": percentile(lat, 99), "max": max(lat) if lat else None,
            "mean": sum(lat) / len(lat) if lat else None}
        res["probe_ack"] = {"n": len(ack), "p50": percentile(ack, 50),
                            "p99": percentile(ack, 99)}
        if sink.inotify.overflow:
            res["errors"].append("inotify queue overflowed: arrival times "
                                 "incomplete")
        if not inst.alive():
            res["errors"].append("%s died during the run" % inst.name)
        if not sink.alive():
            res["errors"].append("smtp-sink died: %s" % sink.stderr())
        probs = inst.log_problems()
        res["log_problems"] = len(probs)
        if probs:
            res["log_sample"] = probs[:5]
        errs = [ln for ln in inst.log_text().splitlines()
                if "lvl=err" in ln or "lvl=crit" in ln]
        res["log_err_lines"] = len(errs)
        if errs:
            res["log_err_sample"] = errs[:10]
        res["ok"] = not res["errors"]
    except BenchError as e:
        res["errors"].append(str(e))
    finally:
        if prober is not None and prober.is_alive():
            prober.finish(30)
        with benchlib.signals_blocked():
            teardown_fn(inst, res)
            teardown_fn(sink, res)
    return res
