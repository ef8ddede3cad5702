"""test_queue_ctl.py: the queue's control socket through sekishoctl.

sekisho-smtpd runs for real; sekishoctl talks to run_dir/queue.sock.
Messages are routed ([Routes]) to a loopback port where nobody listens,
so they stay in queue/ whether or not the mta process is wired in: with
an mta every attempt fails temporarily (attempts counted, a 4.x.x
status), without one nothing is attempted.  The tests accept both and
check the exact state where it is knowable.  docs/sekishoctl.md.
"""

import json
import os
import re
import shutil
import socket
import struct
import subprocess
import time
import unittest

from harness import (SOURCE, RawSMTP, SuiteTestCase, dot_stuff,
                     is_root, wait_for)

QID_RE = re.compile(r"^[0-9a-f]{16}$")


def imsg_types():
    """{name: value} of enum imsg_type, from common/ipc_types.h."""
    with open(os.path.join(SOURCE, "common", "ipc_types.h")) as f:
        text = f.read()
    block = text[text.index("#define IMSG_TYPES(X)"):text.index("enum imsg_type")]
    names = re.findall(r"\bX\((IMSG_[A-Z0-9_]+)\)", block)
    return {n: i + 1 for i, n in enumerate(names)}


IMSG = imsg_types()


def frame(mtype, payload=b"", peerid=0):
    """One ipc frame (common/ipc.h): u32 type, len, peerid, pid; payload."""
    return struct.pack("=IIII", mtype, len(payload), peerid,
                       os.getpid()) + payload


def p_u64(v):
    return struct.pack("=Q", v)


def p_str(s):
    b = s.encode() if isinstance(s, str) else s
    return struct.pack("=I", len(b)) + b


class RawCtl:
    """A raw connection to queue.sock, for what sekishoctl never sends."""

    def __init__(self, path, timeout=10.0):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(timeout)
        self.sock.connect(path)
        self.buf = b""

    def close(self):
        self.sock.close()

    def send(self, data):
        self.sock.sendall(data)

    def _need(self, n):
        while len(self.buf) < n:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise EOFError("closed with %r buffered" % self.buf)
            self.buf += chunk

    def recv(self):
        """(type, payload) of the next frame."""
        self._need(16)
        mtype, plen, _, _ = struct.unpack("=IIII", self.buf[:16])
        self._need(16 + plen)
        payload = self.buf[16:16 + plen]
        self.buf = self.buf[16 + plen:]
        return mtype, payload

    def closed_within(self, seconds):
        self.sock.settimeout(seconds)
        try:
            while True:
                chunk = self.sock.recv(65536)
                if not chunk:
                    return True
                self.buf += chunk
        except (socket.timeout, TimeoutError):
            return False
        except OSError:
            return True


def parse_result(payload):
    """(reqid, status, text) of an IMSG_CTL_RESULT payload."""
    reqid, status, n = struct.unpack("=QII", payload[:16])
    text = payload[16:16 + n].decode()
    assert len(payload) == 16 + n, "trailing bytes in result"
    return reqid, status, text


def list_request(reqid, state="", sender="", rcpt="", age=0):
    return frame(IMSG["IMSG_QUEUE_CTL_LIST"], p_u64(reqid) + p_str(state) +
                 p_str(sender) + p_str(rcpt) + p_u64(age))


CONTENT = b"Subject: queue control\r\n\r\nhello\r\n"


