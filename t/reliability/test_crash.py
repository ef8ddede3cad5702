"""Crash test (issue 10; DESIGN.md section 4): kill -9 of any sekisho
process at any moment loses no accepted message.

One installation runs under sekisho-manager (smtpd, scanner, ipprofiler)
with a policy that gives each message one outcome by its subject:
delivered as it is, tagged and delivered, quarantined, deleted by a
rule, or bounced (the next hop, a Sink on loopback, refuses the
recipient after sekisho accepted it, so a non-delivery report goes back
to the sender's domain, also routed to the Sink).

Client threads send continuously with smtplib, each message with a
unique token (in the subject, the Message-ID, the sender and the
recipient) and remember which ones got a 250 at the end of DATA, with
the queue id.  Meanwhile a killer sends SIGKILL, at random moments, to a
random one of: the smtpd parent, its smtp, queue and mta children, the
scanner parent, a scanner worker, the IP profiler (never the manager:
it restarts them).  Errors, resets and timeouts on the client side are
expected and counted.

Then the load and the kills stop, the spool drains, and every
acknowledged message must have an outcome: it reached the Sink (by its
token; more than once is a duplicate, allowed after a crash and counted),
it is in the quarantine store, the drop rule deleted it (the rule also
archives a copy, so a deletion leaves evidence beside the tracking log),
or it bounced and its report reached the Sink.  An acknowledged message
with none of these is lost: there must be none.  The tracking log must
agree with what was observed, for every acknowledged message.

SEKISHO_RELIABILITY_SECONDS sets the seconds of load (default 20);
SEKISHO_CRASH_SEED the random seed (printed with the report) to replay
the same choices of messages and victims.  On a failure the service logs
and the tracking log are kept in a directory named in the failure.
"""

import json
import os
import random
import re
import shutil
import signal
import smtplib
import sys
import tempfile
import threading
import time
import unittest

from harness import (SuiteTestCase, envelope_unescape, proc_children,
                     wait_for)
from smtpsink import Sink

SECONDS = float(os.environ.get("SEKISHO_RELIABILITY_SECONDS") or 20)
SEED = int(os.environ.get("SEKISHO_CRASH_SEED") or
           random.SystemRandom().randrange(1 << 30))
CLIENTS = 4
KILL_EVERY = (0.3, 1.5)         # seconds between two kills
DRAIN_TIMEOUT = 120.0           # for the spool to empty at the end
# The clients pause while more than BACKLOG_HIGH messages wait in the
# spool, until fewer than BACKLOG_LOW do: the load must not outrun the
# delivery, or the end would wait for a backlog that grows with the run.
BACKLOG_HIGH, BACKLOG_LOW = 300, 150

RULES = '''
[rule "crash hold"]
direction = both
subject = pattern: HOLD-ME
intercept = quarantine held

[rule "crash drop"]
direction = both
subject = pattern: DROP-ME
intercept = delete
archive = yes

[rule "crash tag"]
direction = both
subject = pattern: TAG-ME
tag_subject = [tagged]
'''

# The kinds of message, by what the policy and the next hop do with them,
# with their share of the load.
KINDS = (("plain", 40), ("tag", 20), ("hold", 15), ("drop", 10),
         ("bounce", 15))
SUBJECT_MARK = {"plain": "PLAIN", "tag": "TAG-ME", "hold": "HOLD-ME",
                "drop": "DROP-ME", "bounce": "BOUNCE-ME"}

# The processes the killer picks from: kind -> (comm, comm of its parent);
# a parent of None is a service, a child of the manager.
VICTIMS = {
    "smtpd": ("sekisho-smtpd", None),
    "smtpd.smtp": ("smtpd.smtp", "sekisho-smtpd"),
    "smtpd.queue": ("smtpd.queue", "sekisho-smtpd"),
    "smtpd.mta": ("smtpd.mta", "sekisho-smtpd"),
    "scanner": ("sekisho-scanner", None),
    "scanner.worker": ("scanner.worker", "sekisho-scanner"),
    "ipprofiler": ("sekisho-ipprofi", None),     # comm is cut at 15
}

TOKEN_RE = re.compile(r"\b(k[0-9a-f]{6}c\d+m\d+)\b")
FINAL_EVENTS = ("delivered", "bounced", "quarantined", "deleted")


