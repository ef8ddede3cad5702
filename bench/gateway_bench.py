#!/usr/bin/env python3
"""gateway_bench.py: the "gateway" step of issue 10: the whole gateway
end to end, sekisho with its shipped default policy next to Postfix with
rspamd as a milter (and ClamAV, through rspamd's antivirus module and a
private clamd), on the same messages in the same run.

  python3 bench/gateway_bench.py [--mode quick|default] --bindir BUILD/bin
  python3 bench/gateway_bench.py --cleanup STATE

What it does (bench/README.md, "Gateway"):
  1. installs rspamd when it is missing (benchlib.ensure_rspamd);
  2. the message set: bench/scan/gen_corpus.py's 5 KB and 100 KB classes
     (multipart, attachments: archives, executables, Office documents,
     Japanese charsets) and a few 2 MB ones, plus plain-text, HTML and
     spam-like messages made here (fixed seed); every message gets an
     `X-Bench-Id: N` header, so it can be found at the sink;
  3. a signature database (scan_bench.make_av_db: /var/lib/clamav when it
     holds official databases, else the synthetic one with EICAR);
  4. per server, R runs (alternating order), each on fresh instances and a
     fresh smtp-sink (relay.Sink, with its inotify arrival stamps):
       sekisho: sekisho-smtpd + sekisho-scanner on a copy of etc/ (the
         shipped policy.ini: scanning, antivirus with libclamav, antispam
         with the shipped rule package), SmartHost = the sink; SPF, DKIM,
         DMARC and DNS lists off (no network; rspamd has them off too);
       postfix: the relay instance of the relay step plus smtpd_milters =
         rspamd's proxy worker (milter mode, self_scan) on a unix socket;
         rspamd runs in its own network namespace with the offline
         configuration of the scan step and its antivirus module asking a
         private clamd (same signatures) on a unix socket;
     C client connections (threads) send every message once; the time of
     the final "." and of the reply are noted per message; the run ends
     when the sender is done and the queue is empty;
  5. the table: messages/s (handled / wall time), CPU seconds of the
     gateway's processes, end of DATA -> at the sink p50/p99, end of DATA
     -> reply p50/p99, what happened to the messages (delivered,
     rejected, quarantined/dropped); written to
     bench/results/gateway-<date>[-quick].txt with the raw JSON.

Exit status 0 when every check passed, 1 when one failed (a tempfail
reply, a message at the sink twice, a server that died, a queue that
did not drain), 2 when setup failed, 130 when interrupted.
"""

import argparse
import datetime
import json
import os
import pwd
import queue as queuemod
import random
import re
import shutil
import signal
import smtplib
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import benchlib  # noqa: E402
from benchlib import BenchError, log  # noqa: E402
import relay  # noqa: E402

SCAN_DIR = os.path.join(HERE, "scan")

MODES = {
    # corpus counts (5k, 100k, 2m from gen_corpus; plain, html, spam made
    # here), client connections, runs per server
    "quick": {"n": (120, 20, 2), "extra": (30, 30, 20), "concurrency": 8,
              "repeat": 1},
    "default": {"n": (1000, 200, 10), "extra": (200, 200, 100),
                "concurrency": 10, "repeat": 3},
}
ENV_FROM = "sender@example.net"
ENV_RCPT = "user1@example.com"


# ------------------------------------------------------------ state

class Tracker:
    """What this run started, in a file, so that --cleanup (run.sh's trap)
    can stop it by session id and remove its directories when this
    process was killed."""

    def __init__(self, path):
        self.path = path
        self.live = []

    def add(self, obj):
        if obj not in self.live:
            self.live.append(obj)
        self.save()

    def drop(self, obj):
        if obj in self.live:
            self.live.remove(obj)
        self.save()

    def save(self):
        if not self.path:
            return
        recs = []
        for o in self.live:
            r = {"kind": getattr(o, "kind", o.__class__.__name__),
                 "dirs": [d for d in (getattr(o, "dir", None),
                                      getattr(o, "dump_parent", None)) if d],
                 "sid": None}
            if isinstance(o, benchlib.Postfix):
                r["sid"] = o.master_pid
                r["confdir"] = o.confdir
            elif getattr(o, "sid", None):
                r["sid"] = o.sid
            elif getattr(o, "proc", None) is not None:
                r["sid"] = o.proc.pid
            recs.append(r)
        with open(self.path + ".tmp", "w") as f:
            json.dump(recs, f)
        os.replace(self.path + ".tmp", self.path)


def cleanup(path):
    """Stop and remove what a killed run left behind."""
    try:
        with open(path) as f:
            recs = json.load(f)
    except (OSError, ValueError):
        return 0
    for r in recs:
        if r.get("confdir"):
            try:
                subprocess.run(["/usr/sbin/postfix", "-c", r["confdir"],
                                "stop"], capture_output=True, timeout=30)
            except (OSError, subprocess.TimeoutExpired):
                pass
        sid = r.get("sid")
        if sid and sid in benchlib.session_members(sid):
            benchlib.kill_pids([sid], signal.SIGTERM)
            time.sleep(1)
            benchlib.kill_pids(benchlib.session_members(sid), signal.SIGKILL)
        for d in r.get("dirs", []):
            shutil.rmtree(d, ignore_errors=True)
        log("cleanup: removed leftover %s %s" % (r["kind"], r.get("dirs")))
    for p in (path, path + ".tmp"):
        try:
            os.unlink(p)
        except OSError:
            pass
    return 0