class QueueCtlCase(SuiteTestCase):
    """A daemon whose mail for example.test cannot be delivered."""

    scan = 0

    def setUp(self):
        super().setUp()
        self.suite.set("policy.ini", "scan", "enabled", str(self.scan))
        # Port 1 on loopback: nothing listens there, and no parallel
        # test can pick it (free_port hands out ephemeral ports), so every
        # attempt is refused and the mail stays queued.
        self.dead_port = 1
        self.suite.set("tsmtpd.ini", "Routes", "example.test",
                       "127.0.0.1:%d" % self.dead_port)
        self.smtpd = self.suite.start_smtpd()
        self.assertLogHas(self.smtpd, "event=queue-ctl-ready")
        self.sock_path = os.path.join(self.suite.run_dir, "queue.sock")

    def ctl(self, *args, prefix=(), confdir=None):
        """Run sekishoctl -c CONFDIR args...; CompletedProcess (text)."""
        argv = list(prefix) + [self.suite.bin("sekishoctl"), "-c",
                               confdir or self.suite.confdir] + list(args)
        return subprocess.run(argv, capture_output=True, text=True,
                              timeout=60)

    def ok(self, *args):
        r = self.ctl(*args)
        self.assertEqual(r.returncode, 0, "sekishoctl %s: %s%s"
                         % (" ".join(args), r.stdout, r.stderr))
        return r

    def act(self, *args):
        """An action that may meet a delivery attempt in flight (with an
        mta): the queue then refuses for a moment; try again."""
        deadline = time.monotonic() + 10
        while True:
            r = self.ctl(*args)
            if r.returncode != 1 or "in progress" not in r.stderr or \
                    time.monotonic() > deadline:
                break
            time.sleep(0.1)
        self.assertEqual(r.returncode, 0, "sekishoctl %s: %s%s"
                         % (" ".join(args), r.stdout, r.stderr))
        return r

    def fails(self, code, *args):
        deadline = time.monotonic() + 10
        while True:
            r = self.ctl(*args)
            if "in progress" not in r.stderr or time.monotonic() > deadline:
                break
            time.sleep(0.1)
        self.assertEqual(r.returncode, code, "sekishoctl %s: exit %d, want "
                         "%d: %s%s" % (" ".join(args), r.returncode, code,
                                       r.stdout, r.stderr))
        return r

    def jlist(self, *filters):
        r = self.ok("--json", "queue", "list", *filters)
        out = json.loads(r.stdout)
        self.assertIsInstance(out, list)
        return out

    def qids(self, *filters):
        return [e["qid"] for e in self.jlist(*filters)]

    def jshow(self, qid):
        return json.loads(self.ok("--json", "queue", "show", qid).stdout)

    def send_many(self, msgs):
        """Send [(sender, [rcpts])] in one session; their queue ids."""
        out = []
        with RawSMTP(self.suite.smtp_port) as c:
            c.ehlo()
            for sender, rcpts in msgs:
                r = c.send_mail(sender, rcpts, dot_stuff(CONTENT), ehlo=False)
                self.assertTrue(r.qid(), "not queued: %s" % r)
                out.append(r.qid())
            c.cmd("QUIT")
        return out

    def spool_state(self, qid):
        """The spool directory whose envelope names qid, or None."""
        for st in ("incoming", "queue", "hold", "corrupt"):
            if os.path.exists(self.suite.spool(st, qid + ".env")):
                return st
        return None

    def assertRcptState(self, r, flushed=False):
        """A recipient that cannot be delivered: pending, and either never
        tried (no mta) or deferred with a temporary failure, with its next
        try to come (right after a flush, it may be due now: 0)."""
        self.assertEqual(r["state"], "pending")
        self.assertIsInstance(r["attempts"], int)
        if r["attempts"] == 0:
            self.assertIsNone(r["dsn"])
        else:
            self.assertRegex(r["dsn"], r"^4\.\d+\.\d+$")
            if flushed:
                self.assertGreaterEqual(r["next"], 0)
            else:
                self.assertGreater(r["next"], 0)