class Msg:
    """One message the load tried to send."""

    __slots__ = ("token", "kind", "sender", "rcpt", "subject", "body",
                 "acked", "qid", "reply", "error")

    def __init__(self, token, kind):
        self.token = token
        self.kind = kind
        self.sender = "%s@sender.test" % token
        self.rcpt = "%s-%s@example.com" % (
            "bounce" if kind == "bounce" else "rcpt", token)
        self.subject = "%s crash %s" % (SUBJECT_MARK[kind], token)
        self.body = None
        self.acked = False
        self.qid = None
        self.reply = None        # the final reply when not 250
        self.error = None        # what cut the transaction short


class Load:
    """CLIENTS threads that send messages until stopped, and one that
    holds them back while the spool's backlog (backlog(): the number of
    messages waiting) is high."""

    def __init__(self, port, rng_seed, runid, backlog):
        self.port = port
        self.runid = runid
        self.backlog = backlog
        self.stop = threading.Event()
        self.go = threading.Event()
        self.go.set()
        self.pauses = 0
        self.lock = threading.Lock()
        self.msgs = {}            # token -> Msg
        self.errors = {}          # what went wrong -> count
        self.rng_seed = rng_seed
        self.threads = []

    def count(self, what):
        with self.lock:
            self.errors[what] = self.errors.get(what, 0) + 1

    def start(self):
        for n in range(CLIENTS):
            t = threading.Thread(target=self.client, args=(n,),
                                 daemon=True)
            t.start()
            self.threads.append(t)
        t = threading.Thread(target=self.throttle, daemon=True)
        t.start()
        self.threads.append(t)

    def throttle(self):
        while not self.stop.wait(0.25):
            n = self.backlog()
            if n > BACKLOG_HIGH and self.go.is_set():
                self.go.clear()
                self.pauses += 1
            elif n < BACKLOG_LOW:
                self.go.set()

    def finish(self):
        self.stop.set()
        for t in self.threads:
            t.join(30)
        return not any(t.is_alive() for t in self.threads)

    def new_msg(self, rng, n, seq):
        kind = rng.choices([k for k, _ in KINDS],
                           [w for _, w in KINDS])[0]
        m = Msg("k%sc%dm%d" % (self.runid, n, seq), kind)
        # Mostly small; now and then a larger one, so that kills also
        # land in the middle of a body and of a delivery.
        lines = rng.choice((5, 20, 60)) if rng.random() < 0.9 else \
            rng.randint(1000, 3000)
        body = "".join("%s line %05d of the crash test, abcdefghijklmnop"
                       "qrstuvwxyz 0123456789\r\n" % (m.token, i)
                       for i in range(lines))
        m.body = body.encode()
        with self.lock:
            self.msgs[m.token] = m
        return m

    def content(self, m):
        return ("From: <%s>\r\nTo: <%s>\r\nSubject: %s\r\n"
                "Message-ID: <%s@crash.test>\r\n\r\n"
                % (m.sender, m.rcpt, m.subject, m.token)).encode() + m.body

    def client(self, n):
        rng = random.Random("%d-%d" % (self.rng_seed, n))
        seq = 0
        while not self.stop.is_set():
            if not self.go.wait(0.25):
                continue
            try:
                c = smtplib.SMTP("127.0.0.1", self.port, timeout=15)
                c.ehlo("crash-client-%d.test" % n)
            except (OSError, smtplib.SMTPException) as e:
                self.count("connect: %s" % type(e).__name__)
                self.stop.wait(rng.uniform(0.05, 0.2))
                continue
            try:
                for _ in range(rng.randint(1, 5)):
                    if self.stop.is_set() or not self.go.is_set():
                        c.quit()
                        break
                    seq += 1
                    if not self.transaction(c, self.new_msg(rng, n, seq)):
                        break
                else:
                    c.quit()
            except (OSError, smtplib.SMTPException):
                pass
            finally:
                c.close()

    def transaction(self, c, m):
        """Send m on c; False when the connection is no longer usable."""
        try:
            code, resp = c.mail(m.sender)
            if code == 250:
                code, resp = c.rcpt(m.rcpt)
            if code != 250:
                m.reply = "%d %s" % (code, resp.decode("utf-8", "replace"))
                self.count("refused: %d" % code)
                c.rset()
                return code < 400 or code >= 500
            code, resp = c.data(self.content(m))
        except (OSError, smtplib.SMTPException) as e:
            m.error = "%s: %s" % (type(e).__name__, e)
            self.count("%s" % type(e).__name__)
            return False
        text = resp.decode("utf-8", "replace")
        if code == 250:
            m.acked = True
            q = re.search(r"queued as ([0-9a-f]{16})", text)
            m.qid = q.group(1) if q else None
        else:
            m.reply = "%d %s" % (code, text)
            self.count("DATA %d" % code)
        return True