def session_cpu(sid):
    """CPU seconds of a session: utime + stime of every live member plus
    the children each has reaped (cutime + cstime)."""
    tck = os.sysconf("SC_CLK_TCK")
    tot = 0
    for pid in benchlib.session_members(sid):
        try:
            with open("/proc/%d/stat" % pid) as f:
                s = f.read()
        except OSError:
            continue
        rest = s[s.rindex(")") + 2:].split()
        tot += sum(int(rest[i]) for i in (11, 12, 13, 14))
    return tot / tck


# ------------------------------------------------------------ servers

class Scanner:
    """sekisho-scanner on the configuration of a benchlib.Sekisho."""

    kind = "sekisho-scanner"

    def __init__(self, bindir, inst):
        self.bin = os.path.join(bindir, "sekisho-scanner")
        if not os.access(self.bin, os.X_OK):
            raise BenchError("%s not built" % self.bin)
        self.inst = inst
        self.dir = None          # inside the smtpd instance's directory
        self.log_path = os.path.join(inst.dir, "scanner.log")
        self.proc = None
        self.sid = None

    def start(self, tracker, timeout=120):
        with open(self.log_path, "ab") as out:
            self.proc = subprocess.Popen(
                [self.bin, "-f", "-c", self.inst.confdir], stdout=out,
                stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                start_new_session=True)
        self.sid = self.proc.pid
        tracker.add(self)

        def ready():
            if self.proc.poll() is not None:
                raise BenchError("sekisho-scanner exited (%s) at start:\n%s"
                                 % (self.proc.returncode, self.log_tail()))
            return "event=scanner-ready" in self.log_text()
        benchlib.wait_for(ready, timeout, "sekisho-scanner ready")

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def log_text(self):
        try:
            with open(self.log_path, "rb") as f:
                return f.read().decode("utf-8", "replace")
        except OSError:
            return ""

    def log_tail(self, n=20):
        return "\n".join(self.log_text().splitlines()[-n:])

    def stop(self):
        if self.proc is None:
            return
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                pass
        benchlib.kill_pids(benchlib.session_members(self.sid), signal.SIGKILL)
        try:
            self.proc.wait(5)
        except subprocess.TimeoutExpired:
            pass

    def remove(self, keep=False):
        pass


class Clamd:
    """A private clamd on a unix socket with the benchmark's signatures,
    for rspamd's antivirus module (the Postfix side's ClamAV)."""

    kind = "clamd"

    def __init__(self, tmp_root, dbdir):
        if not shutil.which("clamd"):
            raise BenchError("clamd missing (apt-get install clamav-daemon)")
        self.dir = tempfile.mkdtemp(prefix="sekisho-bench-clamd.",
                                    dir=tmp_root)
        os.chmod(self.dir, 0o755)
        self.sock = os.path.join(self.dir, "clamd.sock")
        self.conf = os.path.join(self.dir, "clamd.conf")
        self.log_path = os.path.join(self.dir, "clamd.log")
        try:
            u = pwd.getpwnam("clamav")
            user = "User clamav\n"
            os.chown(self.dir, u.pw_uid, u.pw_gid)
        except KeyError:
            user = ""
        # The same limits as sekisho's [antivirus] defaults.
        with open(self.conf, "w") as f:
            f.write("Foreground yes\nLocalSocket %s\nLocalSocketMode 666\n"
                    "DatabaseDirectory %s\nLogFile %s\nLogTime yes\n"
                    "%sMaxThreads 4\nStreamMaxLength 100M\nMaxScanSize 100M\n"
                    "MaxFileSize 25M\nMaxRecursion 17\nMaxFiles 10000\n"
                    "SelfCheck 0\n" % (self.sock, dbdir, self.log_path, user))
        os.chmod(self.conf, 0o644)
        self.proc = None
        self.sid = None

    def ping(self):
        try:
            with socket.socket(socket.AF_UNIX) as s:
                s.settimeout(2)
                s.connect(self.sock)
                s.sendall(b"zPING\0")
                return s.recv(64).startswith(b"PONG")
        except OSError:
            return False

    def start(self, tracker, timeout=180):
        with open(os.path.join(self.dir, "stdout.log"), "wb") as out:
            self.proc = subprocess.Popen(["clamd", "-c", self.conf],
                                         stdout=out, stderr=subprocess.STDOUT,
                                         stdin=subprocess.DEVNULL,
                                         start_new_session=True)
        self.sid = self.proc.pid
        tracker.add(self)

        def ready():
            if self.proc.poll() is not None:
                raise BenchError("clamd exited (%s) at start: %s" % (
                    self.proc.returncode, self.log_tail()))
            return self.ping()
        benchlib.wait_for(ready, timeout, "clamd PONG", step=0.5)

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def log_tail(self, n=20):
        t = ""
        for p in (self.log_path, os.path.join(self.dir, "stdout.log")):
            try:
                with open(p, encoding="utf-8", errors="replace") as f:
                    t += f.read()
            except OSError:
                pass
        return "\n".join(t.splitlines()[-n:])

    def stop(self):
        if self.proc is None:
            return
        with benchlib.signals_blocked():
            benchlib.kill_pids([self.sid], signal.SIGTERM)
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                pass
            benchlib.kill_pids(benchlib.session_members(self.sid),
                               signal.SIGKILL)

    def remove(self, keep=False):
        if not keep:
            benchlib.rmtree(self.dir)