class TestQueueCtlList(QueueCtlCase):

    def test_list_all_human_and_json(self):
        t0 = int(time.time())
        q = self.send_many([("alice@example.org", ["bob@example.test"]),
                            ("Carol@Example.org", ["dave@example.test",
                                                   "erin@example.test"]),
                            ("", ["frank@example.test"])])
        t1 = int(time.time())
        r = self.ok("queue", "list")
        lines = r.stdout.splitlines()
        self.assertTrue(lines[0].startswith("QUEUE ID"), r.stdout)
        self.assertEqual(lines[-1], "3 messages")
        rows = {ln.split()[0]: ln.split() for ln in lines[1:-1]}
        self.assertEqual(sorted(rows), sorted(q))
        self.assertEqual(rows[q[0]][1], "queue")
        self.assertEqual(rows[q[0]][4], "alice@example.org")
        self.assertEqual(rows[q[1]][5], "2")
        self.assertEqual(rows[q[1]][6], "dave@example.test")
        self.assertEqual(rows[q[2]][4], "<>")

        entries = self.jlist()
        self.assertEqual([e["qid"] for e in entries], sorted(q),
                         "a listing is in queue-id (arrival) order")
        by = {e["qid"]: e for e in entries}
        e = by[q[1]]
        self.assertEqual(e["state"], "queue")
        self.assertEqual(e["sender"], "Carol@example.org",
                         "the canonical sender (domain lower-cased)")
        self.assertEqual(e["helo"], "client.example")
        self.assertEqual(e["client_ip"], "127.0.0.1")
        self.assertIsNone(e["tls"])
        self.assertEqual(e["nrcpt"], 2)
        self.assertFalse(e["truncated"])
        self.assertTrue(t0 <= e["received"] <= t1 + 1)
        self.assertGreaterEqual(e["age"], 0)
        env_path = self.suite.spool("queue", q[1] + ".msg")
        self.assertEqual(e["size"], os.path.getsize(env_path))
        self.assertEqual([x["address"] for x in e["recipients"]],
                         ["dave@example.test", "erin@example.test"])
        for x in e["recipients"]:
            self.assertRcptState(x)
        self.assertIsNone(by[q[2]]["sender"], "null sender is JSON null")

    def test_list_empty(self):
        r = self.ok("queue", "list")
        self.assertEqual(r.stdout, "0 messages\n")
        self.assertEqual(self.jlist(), [])

    def test_list_filters(self):
        q = self.send_many([("alice@example.org", ["bob@example.test"]),
                            ("Carol@Example.org", ["dave@example.test"]),
                            ("", ["Bob.Two@Example.test"])])
        self.act("queue", "hold", q[1])
        self.assertEqual(self.qids("--state", "hold"), [q[1]])
        self.assertEqual(self.qids("--state", "queue"), [q[0], q[2]])
        self.assertEqual(self.qids("--state", "incoming"), [])
        # Substrings, case-insensitive; "<>" is the null sender.
        self.assertEqual(self.qids("--from", "CAROL"), [q[1]])
        self.assertEqual(self.qids("--from", "example.org"), [q[0], q[1]])
        self.assertEqual(self.qids("--from", "<>"), [q[2]])
        self.assertEqual(self.qids("--to", "bob"), [q[0], q[2]])
        self.assertEqual(self.qids("--to", "bob", "--from", "alice"), [q[0]])
        self.assertEqual(self.qids("--to", "nobody"), [])
        self.assertEqual(self.qids("--to", "bob", "--state", "hold"), [])
        r = self.ok("queue", "list", "--to", "nobody")
        self.assertEqual(r.stdout, "0 messages\n")

    def test_list_older(self):
        old = self.send_many([("old@example.org", ["x@example.test"])])[0]
        time.sleep(3)
        new = self.send_many([("new@example.org", ["x@example.test"])])[0]
        ages = {e["qid"]: e["age"] for e in self.jlist()}
        self.assertGreaterEqual(ages[old], 3)
        self.assertLess(ages[new], ages[old])
        self.assertEqual(self.qids("--older", str(ages[old])), [old])
        self.assertEqual(self.qids("--older", "0"), [old, new])
        self.assertEqual(self.qids("--older", "100000"), [])

    def test_list_streams_many(self):
        """More messages than one batch (256): every one exactly once, in
        order, with the count in the result."""
        n = 300
        q = self.send_many([("s%d@example.org" % i, ["r%d@example.test" % i])
                            for i in range(n)])
        got = self.qids()
        self.assertEqual(got, sorted(q))
        r = self.ok("queue", "list")
        self.assertEqual(r.stdout.splitlines()[-1], "%d messages" % n)
        self.assertEqual(len(r.stdout.splitlines()), n + 2)
        self.assertEqual(self.qids("--to", "R29"), sorted(
            q[i] for i in range(n) if "r29" in "r%d@" % i))


    def test_list_slow_reader(self):
        """A client that does not read stalls only its own stream: the
        queue pauses (no output-queue overflow, no drop) and resumes."""
        rcpts = ["recipient-number-%03d-with-a-long-local-part@example.test"
                 % i for i in range(100)]
        q = self.send_many([("s%d@example.org" % i, rcpts)
                            for i in range(80)])
        c = RawCtl(self.sock_path, timeout=30)
        self.addCleanup(c.close)
        c.send(list_request(9))
        time.sleep(1.5)
        # Meanwhile the daemon serves others.
        self.assertEqual(len(self.qids()), 80)
        got = []
        while True:
            mtype, payload = c.recv()
            if mtype == IMSG["IMSG_CTL_RESULT"]:
                break
            self.assertEqual(mtype, IMSG["IMSG_QUEUE_CTL_ENTRY"])
            reqid, n = struct.unpack("=QI", payload[:12])
            self.assertEqual(reqid, 9)
            e = json.loads(payload[12:12 + n])
            self.assertEqual(len(e["recipients"]), 100)
            got.append(e["qid"])
        self.assertEqual(parse_result(payload), (9, 0, "80 messages"))
        self.assertEqual(got, sorted(q))
        self.assertNotIn("event=queue-ctl-drop", self.smtpd.log())