class Killer:
    """SIGKILL a random sekisho process (never the manager) at random
    moments until stopped."""

    def __init__(self, manager_pid, seed):
        self.manager_pid = manager_pid
        self.rng = random.Random(seed)
        self.stop = threading.Event()
        self.kills = {}           # kind -> count
        self.history = []         # (seconds since start, kind, pid)
        self.thread = None
        self.t0 = None

    def candidates(self):
        """{kind: [pid, ...]} of the live victims."""
        out = {}
        services = proc_children(self.manager_pid)
        for kind, (comm, parent) in VICTIMS.items():
            if parent is None:
                pids = services.get(comm, [])
            else:
                pids = [p for pp in services.get(parent, [])
                        for p in proc_children(pp).get(comm, [])]
            if pids:
                out[kind] = sorted(pids)
        return out

    def start(self):
        self.t0 = time.monotonic()
        self.thread = threading.Thread(target=self.run, daemon=True)
        self.thread.start()

    def finish(self):
        self.stop.set()
        self.thread.join(10)

    def run(self):
        while not self.stop.wait(self.rng.uniform(*KILL_EVERY)):
            live = self.candidates()
            if not live:
                continue
            kind = self.rng.choice(sorted(live))
            pid = self.rng.choice(live[kind])
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                continue
            self.kills[kind] = self.kills.get(kind, 0) + 1
            self.history.append((time.monotonic() - self.t0, kind, pid))


def trail(log, qids):
    """The last smtpd log lines about qids and what ended that run of
    smtpd next (a child's death): where the message's record stopped."""
    qids = [q for q in qids if q]
    last = [i for i, ln in enumerate(log) if any(q in ln for q in qids)]
    if not last:
        return "\n    smtpd log: nothing about %s" % qids
    out = [log[i] for i in last[-2:]]
    for ln in log[last[-1] + 1:]:
        if "event=child-exit" in ln and "signal=" in ln:
            out.append(ln)
            break
        if "event=start prog=sekisho-smtpd" in ln:
            out.append("(no child's death logged: the smtpd parent was "
                       "killed, the manager killed its group; next run) "
                       + ln)
            break
    return "\n    smtpd log: " + "\n    smtpd log: ".join(
        ln[:300] for ln in out)