RSPAMD_GATEWAY_SCORES = """\
# sekisho gateway benchmark: no reverse DNS offline, so no score for its
# absence (as in the spam step).
symbols {
  "RDNS_NONE" { weight = 0.0; }
  "RDNS_DNSFAIL" { weight = 0.0; }
}
"""

# Postfix has no greylisting here (the module is off): the greylist
# action would be a 4xx at the end of DATA, so it is not used; spam is
# tagged at 6 and rejected at 15 (Debian's thresholds).
RSPAMD_GATEWAY_ACTIONS = """\
greylist = null;
add_header = 6;
reject = 15;
"""


class GatewayRspamd(benchlib.Rspamd):
    """The shared offline rspamd (benchlib.Rspamd), plus the proxy worker
    in milter mode (self_scan) on a unix socket for Postfix, and, with a
    clamd, the antivirus module asking it."""

    kind = "rspamd"
    what = "sekisho gateway benchmark"

    def configure_gateway(self, clamd_sock=None):
        # multimap too: its default rules are remote maps (freemail,
        # disposable addresses) with no packaged copy, as in the spam step.
        off = [m for m in benchlib.RSPAMD_OFF
               if not (clamd_sock and m == "antivirus")] + ["multimap"]
        files = {"local.d/headers_group.conf": RSPAMD_GATEWAY_SCORES,
                 "override.d/actions.conf": RSPAMD_GATEWAY_ACTIONS}
        if clamd_sock:
            files["modules.d/antivirus.conf"] = """\
antivirus {
  clamav {
    type = "clamav";
    servers = "%s";
    action = "reject";
    symbol = "CLAM_VIRUS";
    scan_mime_parts = true;
    scan_text_mime = true;
    scan_image_mime = true;
    max_size = 26214400;
    timeout = 60.0;
    retransmits = 1;
    log_clean = false;
  }
}
""" % clamd_sock
        super().configure(off, files)
        self.milter_sock = os.path.join(self.dir, "run", "milter.sock")
        with open(os.path.join(self.conf, "rspamd.conf"), "a") as f:
            f.write("""
worker "rspamd_proxy" {
    bind_socket = "%s mode=0666";
    milter = yes;
    timeout = 120s;
    upstream "local" {
        default = yes;
        self_scan = yes;
    }
    count = 1;
    max_retries = 5;
    discard_on_reject = false;
    quarantine_on_reject = false;
    spam_header = "X-Spam";
    reject_message = "Spam message rejected";
}
""" % self.milter_sock)

    def proxy_worker(self):
        for pid, title in self.roles().items():
            if "rspamd_proxy" in title and pid != self.sid:
                return pid
        return None


# ------------------------------------------------------------ messages

SPAM_LINES = [
    "Congratulations! You have been selected to receive a FREE prize.",
    "Click here to claim your reward now: http://win-prize.example.biz/claim",
    "Cheap meds online, no prescription needed, 80% off!!!",
    "Make $5000 per week working from home. 100% GUARANTEED.",
    "URGENT: your account will be suspended, verify your password here.",
    "Dear friend, I am a barrister and need your help to transfer "
    "US$15,500,000 to your account.",
    "Unsubscribe: reply REMOVE. This is not spam. Act now, limited time!",
]


def extra_messages(nplain, nhtml, nspam, seed=10):
    """Plain-text, HTML and spam-like messages (bytes, CRLF)."""
    rnd = random.Random(seed)
    words = ("meeting report schedule budget project review invoice "
             "quarterly update customer delivery contract agenda team "
             "release plan minutes offer").split()
    out = []

    def para(n):
        return " ".join(rnd.choice(words) for _ in range(n)).capitalize() \
            + "."

    for i in range(nplain):
        body = "\r\n\r\n".join(para(rnd.randint(20, 60))
                               for _ in range(rnd.randint(3, 20)))
        out.append(("plain", (
            "From: Taro Yamada <taro%d@example.net>\r\n"
            "To: <user1@example.com>\r\nSubject: %s %d\r\n"
            "Date: Sun, 29 Nov 2026 10:00:00 +0900\r\n"
            "Message-ID: <plain.%d@example.net>\r\nMIME-Version: 1.0\r\n"
            "Content-Type: text/plain; charset=us-ascii\r\n\r\n%s\r\n"
            % (i, para(4)[:-1], i, i, body)).encode()))
    for i in range(nhtml):
        ps = [para(rnd.randint(20, 60)) for _ in range(rnd.randint(3, 15))]
        text = "\r\n\r\n".join(ps)
        html = "<html><body>%s<p><a href=\"https://www.example.com/r/%d\">" \
            "details</a></p></body></html>" % ("".join(
                "<p>%s</p>\r\n" % p for p in ps), i)
        out.append(("html", (
            "From: <news%d@example.net>\r\nTo: <user1@example.com>\r\n"
            "Subject: Newsletter %d\r\n"
            "Date: Sun, 29 Nov 2026 10:00:00 +0900\r\n"
            "Message-ID: <html.%d@example.net>\r\nMIME-Version: 1.0\r\n"
            "Content-Type: multipart/alternative; boundary=\"b%d\"\r\n\r\n"
            "--b%d\r\nContent-Type: text/plain; charset=us-ascii\r\n\r\n"
            "%s\r\n--b%d\r\nContent-Type: text/html; charset=us-ascii\r\n\r\n"
            "%s\r\n--b%d--\r\n" % (i, i, i, i, i, text, i, html, i)
        ).encode()))
    for i in range(nspam):
        lines = rnd.sample(SPAM_LINES, 4)
        html = "<html><body bgcolor=red><font size=7>%s</font>" \
            "<a href=\"http://192.0.2.%d/x.php?id=%d\">CLICK HERE</a>" \
            "</body></html>" % ("<br>".join(lines), rnd.randint(1, 254), i)
        out.append(("spam", (
            "From: \"Prize Center\" <winner%d@lottery.example.biz>\r\n"
            "To: <user1@example.com>\r\nSubject: =?utf-8?B?%s?=\r\n"
            "Reply-To: claims%d@freemail.example.org\r\n"
            "X-Mailer: Bulk Mailer Pro 5.0\r\nPrecedence: bulk\r\n"
            "MIME-Version: 1.0\r\n"
            "Content-Type: text/html; charset=us-ascii\r\n\r\n%s\r\n"
            % (i, __import__("base64").b64encode(
                ("!!! YOU WON $1,000,000 !!! FREE MONEY %d" % i).encode()
            ).decode(), i, html)).encode()))
    return out