class TestQueueCtlShowAndActions(QueueCtlCase):

    def test_show_fields(self):
        qid = self.send_many([("alice@example.org", ["bob@example.test",
                                                     "carl@example.test"])])[0]
        e = self.jshow(qid)
        self.assertEqual(e["qid"], qid)
        self.assertEqual(e["state"], "queue")
        self.assertEqual(e["sender"], "alice@example.org")
        self.assertEqual(e["nrcpt"], 2)
        for x in e["recipients"]:
            self.assertRcptState(x)
        env = {}
        with open(self.suite.spool("queue", qid + ".env")) as f:
            for ln in f.read().splitlines():
                k, _, v = ln.partition(" ")
                if k in ("received", "size"):
                    env[k] = v
        self.assertEqual(e["received"], int(env["received"]))
        self.assertEqual(e["size"], int(env["size"]))
        r = self.ok("queue", "show", qid)
        self.assertIn("Queue ID:    %s\n" % qid, r.stdout)
        self.assertIn("State:       queue\n", r.stdout)
        self.assertIn("Sender:      alice@example.org\n", r.stdout)
        self.assertIn("HELO:        client.example\n", r.stdout)
        self.assertIn("Client:      127.0.0.1\n", r.stdout)
        self.assertIn("Recipients:  2\n", r.stdout)
        self.assertIn("  bob@example.test\n", r.stdout)
        self.assertIn("  carl@example.test\n", r.stdout)
        self.assertRegex(r.stdout, r"Size:\s+%s bytes" % env["size"])

    def test_deferred_attempts_and_flush(self):
        """With the mta wired in: a refused connection is recorded per
        recipient, and flush retries at once."""
        if "smtpd.mta" not in self.suite.smtpd_children():
            self.skipTest("no mta process in this build")
        qid = self.send_many([("a@example.org", ["b@example.test"])])[0]

        def attempts(n):
            r = self.jshow(qid)["recipients"][0]
            return r if r["attempts"] >= n else None
        r = wait_for(lambda: attempts(1), 10, what="first attempt")
        self.assertEqual(r["state"], "pending")
        self.assertRegex(r["dsn"], r"^4\.\d+\.\d+$")
        self.assertIn("127.0.0.1", r["remote"])
        self.assertIn(str(self.dead_port), r["remote"])
        self.assertTrue(r["reply"])
        self.assertGreater(r["next"], time.time())
        out = self.ok("queue", "show", qid).stdout
        self.assertIn("state pending, attempts 1, next attempt ", out)
        self.assertIn("dsn %s\n" % r["dsn"], out)
        row = [ln for ln in self.ok("queue", "list").stdout.splitlines()
               if ln.startswith(qid)][0]
        self.assertEqual(row.split()[-1], r["dsn"])
        self.ok("queue", "flush", qid)
        wait_for(lambda: attempts(2), 10, what="attempt after flush")
        self.assertEqual(self.spool_state(qid), "queue")

    def test_not_found_and_bad_ids(self):
        missing = "0123456789abcdef"
        for cmd in ("show", "hold", "release", "delete", "flush"):
            r = self.fails(1, "queue", cmd, missing)
            self.assertIn("%s: no such message" % missing, r.stderr)
            self.assertEqual(r.stdout, "")
        r = self.fails(1, "--json", "queue", "hold", missing)
        self.assertEqual(json.loads(r.stdout)["ok"], False)
        for bad in ("xyz", "0123456789ABCDEF", "0123456789abcdef0", "../x"):
            r = self.fails(2, "queue", "show", bad)
            self.assertIn("not a queue id", r.stderr)

    def test_hold_release(self):
        qid, other = self.send_many([("a@example.org", ["b@example.test"]),
                                     ("a@example.org", ["c@example.test"])])
        r = self.act("queue", "hold", qid)
        self.assertEqual(r.stdout, "%s: held\n" % qid)
        self.assertEqual(self.jshow(qid)["state"], "hold")
        self.assertEqual(self.spool_state(qid), "hold")
        self.assertEqual(self.jshow(other)["state"], "queue")
        self.assertLogHas(self.smtpd, "event=held qid=%s" % qid)
        # Holding again is harmless.
        self.act("queue", "hold", qid)
        r = self.act("--json", "queue", "release", qid)
        self.assertEqual(json.loads(r.stdout), {
            "ok": True, "command": "release", "qid": qid,
            "result": "%s: released" % qid})
        self.assertEqual(self.jshow(qid)["state"], "queue")
        self.assertEqual(self.spool_state(qid), "queue")
        r = self.fails(1, "queue", "release", qid)
        self.assertIn("not held", r.stderr)

    def test_delete(self):
        qid, keep = self.send_many([("a@example.org", ["b@example.test"]),
                                    ("a@example.org", ["c@example.test"])])
        r = self.act("queue", "delete", qid)
        self.assertEqual(r.stdout, "%s: deleted\n" % qid)
        self.assertIsNone(self.spool_state(qid))
        self.assertFalse(os.path.exists(self.suite.spool("queue",
                                                         qid + ".msg")))
        self.assertEqual(self.qids(), [keep])
        self.assertLogHas(self.smtpd, "event=deleted qid=%s" % qid)
        self.fails(1, "queue", "delete", qid)
        # A held message can be deleted too.
        self.act("queue", "hold", keep)
        self.act("queue", "delete", keep)
        self.assertEqual(self.qids(), [])
        self.assertEqual(self.suite.spool_files("hold"), [])

    def test_flush(self):
        qid = self.send_many([("a@example.org", ["b@example.test"])])[0]
        r = self.ok("queue", "flush")
        self.assertEqual(r.stdout, "every message: flushed\n")
        self.assertLogHas(self.smtpd, "event=flush qid=all")
        r = self.ok("queue", "flush", qid)
        self.assertEqual(r.stdout, "%s: flushed\n" % qid)
        self.assertLogHas(self.smtpd, "event=flush qid=%s" % qid)
        # After a flush every pending recipient is due now (or being
        # tried again): next is 0 or a new backoff after a fresh attempt.
        for x in self.jshow(qid)["recipients"]:
            self.assertRcptState(x, flushed=True)
        self.assertEqual(self.spool_state(qid), "queue")
        r = self.ok("--json", "queue", "flush")
        self.assertTrue(json.loads(r.stdout)["ok"])