class CrashTest(SuiteTestCase):

    def setUp(self):
        super().setUp()
        s = self.suite
        self.sink = Sink(timeout=60)
        # The recipients the next hop refuses after sekisho accepted them.
        self.sink.rcpt_reply = lambda addr, n: \
            "550 5.1.1 <%s>: no such user" % addr \
            if addr.startswith("bounce-") else None
        self.sink.start()
        self.addCleanup(self.sink.stop)
        hop = "127.0.0.1:%d" % self.sink.port
        s.set("imss.ini", "imss_manager", "services",
              "smtpd, scanner, ipprofiler")
        # Restart a killed service after 1 s, however often it died:
        # the backoff is not what this test is about.
        s.set("imss.ini", "imss_manager", "restart_backoff_max", "1")
        s.set("imss.ini", "imss_manager", "notify_interval_mins", "0")
        s.set("imss.ini", "general", "admin_email", "postmaster@admin.test")
        for dom in ("example.com", "sender.test", "admin.test"):
            s.set("tsmtpd.ini", "Routes", dom, hop)
        s.set("tsmtpd.ini", "SmtpServer", "DefaultDomain", "sender.test")
        s.set("tsmtpd.ini", "SmtpServer", "MaxConnectionsPerIP", "0")
        s.set("tsmtpd.ini", "SmtpClient", "TlsPolicy", "none")
        # A delivery cut short by a kill is retried soon.
        s.set("tsmtpd.ini", "SmtpClient", "RetryMinSeconds", "1")
        s.set("tsmtpd.ini", "SmtpClient", "RetryMaxSeconds", "2")
        s.set("policy.ini", "scan", "workers", "2")
        s.set("policy.ini", "scan", "scan_retry_seconds", "1")
        # The clients (loopback, a relay network) are asked about and
        # counted by the IP profiler, but never blocked.
        s.set("foxdns.ini", "foxdns", "profile_relay_clients", "1")
        s.set("foxdns.ini", "foxdns", "approved_ips", "127.0.0.0/8")
        s.set_rules(RULES)

    # --- what happened ----------------------------------------------------

    def ctl(self, *args, timeout=60):
        return self.suite.run("sekishoctl", "-c", self.suite.confdir, *args,
                              timeout=timeout)

    def status(self):
        r = self.ctl("--json", "status")
        if r.returncode != 0:
            return {}
        return {e["service"]: e for e in json.loads(r.stdout)}

    def backlog(self):
        """Messages waiting in spool/incoming and spool/queue."""
        return sum(n.endswith(".env") for st in ("incoming", "queue")
                   for n in self.suite.spool_files(st))

    def spool_left(self):
        s = self.suite
        return {st: [n for n in s.spool_files(st) if n.endswith(".env")]
                for st in ("tmp", "incoming", "queue", "hold", "corrupt")
                if any(n.endswith(".env") for n in s.spool_files(st))}

    def quarantine(self):
        """[(token, area, origin qid, quarantine id)] of the store."""
        d = os.path.join(self.suite.data_dir, "quarantine", "msg")
        out = []
        if not os.path.isdir(d):
            return out
        for n in sorted(os.listdir(d)):
            if not n.endswith(".info"):
                continue
            info = {}
            with open(os.path.join(d, n), encoding="utf-8") as f:
                for line in f.read().splitlines():
                    k, _, v = line.partition(" ")
                    info[k] = envelope_unescape(v)
            origin = None
            try:
                with open(os.path.join(d, n[:-5] + ".env"),
                          encoding="utf-8") as f:
                    for line in f:
                        if line.startswith("id "):
                            origin = line.split()[1]
            except FileNotFoundError:
                pass
            t = TOKEN_RE.search(info.get("subject") or "")
            out.append((t.group(1) if t else None, info.get("area"),
                        origin, n[:-5]))
        return out

    def tracking(self):
        r = self.ctl("--json", "log", "query", "--oldest", timeout=120)
        self.assertEqual(r.returncode, 0, r.stderr)
        return [json.loads(l) for l in r.stdout.splitlines() if l.strip()]

    def drain(self, t_end):
        """Wait until the services run, the spool is empty and the Sink
        has been quiet for 2 s; the services' status."""
        last = [None, 0.0]

        def drained():
            st = self.status()
            if [n for n in ("smtpd", "scanner", "ipprofiler")
                    if st.get(n, {}).get("state") != "running"]:
                return False
            if self.spool_left():
                return False
            n = len(self.sink.messages)
            now = time.monotonic()
            if n != last[0]:
                last[0], last[1] = n, now
                return False
            return now - last[1] >= 2.0 and st
        try:
            return wait_for(drained, max(10.0, t_end - time.monotonic()),
                            step=0.5, what="the spool to drain")
        except AssertionError:
            st = self.status()
            q = self.ctl("queue", "list")
            self.fail_with("not drained %.0f s after the load stopped: "
                           "services %s; left in the spool %s; "
                           "sekishoctl queue list:\n%s%s"
                           % (DRAIN_TIMEOUT,
                              {n: e.get("state") for n, e in st.items()},
                              self.spool_left(), q.stdout, q.stderr))

    def keep_logs(self, track=None):
        """Copy the service logs (and the tracking log) out of the suite,
        which close() removes; the directory."""
        keep = tempfile.mkdtemp(prefix="sekisho-crash-")
        src = os.path.join(self.suite.data_dir, "log")
        if os.path.isdir(src):
            for n in os.listdir(src):
                shutil.copy(os.path.join(src, n), keep)
        if self.suite.manager is not None:
            shutil.copy(self.suite.manager.log_path, keep)
        if track is not None:
            with open(os.path.join(keep, "track.jsonl"), "w") as f:
                for e in track:
                    f.write(json.dumps(e) + "\n")
        return keep

    def fail_with(self, text, track=None):
        keep = self.keep_logs(track)
        self.fail("%s\n(seed %d, SEKISHO_CRASH_SEED=%d to replay the "
                  "choices; logs kept in %s)" % (text, SEED, SEED, keep))

    # --- the test ---------------------------------------------------------

    def test_sigkill_under_load_loses_no_acknowledged_message(self):
        s = self.suite
        s.start_manager(service_stop_timeout=10)
        runid = "%06x" % random.Random(SEED).randrange(1 << 24)
        load = Load(s.smtp_port, SEED, runid, self.backlog)
        killer = Killer(s.manager.pid, SEED)
        t0 = time.monotonic()
        load.start()
        time.sleep(min(1.0, SECONDS / 10))   # some mail in flight first
        killer.start()
        time.sleep(max(0.0, SECONDS - (time.monotonic() - t0)))
        killer.finish()
        clients_ended = load.finish()
        t_load = time.monotonic() - t0
        self.assertTrue(clients_ended, "a client thread hangs")
        self.drain(time.monotonic() + DRAIN_TIMEOUT)
        t_drain = time.monotonic() - t0 - t_load
        track = self.tracking()
        self.check(load, killer, track, t_load, t_drain)

    def sunk(self, msgs):
        """What reached the Sink: ({token: [delivered tx]}, {token: [NDR
        tx]}, admin notices, [tx the test did not send], [(token, kind,
        data) delivered with other content than sent])."""
        delivered, ndrs, notices, foreign, bad = {}, {}, 0, [], []
        with self.sink.lock:
            sunk = list(self.sink.messages)
        for tx in sunk:
            rc = tx.rcpt_to
            if tx.mail_from == "<>" and rc == ["postmaster@admin.test"]:
                notices += 1
                continue
            t = TOKEN_RE.search(" ".join(rc))
            m = msgs.get(t.group(1)) if t else None
            if m is not None and tx.mail_from == "<>" and rc == [m.sender]:
                ndrs.setdefault(m.token, []).append(tx)
            elif m is not None and rc == [m.rcpt] and \
                    tx.mail_from == "<%s>" % m.sender:
                delivered.setdefault(m.token, []).append(tx)
                head, _, body = tx.data.partition(b"\r\n\r\n")
                want = ("\r\nSubject: %s%s\r\n" % (
                    "[tagged] " if m.kind == "tag" else "",
                    m.subject)).encode()
                if body != m.body or want not in head + b"\r\n":
                    bad.append((m.token, m.kind, tx.data[:600]))
            else:
                foreign.append(tx)
        return delivered, ndrs, notices, foreign, bad

    def check(self, load, killer, track, t_load, t_drain):
        msgs = load.msgs
        delivered, ndrs, notices, foreign, bad_data = self.sunk(msgs)
        # The quarantine store; the drop rule's archive copies are the
        # evidence, beside the tracking log, that the rule deleted one.
        quar, archived = {}, {}
        for token, area, origin, qrid in self.quarantine():
            (archived if area == "archive" else quar).setdefault(
                token, []).append((area, origin, qrid))
        # The tracking log: every recipient is unique to one message, so
        # its events (under the message's queue id or a scanned copy's)
        # are the message's.
        by_rcpt, by_qid = {}, {}
        for e in track:
            by_rcpt.setdefault((e.get("rcpt") or "").lower(), []).append(e)
            by_qid.setdefault(e["qid"], []).append(e)

        def qids(m):
            """m's queue id and those of its scanned copies."""
            return {m.qid} | {e["qid"] for e in by_rcpt.get(m.rcpt.lower(),
                                                          [])}

        def finals(m):
            return sorted({e["event"] for e in by_rcpt.get(m.rcpt.lower(), [])
                           if e["event"] in FINAL_EVENTS})

        acked = [m for m in msgs.values() if m.acked]
        stats = dict(delivered=0, duplicates=0, quarantined=0, deleted=0,
                     bounced=0, scan_failure=0)
        lost, wrong, disagree = [], [], []
        expect = {"plain": "delivered", "tag": "delivered",
                  "hold": "quarantined", "drop": "deleted",
                  "bounce": "bounced"}
        for m in sorted(acked, key=lambda m: m.token):
            fin = finals(m)
            got = []
            if m.token in delivered:
                got.append("delivered")
            if m.token in quar:
                got.append("quarantined")
            if m.token in archived or "deleted" in fin:
                got.append("deleted")
            if m.token in ndrs:
                got.append("bounced")
            if not got:
                lost.append(m)
                continue
            stats[got[0]] += 1
            if m.token in delivered:
                stats["duplicates"] += len(delivered[m.token]) - 1
            # What the policy must have done with it.  A message whose
            # scans failed too often is held in the scan-failure area:
            # an outcome for every kind.
            areas = {a for a, _, _ in quar.get(m.token, [])}
            ok = got == [expect[m.kind]] and \
                (got != ["quarantined"] or areas == {"held"})
            failed_scan = got == ["quarantined"] and \
                areas == {"scan-failure"}
            stats["scan_failure"] += failed_scan
            if not (ok or failed_scan):
                wrong.append((m, "observed %s (quarantine areas %s)"
                              % (got, sorted(areas))))
                continue
            # The tracking log says the same (once or more: at least once).
            if set(fin) != set(got):
                disagree.append((m, "observed %s, the tracking log's final "
                                 "events for %s: %s"
                                 % (got[0], m.rcpt, fin or "none")))
            elif got == ["bounced"] and not any(
                    e["event"] == "ndr_sent" for q in qids(m)
                    for e in by_qid.get(q, [])):
                disagree.append((m, "bounced, but no ndr_sent event"))
        no_qid = sum(1 for m in acked if m.qid is None)
        no_received = sum(1 for m in acked if m.qid and not any(
            e["event"] == "received" for e in by_qid.get(m.qid, [])))
        unacked_arrived = sum(
            1 for m in msgs.values() if not m.acked and
            (m.token in delivered or m.token in quar or m.token in ndrs or
             m.token in archived))
        kills = ", ".join("%s %d" % (k, killer.kills[k])
                          for k in sorted(killer.kills))
        errs = ", ".join("%s %d" % (k, v)
                         for k, v in sorted(load.errors.items()))
        report = (
            "crash test: %.0f s load + %.0f s drain, seed %d: sent %d, "
            "acknowledged %d, delivered %d (%d duplicates), quarantined %d "
            "(%d after failed scans), deleted %d, bounced %d, lost %d; "
            "tracking log disagrees %d; unacknowledged that arrived %d; "
            "duplicate NDRs %d, duplicate quarantine entries %d, admin "
            "notices %d; 250 without queue id %d, queue id without "
            "received event %d; load paused %d times for the backlog; "
            "kills (%d): %s; client errors: %s"
            % (t_load, t_drain, SEED, len(msgs), len(acked),
               stats["delivered"], stats["duplicates"], stats["quarantined"],
               stats["scan_failure"], stats["deleted"], stats["bounced"],
               len(lost), len(disagree), unacked_arrived,
               sum(len(v) - 1 for v in ndrs.values()),
               sum(len(v) - 1 for v in quar.values()), notices, no_qid,
               no_received, load.pauses, sum(killer.kills.values()),
               kills or "none",
               errs or "none"))
        print("\n" + report, file=sys.stderr, flush=True)

        def about(m):
            uniq = [(e["qid"], e["event"], e.get("rcpt"), e.get("detail"))
                    for q in sorted(qids(m)) for e in by_qid.get(q, [])]
            return ("%s kind=%s qid=%s sender=%s rcpt=%s; tracking log: %s"
                    % (m.token, m.kind, m.qid, m.sender, m.rcpt,
                       uniq or "nothing"))
        problems = []
        if lost:
            problems.append(
                "%d acknowledged message(s) LOST: gone from the spool, not "
                "at the next hop, not in the quarantine store (nor an "
                "archive copy of the drop rule), no NDR, and no deletion in "
                "the tracking log:\n  %s"
                % (len(lost), "\n  ".join(about(m) for m in lost[:20])))
        if wrong:
            problems.append("%d message(s) with an outcome their policy "
                            "does not give:\n  %s" % (len(wrong), "\n  ".join(
                                "%s: %s" % (about(m), why)
                                for m, why in wrong[:20])))
        if disagree:
            log = self.suite.service_log("smtpd").splitlines()
            problems.append("%d acknowledged message(s) where the tracking "
                            "log does not say what happened:\n  %s"
                            % (len(disagree), "\n  ".join(
                                "%s: %s%s" % (about(m), why,
                                              trail(log, qids(m)) if i < 5
                                              else "")
                                for i, (m, why) in enumerate(disagree[:20]))))
        if bad_data:
            problems.append("%d delivered message(s) differ from what was "
                            "sent:\n  %s" % (len(bad_data), "\n  ".join(
                                "%s (%s): %r" % b for b in bad_data[:5])))
        if foreign:
            problems.append("%d message(s) at the Sink that the test did "
                            "not send: %r" % (len(foreign), foreign[:5]))
        bad_bytes = [e for e in self.sink.errors
                     if "bare CR/LF" in e or "without MAIL" in e]
        if bad_bytes:
            problems.append("the Sink saw protocol errors: %r"
                            % bad_bytes[:5])
        if not killer.kills:
            problems.append("the killer killed nothing")
        if not acked:
            problems.append("no message was acknowledged")
        if problems:
            self.fail_with(report + "\n" + "\n".join(problems) +
                           "\nkills (s after the killer started, kind, "
                           "pid): %s" % ", ".join(
                               "(%.2f, %s, %d)" % k for k in killer.history),
                           track)

if __name__ == "__main__":
    unittest.main()