def build_messages(tmp, a):
    """[(kind, bytes)] of the whole set, each with X-Bench-Id, CRLF,
    dot-stuffed, ending in CRLF (without the final ".")."""
    corpus = os.path.join(tmp, "corpus")
    n5, n100, n2 = a.n
    subprocess.run([sys.executable, os.path.join(SCAN_DIR, "gen_corpus.py"),
                    "--n5k", str(n5), "--n100k", str(n100), "--n2m", str(n2),
                    corpus], check=True, stdout=subprocess.DEVNULL,
                   timeout=600)
    msgs = []
    for cls in ("5k", "100k", "2m"):
        d = os.path.join(corpus, cls)
        if not os.path.isdir(d):
            continue
        for fn in sorted(os.listdir(d)):
            if fn.endswith(".eml"):
                with open(os.path.join(d, fn), "rb") as f:
                    msgs.append(("corpus-" + cls, f.read()))
    msgs += extra_messages(*a.extra)
    random.Random(11).shuffle(msgs)
    out = []
    for i, (kind, raw) in enumerate(msgs):
        raw = raw.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")
        if raw.startswith(b"From ") and b"\r\n" in raw:   # mbox line
            raw = raw.split(b"\r\n", 1)[1]
        if not raw.endswith(b"\r\n"):
            raw += b"\r\n"
        raw = b"X-Bench-Id: %d\r\n" % i + raw
        raw = re.sub(rb"(?m)^\.", b"..", raw)
        out.append((kind, raw))
    shutil.rmtree(corpus, ignore_errors=True)
    return out


# ------------------------------------------------------------ client

class Sender:
    """C threads, each with its own SMTP session (renewed every 100
    messages), send every message once; per message: the time the final
    "." was sent, the time of the reply, the reply code."""

    def __init__(self, port, msgs, concurrency, per_session=100):
        self.port, self.msgs = port, msgs
        self.concurrency = concurrency
        self.per_session = per_session
        self.todo = queuemod.Queue()
        for i in range(len(msgs)):
            self.todo.put(i)
        self.res = {}            # i -> (t_dot, t_reply, code)
        self.errors = []
        self.lock = threading.Lock()

    def _session(self):
        s = smtplib.SMTP("127.0.0.1", self.port, local_hostname="client",
                         timeout=300)
        s.ehlo("client.bench.example")
        return s

    def _one(self, s, i):
        code, msg = s.mail(ENV_FROM)
        if code != 250:
            return None, None, code
        code, msg = s.rcpt(ENV_RCPT)
        if code not in (250, 251):
            s.rset()
            return None, None, code
        code, msg = s.docmd("DATA")
        if code != 354:
            s.rset()
            return None, None, code
        s.send(self.msgs[i][1] + b".\r\n")
        t_dot = time.monotonic()
        code, msg = s.getreply()
        return t_dot, time.monotonic(), code

    def _worker(self):
        s, n = None, 0
        while True:
            try:
                i = self.todo.get_nowait()
            except queuemod.Empty:
                break
            for attempt in (1, 2):
                try:
                    if s is None:
                        s, n = self._session(), 0
                    r = self._one(s, i)
                    n += 1
                    with self.lock:
                        self.res[i] = r
                    if n >= self.per_session:
                        s.quit()
                        s = None
                    break
                except (OSError, smtplib.SMTPException) as e:
                    with self.lock:
                        self.errors.append("message %d: %s" % (i, e))
                    try:
                        if s is not None:
                            s.close()
                    except OSError:
                        pass
                    s = None
        if s is not None:
            try:
                s.quit()
            except (OSError, smtplib.SMTPException):
                pass

    def run(self, timeout):
        ts = [threading.Thread(target=self._worker, daemon=True)
              for _ in range(self.concurrency)]
        for t in ts:
            t.start()
        deadline = time.monotonic() + timeout
        for t in ts:
            t.join(max(0.1, deadline - time.monotonic()))
        if any(t.is_alive() for t in ts):
            self.errors.append("sender did not finish within %ds" % timeout)