class TestQueueCtlIncoming(QueueCtlCase):
    """[scan] enabled=1: messages wait in incoming/ for the scanner."""

    scan = 1

    def test_incoming_listed_shown_deleted(self):
        q = self.send_many([("a@example.org", ["b@example.test"]),
                            ("z@example.org", ["y@example.test"])])
        self.assertEqual(self.spool_state(q[0]), "incoming")
        entries = self.jlist()
        self.assertEqual([e["qid"] for e in entries], q)
        self.assertEqual({e["state"] for e in entries}, {"incoming"})
        self.assertEqual(entries[0]["recipients"][0]["state"], "pending")
        self.assertEqual(entries[0]["recipients"][0]["attempts"], 0)
        self.assertEqual(self.qids("--state", "incoming", "--from", "Z@"),
                         [q[1]])
        self.assertEqual(self.qids("--state", "queue"), [])
        r = self.ok("queue", "list")
        self.assertRegex(r.stdout, r"(?m)^%s  incoming " % q[0])
        e = self.jshow(q[1])
        self.assertEqual((e["state"], e["sender"]), ("incoming",
                                                     "z@example.org"))
        # Only delete applies to a message waiting for the scanner.
        for cmd in ("hold", "release", "flush"):
            r = self.fails(1, "queue", cmd, q[0])
            self.assertIn("incoming", r.stderr)
        r = self.act("queue", "delete", q[0])
        self.assertEqual(r.stdout, "%s: deleted\n" % q[0])
        self.assertIsNone(self.spool_state(q[0]))
        self.assertEqual(self.suite.spool_files("incoming"),
                         [q[1] + ".env", q[1] + ".msg"])
        self.assertLogHas(self.smtpd, "event=deleted qid=%s state=incoming "
                          "by=admin" % q[0])
        self.assertEqual(self.qids(), [q[1]])
        self.fails(1, "queue", "show", q[0])

    def test_merged_with_queue_across_batches(self):
        """queue/ (scheduler) and incoming/ (disk) merged in id order over
        several batches."""
        self.suite.stop_smtpd()
        self.suite.set("policy.ini", "scan", "enabled", "0")
        self.smtpd = self.suite.start_smtpd()
        early = self.send_many([("q%d@example.org" % i, ["r@example.test"])
                                for i in range(200)])
        self.suite.stop_smtpd()
        self.suite.set("policy.ini", "scan", "enabled", "1")
        self.smtpd = self.suite.start_smtpd()
        self.assertLogHas(self.smtpd, "event=queue-ctl-ready")
        late = self.send_many([("i%d@example.org" % i, ["r@example.test"])
                               for i in range(200)])
        entries = self.jlist()
        self.assertEqual([e["qid"] for e in entries], sorted(early + late))
        self.assertEqual([e["state"] for e in entries],
                         ["queue"] * 200 + ["incoming"] * 200)
        self.assertEqual(self.qids("--state", "incoming"), late)
        self.assertEqual(self.qids("--state", "queue"), early)
        self.assertEqual(self.qids("--from", "i1"), sorted(
            late[i] for i in range(200) if str(i).startswith("1")))