def sink_ids(sink):
    """{bench id: [dump file, ...]} and the files without one."""
    ids, other = {}, 0
    try:
        names = os.listdir(sink.dump)
    except OSError:
        return ids, other
    for fn in names:
        try:
            with open(os.path.join(sink.dump, fn), "rb") as f:
                head = f.read(65536).partition(b"\n\n")[0]
        except OSError:
            continue
        m = re.search(rb"^X-Bench-Id: (\d+)", head, re.M)
        if m:
            ids.setdefault(int(m.group(1)), []).append(fn)
        else:
            other += 1
    return ids, other


def pct(vals, p):
    return relay.percentile(vals, p)


# ------------------------------------------------------------ one run

def gateway_run(srv, a, tracker, tmp_root, msgs, dbdir):
    """One run on fresh instances; a result dict."""
    res = {"server": srv, "ok": False, "errors": []}
    started = []

    def new(factory):
        with benchlib.signals_blocked():
            o = factory()
            if not hasattr(o, "kind"):
                o.kind = getattr(o, "name", o.__class__.__name__)
            tracker.add(o)
            started.append(o)
        return o
    try:
        sink = new(lambda: relay.Sink(tmp_root, a.sink_dir))
        sink.start()
        tracker.save()
        if srv == "sekisho":
            extra = [("policy.ini", "scan", "enabled", "1"),
                     ("policy.ini", "antivirus", "enabled", "1"),
                     ("policy.ini", "antivirus", "database_dir", dbdir),
                     ("policy.ini", "antispam", "enabled", "1"),
                     ("policy.ini", "antispam", "sender_auth", "0"),
                     ("policy.ini", "antispam", "dns_lists", "0"),
                     ("tsmtpd.ini", "SmtpClient", "SmartHost",
                      "127.0.0.1:%d" % sink.port),
                     ("tsmtpd.ini", "SmtpClient", "TlsPolicy", "none")]
            for spec in a.set:
                f, sec, kv = spec.split(":", 2)
                k, _, v = kv.partition("=")
                extra.append((f, sec, k.strip(), v.strip()))
            inst = new(lambda: benchlib.Sekisho(a.bindir, tmp_root,
                                                extra=extra))
            inst.kind = "sekisho-smtpd"
            res["settings"] = ["%s [%s] %s=%s" % x for x in extra]
            scanner = new(lambda: Scanner(a.bindir, inst))
            scanner.start(tracker)
            inst.start()
            tracker.save()
            sids = [inst.proc.pid, scanner.sid]
            helpers = [scanner]
        else:
            clamd = None
            if not a.no_clamd:
                clamd = new(lambda: Clamd(tmp_root, dbdir))
                clamd.start(tracker)
            rs = new(lambda: GatewayRspamd(tmp_root, use_netns=a.netns))
            rs.configure_gateway(clamd.sock if clamd else None)
            rs.start(tracker)
            benchlib.wait_for(lambda: os.path.exists(rs.milter_sock), 60,
                              "rspamd's milter socket")
            pc = ["smtpd_milters = unix:%s" % rs.milter_sock,
                  "milter_default_action = tempfail",
                  "milter_protocol = 6",
                  "milter_mail_macros = i {mail_addr} {client_addr} "
                  "{client_name} {auth_authen}"] + list(a.postconf)
            inst = new(lambda: benchlib.Postfix(
                tmp_root, maxproc=max(100, a.concurrency + 20),
                relayport=sink.port, postconf=pc))
            inst.kind = "postfix"
            res["settings"] = ["main.cf %s = %s" % kv
                               for kv in inst.postconf.items()]
            inst.start()
            tracker.save()
            sids = [inst.master_pid, rs.sid] + ([clamd.sid] if clamd else [])
            helpers = [rs] + ([clamd] if clamd else [])
        res["version"] = inst.version() if srv == "sekisho" else \
            "%s + rspamd %s%s" % (inst.version(), benchlib.rspamd_version(),
                                  " + clamd" if not a.no_clamd else "")
        cpu0 = sum(session_cpu(s) for s in sids)
        sender = Sender(inst.port, msgs, a.concurrency)
        log("%s gateway: %d messages from %d connections (sink 127.0.0.1:%d)"
            % (srv, len(msgs), a.concurrency, sink.port))
        t0 = time.monotonic()
        sender.run(a.timeout)
        t_sent = time.monotonic()
        replies = sender.res
        codes = {}
        for _t, _r, c in replies.values():
            codes[c] = codes.get(c, 0) + 1
        res["reply_codes"] = {str(k): v for k, v in codes.items()}
        accepted = [i for i, r in replies.items() if r[2] == 250]
        res["sent"] = len(msgs)
        res["accepted"] = len(accepted)
        res["rejected"] = sum(v for k, v in codes.items()
                              if k and 500 <= k < 600)
        res["tempfailed"] = sum(v for k, v in codes.items()
                                if k and 400 <= k < 500)
        if sender.errors:
            res["errors"].append("client: %d error(s), first: %s" % (
                len(sender.errors), sender.errors[0]))
        if len(replies) < len(msgs):
            res["errors"].append("%d messages got no reply" % (
                len(msgs) - len(replies)))
        if res["tempfailed"]:
            res["errors"].append("%d messages tempfailed (4xx)"
                                 % res["tempfailed"])
        # Done when the queue is empty (delivered, quarantined, dropped);
        # bounded, and given up when nothing changes for --stall s.
        deadline = time.monotonic() + a.drain_timeout
        last = (-1, -1)
        last_change = time.monotonic()
        t_empty = None
        while time.monotonic() < deadline:
            left = relay.queued(inst)
            now = time.monotonic()
            if left == 0:
                t_empty = now
                break
            cur = (left, sink.arrived())
            if cur != last:
                last, last_change = cur, now
            elif now - last_change > a.stall:
                break
            if not inst.alive():
                break
            time.sleep(0.02)
        cpu1 = sum(session_cpu(s) for s in sids)
        res["cpu_s"] = cpu1 - cpu0
        if t_empty is None:
            res["errors"].append("queue not empty: %d messages left"
                                 % relay.queued(inst))
            t_empty = time.monotonic()
        time.sleep(a.settle)
        arrivals = sink.inotify.snapshot()
        ids, other = sink_ids(sink)
        res["at_sink"] = len(ids)
        res["sink_other"] = other    # notifications, bounces
        res["duplicates"] = sum(len(v) - 1 for v in ids.values()
                                if len(v) > 1)
        if res["duplicates"]:
            res["errors"].append("%d messages at the sink twice"
                                 % res["duplicates"])
        notacc = [i for i in ids if i not in set(accepted)]
        if notacc:
            res["errors"].append("%d messages at the sink that were not "
                                 "accepted" % len(notacc))
        res["not_delivered"] = len(accepted) - len(
            [i for i in ids if i in set(accepted)])
        lat, ack = [], []
        t_last_arr = t0
        for i, fns in ids.items():
            t = arrivals.get(fns[0])
            if t is not None:
                t_last_arr = max(t_last_arr, t)
                if replies.get(i) and replies[i][0] is not None:
                    lat.append(t - replies[i][0])
        for t_dot, t_rep, _c in replies.values():
            if t_dot is not None:
                ack.append(t_rep - t_dot)
        t_end = max(t_sent, t_last_arr, t_empty if t_empty else t_sent)
        res["wall"] = t_end - t0
        res["send_seconds"] = t_sent - t0
        res["rate"] = len(replies) / res["wall"] if res["wall"] > 0 else 0
        res["msgs_per_cpu_s"] = len(replies) / res["cpu_s"] \
            if res["cpu_s"] > 0 else None
        res["latency"] = {"n": len(lat), "p50": pct(lat, 50),
                          "p99": pct(lat, 99),
                          "max": max(lat) if lat else None}
        res["reply"] = {"n": len(ack), "p50": pct(ack, 50),
                        "p99": pct(ack, 99)}
        # What happened per kind of message.
        kinds = {}
        for i, (kind, _m) in enumerate(msgs):
            k = kinds.setdefault(kind, {"sent": 0, "delivered": 0,
                                        "rejected": 0, "held": 0})
            k["sent"] += 1
            r = replies.get(i)
            if i in ids:
                k["delivered"] += 1
            elif r and r[2] and 500 <= r[2] < 600:
                k["rejected"] += 1
            elif r and r[2] == 250:
                k["held"] += 1
        res["kinds"] = kinds
        if srv == "sekisho":
            qdir = os.path.join(inst.data_dir, "quarantine", "msg")
            res["quarantined"] = benchlib.count_files(qdir, ".info") \
                if os.path.isdir(qdir) else 0
            errs = [ln for ln in inst.log_text().splitlines() +
                    scanner.log_text().splitlines()
                    if "lvl=err" in ln or "lvl=crit" in ln]
            res["log_err_lines"] = len(errs)
            res["log_err_sample"] = errs[:10]
            res["scan_failed"] = sum(1 for ln in scanner.log_text()
                                     .splitlines()
                                     if "scan-failed" in ln or
                                     "event=scan-timeout" in ln)
        else:
            res["log_problems"] = len(inst.log_problems())
            res["log_sample"] = inst.log_problems()[:5]
            res["rspamd_problems"] = rs.log_problems()[:5]
            # rspamd logs one line per scan: every accepted message must
            # have been scanned through the milter.
            res["rspamd_scans"], res["rspamd_dns"] = rs.dns_requests()
            if res["rspamd_scans"] < len(replies):
                res["errors"].append("rspamd logged %d scans for %d messages"
                                     % (res["rspamd_scans"], len(replies)))
        for h in [inst, sink] + helpers:
            if not h.alive():
                res["errors"].append("%s died during the run"
                                     % getattr(h, "kind", h.name))
        res["ok"] = not res["errors"]
    except BenchError as e:
        res["errors"].append(str(e))
    finally:
        with benchlib.signals_blocked():
            for o in reversed(started):
                if not res["ok"]:
                    try:
                        res.setdefault("log_tails", {})[
                            getattr(o, "kind", "?")] = o.log_tail(15)
                    except Exception:   # noqa: BLE001 (best effort)
                        pass
                o.stop()
                o.remove(keep=a.keep and not res["ok"])
                tracker.drop(o)
    return res