class TestQueueCtlSecurity(QueueCtlCase):

    def test_socket_owner_and_mode(self):
        st = os.stat(self.sock_path)
        self.assertEqual(st.st_mode & 0o777, 0o600)
        if is_root():
            import pwd
            self.assertEqual(st.st_uid, pwd.getpwnam("_sekisho-queue").pw_uid)

    @unittest.skipUnless(is_root() and shutil.which("setpriv"),
                         "needs root and setpriv")
    def test_non_root_refused(self):
        qid = self.send_many([("a@example.org", ["b@example.test"])])[0]
        nobody = ["setpriv", "--reuid=65534", "--regid=65534",
                  "--clear-groups"]
        # The file mode keeps others out ...
        r = self.ctl("queue", "list", prefix=nobody)
        self.assertEqual(r.returncode, 1, r.stderr)
        self.assertIn("cannot connect to %s: Permission denied"
                      % self.sock_path, r.stderr)
        # ... and a process that gets past it (CAP_DAC_OVERRIDE) is still
        # refused on its credentials.
        r = self.ctl("queue", "delete", qid, prefix=nobody + [
            "--inh-caps=+dac_override", "--ambient-caps=+dac_override"])
        self.assertEqual(r.returncode, 1, r.stderr)
        self.assertIn("permission denied: uid 65534", r.stderr)
        self.assertLogHas(self.smtpd, "event=queue-ctl-refused uid=65534")
        self.assertEqual(self.qids(), [qid], "nothing was deleted")

    def test_garbage_drops_only_that_client(self):
        qid = self.send_many([("a@example.org", ["b@example.test"])])[0]
        keep = RawCtl(self.sock_path)
        self.addCleanup(keep.close)
        cases = [
            b"\xff" * 64,                                   # unknown type
            frame(IMSG["IMSG_QUEUE_CTL_LIST"], b"\x01\x02"),  # short
            frame(IMSG["IMSG_QUEUE_CTL_SHOW"], p_u64(5) + p_str(qid) +
                  b"x"),                                    # trailing byte
            frame(IMSG["IMSG_CTL_RESULT"], p_u64(1) + struct.pack("=I", 0) +
                  p_str("")),                               # wrong direction
            struct.pack("=IIII", IMSG["IMSG_QUEUE_CTL_SHOW"], 1 << 30, 0,
                        0),                                 # oversized
        ]
        for garbage in cases:
            bad = RawCtl(self.sock_path)
            self.addCleanup(bad.close)
            bad.send(garbage)
            self.assertTrue(bad.closed_within(5.0),
                            "client not dropped after %r" % garbage[:32])
        self.assertLogHas(self.smtpd, "event=queue-ctl-drop")
        self.assertTrue(self.smtpd.running())
        # The client that behaved is still served, on the same connection.
        keep.send(list_request(77))
        mtype, payload = keep.recv()
        self.assertEqual(mtype, IMSG["IMSG_QUEUE_CTL_ENTRY"])
        self.assertEqual(struct.unpack("=Q", payload[:8])[0], 77)
        mtype, payload = keep.recv()
        self.assertEqual(mtype, IMSG["IMSG_CTL_RESULT"])
        self.assertEqual(parse_result(payload), (77, 0, "1 message"))
        # A bad state is a bad request (status 2), not a dropped client.
        keep.send(list_request(78, state="corrupt"))
        reqid, status, text = parse_result(keep.recv()[1])
        self.assertEqual((reqid, status), (78, 2), text)
        keep.send(frame(IMSG["IMSG_QUEUE_CTL_HOLD"], p_u64(79) +
                        p_str("nothex")))
        self.assertEqual(parse_result(keep.recv()[1])[:2], (79, 2))
        self.assertEqual(self.qids(), [qid])

    def test_client_limit(self):
        conns = []
        for _ in range(16):
            c = RawCtl(self.sock_path)
            self.addCleanup(c.close)
            conns.append(c)
        extra = RawCtl(self.sock_path)
        self.addCleanup(extra.close)
        mtype, payload = extra.recv()
        self.assertEqual(mtype, IMSG["IMSG_CTL_RESULT"])
        reqid, status, text = parse_result(payload)
        self.assertEqual((reqid, status), (0, 1))
        self.assertIn("too many", text)
        for c in conns:
            c.close()
        wait_for(lambda: self.ctl("queue", "list").returncode == 0, 10.0,
                 what="served again once clients left")