# ------------------------------------------------------------ report

def report(a, mach, runs, msgs, dbdesc, started, elapsed):
    L = []
    w = L.append
    kinds = {}
    size = 0
    for k, m in msgs:
        kinds[k] = kinds.get(k, 0) + 1
        size += len(m)
    w("sekisho benchmark, step: gateway (bench/run.sh %sgateway)"
      % ("quick " if a.mode == "quick" else ""))
    w("date      %s   mode %s   total %.0fs" % (started, a.mode, elapsed))
    w("machine   %d CPU (%s), %.1f GiB RAM, kernel %s, Debian %s" % (
        mach["nproc"], mach["cpu"], mach["mem_gib"], mach["kernel"],
        mach["os"]))
    w("load      %s at start, %s at the end" % (mach["load_start"],
                                                mach["load_end"]))
    w("messages  %d (%.1f MB): %s" % (len(msgs), size / 1e6, ", ".join(
        "%s %d" % kv for kv in sorted(kinds.items()))))
    w("client    %d SMTP connections (Python threads), each message once, "
      "MAIL %s RCPT %s" % (a.concurrency, ENV_FROM, ENV_RCPT))
    w("AV        %s" % dbdesc)
    w("")
    sr = runs.get("sekisho") or []
    pr = runs.get("postfix") or []
    pver = next((r["version"] for r in pr if r.get("version")),
                "postfix + rspamd")
    w("gateway: client -> server (scan, AV, antispam) -> smtp-sink, "
      "127.0.0.1; %d run(s) per server, alternating" % max(len(sr), len(pr)))
    w("  sekisho: smtpd + scanner, shipped policy.ini (AV libclamav, "
      "antispam rules package; SPF/DKIM/DMARC/DNS lists off)")
    w("  postfix: %s as milter (proxy, self_scan)%s" % (
        pver, "" if a.no_clamd else ", antivirus module -> clamd"))
    w("  %-38s %14s %14s %7s" % ("", "sekisho", "postfix+rspamd", "s/p"))

    def med(rs, get):
        v = []
        for r in rs:
            try:
                x = get(r)
            except (KeyError, TypeError):
                x = None
            if x is not None:
                v.append(x)
        return statistics.median(v) if v else None

    def row(label, get, conv=lambda v: "%.1f" % v, ratio=True):
        s, p = med(sr, get), med(pr, get)
        rt = "%.2f" % (s / p) if ratio and s and p else ""
        w("  %-38s %14s %14s %7s" % (label, "-" if s is None else conv(s),
                                      "-" if p is None else conv(p), rt))

    def ms(v):
        return "%.1f" % (v * 1000)
    row("messages/s (handled / wall, median)", lambda r: r["rate"])
    row("messages per CPU second (all procs)",
        lambda r: r["msgs_per_cpu_s"])
    row("CPU seconds of the gateway", lambda r: r["cpu_s"],
        conv=lambda v: "%.2f" % v, ratio=False)
    row("wall time, s", lambda r: r["wall"], conv=lambda v: "%.2f" % v,
        ratio=False)
    row("latency EOD->sink p50, ms", lambda r: r["latency"]["p50"], conv=ms,
        ratio=False)
    row("latency EOD->sink p99, ms", lambda r: r["latency"]["p99"], conv=ms,
        ratio=False)
    row("EOD->reply p50, ms", lambda r: r["reply"]["p50"], conv=ms,
        ratio=False)
    row("EOD->reply p99, ms", lambda r: r["reply"]["p99"], conv=ms,
        ratio=False)

    def tot(rs, key):
        return str(sum(r.get(key) or 0 for r in rs)) if rs else "-"
    for label, key in (("accepted (250), all runs", "accepted"),
                       ("rejected at DATA (5xx)", "rejected"),
                       ("tempfailed (4xx)", "tempfailed"),
                       ("delivered to the sink", "at_sink"),
                       ("accepted, not delivered (held)", "not_delivered"),
                       ("duplicates at the sink", "duplicates"),
                       ("other mail at the sink (notices)", "sink_other")):
        w("  %-38s %14s %14s" % (label, tot(sr, key), tot(pr, key)))
    w("  %-38s %14s" % ("sekisho quarantine entries (all areas)",
                        tot(sr, "quarantined")))
    w("  %-38s %14s" % ("sekisho log lvl=err lines", tot(sr, "log_err_lines")))
    w("  %-38s %14s %14s" % ("scans logged by rspamd (DNS requests)", "",
                             "%s (%s)" % (tot(pr, "rspamd_scans"),
                                          tot(pr, "rspamd_dns"))))
    for name, rs in (("sekisho", sr), ("postfix", pr)):
        if len(rs) > 1:
            w("  %s runs, messages/s: %s" % (name, ", ".join(
                "%.1f" % r["rate"] if r.get("rate") else "-" for r in rs)))
    w("")
    w("per kind of message (first run): sent / delivered / rejected / held")
    for name, rs in (("sekisho", sr), ("postfix", pr)):
        if rs and rs[0].get("kinds"):
            w("  %-8s %s" % (name, "; ".join(
                "%s %d/%d/%d/%d" % (k, v["sent"], v["delivered"],
                                    v["rejected"], v["held"])
                for k, v in sorted(rs[0]["kinds"].items()))))
    w("")
    failures = []
    for name, rs in (("sekisho", sr), ("postfix", pr)):
        for i, r in enumerate(rs):
            for e in r.get("errors") or []:
                failures.append("%s #%d: %s" % (name, i + 1, e))
            for ln in r.get("log_err_sample") or []:
                L.append("  %s #%d log: %s" % (name, i + 1, ln[:240]))
            for k, t in (r.get("log_tails") or {}).items():
                L.append("  %s #%d %s log tail:" % (name, i + 1, k))
                L.extend("    " + x[:240] for x in t.splitlines())
    if failures:
        w("FAILED:")
        L.extend("  " + f for f in failures)
    else:
        w("result: all checks passed")
    return "\n".join(L) + "\n", failures