class TestQueueCtlCli(SuiteTestCase):
    """sekishoctl without a daemon, and its usage errors."""

    def ctl(self, *args):
        return subprocess.run([self.suite.bin("sekishoctl"), "-c",
                               self.suite.confdir] + list(args),
                              capture_output=True, text=True, timeout=30)

    def test_daemon_not_running(self):
        r = self.ctl("queue", "list")
        self.assertEqual(r.returncode, 1)
        self.assertIn("cannot connect to %s"
                      % os.path.join(self.suite.run_dir, "queue.sock"),
                      r.stderr)
        self.assertIn("is sekisho-smtpd running?", r.stderr)
        self.assertEqual(r.stdout, "")

    def test_usage(self):
        for args in (["queue"], ["queue", "bogus"], ["queue", "show"],
                     ["queue", "hold"], ["queue", "show", "a", "b"],
                     ["queue", "list", "--state"],
                     ["queue", "list", "--state", "corrupt"],
                     ["queue", "list", "--older", "-1"],
                     ["queue", "list", "--older", "soon"],
                     ["queue", "list", "--bogus", "x"],
                     ["queue", "flush", "0123456789abcdef", "x"],
                     ["queue", "show", "nothex"]):
            r = self.ctl(*args)
            self.assertEqual(r.returncode, 2, "%s: %s" % (args, r.stderr))
            self.assertEqual(r.stdout, "")


if __name__ == "__main__":
    unittest.main()