# ------------------------------------------------------------ main

def default_sink_dir():
    try:
        with open("/proc/mounts") as f:
            for ln in f:
                p = ln.split()
                if p[1] == "/dev/shm" and p[2] == "tmpfs":
                    return "/dev/shm"
    except OSError:
        pass
    return None


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--mode", choices=sorted(MODES), default="default")
    ap.add_argument("--concurrency", type=int, help="client connections")
    ap.add_argument("--repeat", type=int, help="runs per server")
    ap.add_argument("--only", choices=("sekisho", "postfix"))
    ap.add_argument("--no-clamd", action="store_true",
                    help="Postfix side without ClamAV (rspamd only)")
    ap.add_argument("--no-netns", dest="netns", action="store_false",
                    help="run rspamd on the host's loopback")
    ap.add_argument("--set", action="append", default=[],
                    metavar="FILE:SECTION:KEY=VALUE",
                    help="one more sekisho setting")
    ap.add_argument("--postconf", action="append", default=[],
                    metavar="KEY=VALUE", help="one more main.cf setting")
    ap.add_argument("--timeout", type=int, default=1800,
                    help="seconds the sender may take")
    ap.add_argument("--drain-timeout", type=int, default=600)
    ap.add_argument("--stall", type=float, default=60.0)
    ap.add_argument("--settle", type=float, default=1.0)
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
        return cleanup(a.cleanup)
    m = MODES[a.mode]
    a.n, a.extra = m["n"], m["extra"]
    if a.concurrency is None:
        a.concurrency = m["concurrency"]
    if a.repeat is None:
        a.repeat = m["repeat"]
    if a.sink_dir is None:
        a.sink_dir = default_sink_dir()
    if os.geteuid() != 0:
        log("run as root (Postfix, rspamd, the service users)")
        return 2

    def on_signal(signum, _frame):
        raise KeyboardInterrupt("signal %d" % signum)
    for sig in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, on_signal)
    benchlib.raise_nofile()
    tracker = Tracker(a.state)
    tmp = tempfile.mkdtemp(prefix="sekisho-bench-gateway.",
                           dir=os.path.realpath(a.tmpdir))
    os.chmod(tmp, 0o755)
    tmpobj = type("T", (), {"kind": "tempdir", "dir": tmp, "sid": None,
                            "proc": None})()
    tracker.add(tmpobj)
    started = datetime.datetime.now()
    t_start = time.monotonic()
    mach = benchlib.machine()
    runs = {}
    try:
        if a.only != "sekisho":
            benchlib.ensure_rspamd(a.no_install)
            if a.netns and not benchlib.netns_works():
                log("no network namespaces here: rspamd on the host's "
                    "127.0.0.1")
                a.netns = False
        import scan_bench
        dbdir, dbdesc = scan_bench.make_av_db(tmp)
        for root, dirs, fns in os.walk(dbdir):
            for n in dirs:
                os.chmod(os.path.join(root, n), 0o755)
            for n in fns:
                os.chmod(os.path.join(root, n), 0o644)
        log("antivirus database: %s" % dbdesc)
        msgs = build_messages(tmp, a)
        log("%d messages" % len(msgs))
        servers = (a.only,) if a.only else ("sekisho", "postfix")
        for i in range(a.repeat):
            order = servers if i % 2 == 0 else tuple(reversed(servers))
            for srv in order:
                r = gateway_run(srv, a, tracker, tmp, msgs, dbdir)
                runs.setdefault(srv, []).append(r)
                log("%s gateway run %d/%d: %s" % (
                    srv, i + 1, a.repeat,
                    "ok %.1f msg/s" % r["rate"] if r["ok"]
                    else "FAILED: %s" % r["errors"]))
    except (KeyboardInterrupt, BenchError, subprocess.SubprocessError) as e:
        with benchlib.signals_blocked():
            log("interrupted; tearing down" if isinstance(
                e, KeyboardInterrupt) else "setup failed: %s" % e)
            for o in list(tracker.live):
                if o is not tmpobj:
                    o.stop()
                    o.remove()
                tracker.drop(o)
            benchlib.rmtree(tmp)
        return 130 if isinstance(e, KeyboardInterrupt) else 2
    mach["load_end"] = benchlib.loadavg()
    text, failures = report(a, mach, runs, msgs, dbdesc,
                            started.strftime("%Y-%m-%d %H:%M:%S"),
                            time.monotonic() - t_start)
    with benchlib.signals_blocked():
        benchlib.rmtree(tmp)
        tracker.drop(tmpobj)
    print(text, end="")
    os.makedirs(a.results, exist_ok=True)
    out = os.path.join(a.results, "gateway-%s%s.txt" % (
        started.strftime("%Y%m%d-%H%M%S"),
        "" if a.mode == "default" else "-" + a.mode))
    raw = {"args": vars(a), "machine": mach, "av": dbdesc, "runs": runs}
    return benchlib.write_results(out, text, raw, failures)


if __name__ == "__main__":
    sys.exit(main())
