"""sekisho-ipprofiler as a daemon (issue 8; docs/ipprofiler.md): blocks
set, listed, explained and removed with sekishoctl; bad arguments; blocks
that survive a restart while expired ones do not come back; temporary
blocks that expire on time without a restart (seed 1); reloads in the
process that leave nothing behind (seed 8) and keep the running
configuration when the new one is invalid; -n pointing at the bad rule;
the queue's protocol spoken directly, including hostile requests.

Rule-driven blocking through sekisho-smtpd is test_ipp_smtpd.py's; the
rule arithmetic is t/unit/test_ipprules.c's.  One test waits for a real
one-minute expiry (about 70 s); the rest take seconds.
"""

import json
import os
import pwd
import re
import signal
import socket
import stat
import struct
import time
import unittest
from datetime import datetime, timezone

from harness import (BIN, SOURCE, SuiteTestCase, free_port, is_root,
                     proc_children, proc_status, wait_for)


def imsg_types():
    """{name: value} of the message types (common/ipc_types.h order)."""
    with open(os.path.join(SOURCE, "common", "ipc_types.h")) as f:
        names = re.findall(r"\bX\((IMSG_\w+)\)", f.read())
    return {n: i + 1 for i, n in enumerate(names)}


IMSG = imsg_types()
NCOUNTERS = 9           # enum ipp_counter (common/ipp_proto.h)
RCPTS, UNKNOWN = 2, 3   # IPP_C_RCPTS, IPP_C_UNKNOWN


def u64(v):
    return struct.pack("=Q", v)


def u32(v):
    return struct.pack("=I", v)


def string(s):
    b = s.encode() if isinstance(s, str) else s
    return u32(len(b)) + b


class Peer:
    """A raw client of ipprofiler.sock, speaking the framing of
    common/ipc.h (type, length, peer id, pid; host byte order)."""

    def __init__(self, path):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(5)
        self.sock.connect(path)

    def close(self):
        self.sock.close()

    def send(self, type_name, payload):
        self.sock.sendall(struct.pack("=IIII", IMSG[type_name],
                                      len(payload), 0, os.getpid())
                          + payload)

    def _read(self, n):
        b = b""
        while len(b) < n:
            chunk = self.sock.recv(n - len(b))
            if not chunk:
                raise EOFError("closed")
            b += chunk
        return b

    def recv(self):
        """(type value, payload)."""
        t, n, _, _ = struct.unpack("=IIII", self._read(16))
        return t, self._read(n)

    def closed(self):
        """Whether the daemon closed the connection (EOF within 5 s)."""
        try:
            return self.sock.recv(1) == b""
        except (ConnectionResetError, socket.timeout):
            return False

    def check(self, ip, reqid=7):
        """IMSG_IPP_CHECK: (state, expires, reason) of the verdict."""
        self.send("IMSG_IPP_CHECK", u64(reqid) + string(ip))
        t, p = self.recv()
        assert t == IMSG["IMSG_IPP_VERDICT"], t
        rid, state, expires = struct.unpack("=QBQ", p[:17])
        assert rid == reqid
        n, = struct.unpack("=I", p[17:21])
        return state, expires, p[21:21 + n].decode()

    def event(self, ip, counters):
        """IMSG_IPP_EVENT: counters is {index: value}."""
        c = b"".join(u32(counters.get(i, 0)) for i in range(NCOUNTERS))
        self.send("IMSG_IPP_EVENT", string(ip) + u32(NCOUNTERS) + c)

    def result(self):
        """The IMSG_CTL_RESULT of a control request: (status, text)."""
        t, p = self.recv()
        assert t == IMSG["IMSG_CTL_RESULT"], t
        status, = struct.unpack("=I", p[8:12])
        n, = struct.unpack("=I", p[12:16])
        return status, p[16:16 + n].decode()


CLEAN, APPROVED, TEMP, PERM = range(4)


def dns_query(port, name, qtype):
    """One UDP query to 127.0.0.1:port: (rcode, TXT strings of the
    answer; [] for other types)."""
    qid = int(time.time() * 1000) & 0xffff
    q = struct.pack(">HHHHHH", qid, 0x0100, 1, 0, 0, 0)
    for label in name.split("."):
        q += bytes([len(label)]) + label.encode()
    q += b"\0" + struct.pack(">HH", qtype, 1)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as u:
        u.settimeout(2)
        u.sendto(q, ("127.0.0.1", port))
        a = u.recv(4096)
    rid, flags, _, ancount, _, _ = struct.unpack(">HHHHHH", a[:12])
    assert rid == qid
    texts = []
    off = skip_name(a, 12) + 4          # the question
    for _ in range(ancount):
        off = skip_name(a, off)
        rtype, _, _, rdlen = struct.unpack(">HHIH", a[off:off + 10])
        off += 10
        if rtype == 16:
            texts.append(a[off + 1:off + 1 + a[off]])
        off += rdlen
    return flags & 0xf, texts


def skip_name(a, off):
    """The offset after the (possibly compressed) name at off."""
    while a[off] != 0:
        if a[off] & 0xc0 == 0xc0:
            return off + 2
        off += 1 + a[off]
    return off + 1


def iso_time(s):
    return datetime.strptime(s, "%Y-%m-%dT%H:%M:%SZ").replace(
        tzinfo=timezone.utc).timestamp()


class IpProfilerCase(SuiteTestCase):

    def start(self, **foxdns):
        return self.suite.start_ipprofiler(**foxdns)

    def ctl(self, *args):
        """sekishoctl with the suite's configuration."""
        return self.suite.run("sekishoctl", "-c", self.suite.confdir,
                              *args)

    def ok(self, *args):
        r = self.ctl(*args)
        self.assertEqual(r.returncode, 0, "%s: %s%s" % (args, r.stdout,
                                                        r.stderr))
        return r.stdout

    def blocks(self, *filt):
        """The listing as {address: entry}."""
        out = json.loads(self.ok("--json", "ipprofiler", "list", *filt))
        return {e["address"]: e for e in out}

    def explain(self, ip):
        return json.loads(self.ok("--json", "ipprofiler", "explain", ip))

    def peer(self):
        p = Peer(os.path.join(self.suite.run_dir, "ipprofiler.sock"))
        self.addCleanup(p.close)
        return p

    # --- privilege separation ---------------------------------------------

    @unittest.skipUnless(is_root(), "needs root")
    def test_runs_as_its_own_user_with_no_new_privs(self):
        try:
            pw = pwd.getpwnam("_sekisho-ipp")
            queue = pwd.getpwnam("_sekisho-queue")
        except KeyError:
            self.skipTest("system users missing (run the install step)")
        d = self.start(dns_port=free_port())
        st = proc_status(d.pid)
        self.assertEqual(st["Uid"].split(), [str(pw.pw_uid)] * 4)
        self.assertEqual(st["Gid"].split(), [str(pw.pw_gid)] * 4)
        self.assertEqual(st["NoNewPrivs"], "1")
        self.assertEqual(int(st["CapEff"], 16), 0, "no capabilities left")
        # The store is the profiler's alone; the socket lets the queue in.
        store = os.path.join(self.suite.data_dir, "ipprofiler")
        sst = os.stat(store)
        self.assertEqual((sst.st_uid, stat.S_IMODE(sst.st_mode)),
                         (pw.pw_uid, 0o700))
        sock = os.stat(os.path.join(self.suite.run_dir, "ipprofiler.sock"))
        self.assertEqual((sock.st_uid, sock.st_gid,
                          stat.S_IMODE(sock.st_mode)),
                         (pw.pw_uid, queue.pw_gid, 0o660))
        self.assertEqual(proc_children(d.pid), {}, "no helper processes")

    # --- control commands -------------------------------------------------

    def test_block_list_explain_unblock(self):
        d = self.start()
        self.assertIn("0 blocks", self.ok("ipprofiler", "list"))
        self.assertEqual(self.blocks(), {})
        before = time.time()
        out = self.ok("ipprofiler", "block", "192.0.2.7", "--reason",
                      "seen in a test")
        self.assertIn("192.0.2.7 blocked until", out)
        self.ok("ipprofiler", "block", "198.51.100.0/24", "--perm")
        self.ok("ipprofiler", "block", "2001:db8::/32", "--minutes", "5")
        b = self.blocks()
        self.assertEqual(sorted(b), ["192.0.2.7", "198.51.100.0/24",
                                     "2001:db8::/32"])
        e = b["192.0.2.7"]
        self.assertEqual((e["state"], e["kind"], e["reason"]),
                         ("temporary", "admin", "seen in a test"))
        # keep_tempblocked_mins (60 by default) from now.
        self.assertAlmostEqual(iso_time(e["expires"]), before + 3600,
                               delta=3)
        self.assertAlmostEqual(iso_time(e["created"]), before, delta=3)
        e = b["198.51.100.0/24"]
        self.assertEqual((e["state"], e["expires"], e["reason"]),
                         ("permanent", None, "blocked by the administrator"))
        self.assertAlmostEqual(iso_time(b["2001:db8::/32"]["expires"]),
                               before + 300, delta=3)
        # The table.
        table = self.ok("ipprofiler", "list")
        self.assertRegex(table, r"ADDRESS +STATE +KIND +EXPIRES +REASON")
        self.assertRegex(table, r"198\.51\.100\.0/24 +permanent +admin +"
                         r"never +blocked by the administrator")
        self.assertIn("3 blocks", table)
        # A filter: what contains an address, what overlaps a network.
        self.assertEqual(sorted(self.blocks("198.51.100.9")),
                         ["198.51.100.0/24"])
        self.assertEqual(sorted(self.blocks("2001:db8:1::/48")),
                         ["2001:db8::/32"])
        self.assertEqual(self.blocks("203.0.113.1"), {})
        # Explain: the verdict of a network's member.
        x = self.explain("198.51.100.9")
        self.assertEqual((x["state"], x["reason"], x["expires"]),
                         ("permanent", "blocked by the administrator", None))
        self.assertEqual(len(x["rules"]), 4)
        self.assertEqual({r["kind"] for r in x["rules"]},
                         {"spam", "virus", "dha", "bounce"})
        self.assertEqual(self.explain("2001:db8::42")["state"], "temporary")
        self.assertEqual(self.explain("192.0.2.8")["state"], "clean")
        human = self.ok("ipprofiler", "explain", "192.0.2.7")
        self.assertIn("temporary until", human)
        self.assertIn("seen in a test", human)
        # Unblock: gone from the verdict and the listing, logged.
        self.assertIn("192.0.2.7 unblocked",
                      self.ok("ipprofiler", "unblock", "192.0.2.7"))
        self.assertEqual(self.explain("192.0.2.7")["state"], "clean")
        self.assertNotIn("192.0.2.7", self.blocks())
        r = self.ctl("ipprofiler", "unblock", "192.0.2.7")
        self.assertEqual(r.returncode, 1)
        self.assertIn("no such block", r.stderr)
        # Unblock is by exact network; a member is not a block.
        r = self.ctl("ipprofiler", "unblock", "198.51.100.9")
        self.assertEqual(r.returncode, 1)
        self.assertIn("198.51.100.0/24", self.blocks())
        log = d.log()
        self.assertRegex(log, r"event=ipp-blocked ip=192\.0\.2\.7 kind=admin "
                         r"action=temp expires=\S+Z reason=\"seen in a "
                         r"test\"")
        self.assertRegex(log, r"event=ipp-blocked ip=198\.51\.100\.0/24 "
                         r"kind=admin action=perm expires=never")
        self.assertIn("event=ipp-unblocked ip=192.0.2.7 why=admin", log)
        # --json of an action.
        out = json.loads(self.ok("--json", "ipprofiler", "block", "10.9.8.7",
                                 "--perm"))
        self.assertEqual((out["ok"], out["command"], out["address"]),
                         (True, "block", "10.9.8.7"))
        # The queue's question gets the same answer.
        p = self.peer()
        state, expires, reason = p.check("198.51.100.200")
        self.assertEqual((state, expires, reason),
                         (PERM, 0, "blocked by the administrator"))
        state, expires, _ = p.check("2001:db8::1")
        self.assertEqual(state, TEMP)
        self.assertAlmostEqual(expires, before + 300, delta=3)
        self.assertEqual(p.check("192.0.2.7")[0], CLEAN)

    def test_bad_arguments_are_refused_and_change_nothing(self):
        self.start(blocked_ips="203.0.113.0/24")
        cases = [
            (("block", "192.0.2.1/24"),
             "host bits set after the prefix (network is 192.0.2.0/24)"),
            (("block", "2001:db8::1/32"), "(network is 2001:db8::/32)"),
            (("block", "192.0.2.300"), "not an IPv4 or IPv6 address"),
            (("block", "10.0.0.0/33"), "prefix"),
            (("block", "example.org"), "not an IPv4 or IPv6 address"),
            (("block", "192.0.2.1", "--minutes", "0"), "--minutes"),
            (("block", "192.0.2.1", "--minutes", "x"), "--minutes"),
            (("block", "192.0.2.1", "--perm", "--minutes", "5"),
             "exclude each other"),
            (("block", "192.0.2.1", "--reason", "x" * 201), "--reason"),
            (("explain", "10.0.0.0/8"), "an address, not a network"),
            (("unblock", "10.0.0.1/8"), "network is 10.0.0.0/8"),
            (("list", "not-an-address"), "not an IPv4 or IPv6 address"),
            (("block",), "usage"),
            (("frobnicate",), "usage"),
        ]
        for args, why in cases:
            r = self.ctl("ipprofiler", *args)
            self.assertEqual(r.returncode, 2, "%s: %s" % (args, r.stderr))
            self.assertIn(why, r.stderr, args)
        # The daemon checks again (a client that skips sekishoctl's).
        p = self.peer()
        p.send("IMSG_IPP_CTL_BLOCK", u64(3) + string("192.0.2.1/24") +
               b"\x00" + u32(0) + string(""))
        status, text = p.result()
        self.assertEqual(status, 2)
        self.assertIn("network is 192.0.2.0/24", text)
        p.send("IMSG_IPP_CTL_BLOCK", u64(4) + string("192.0.2.1") +
               b"\x01" + u32(5) + string(""))
        self.assertEqual(p.result(), (2, "a permanent block has no minutes"))
        p.send("IMSG_IPP_CTL_BLOCK", u64(5) + string("192.0.2.1") +
               b"\x00" + u32(0) + string("two\nlines"))
        self.assertEqual(p.result()[0], 2)
        p.send("IMSG_IPP_CTL_BLOCK", u64(6) + string("192.0.2.1") +
               b"\x00" + u32(10 ** 9) + string(""))
        self.assertEqual(p.result()[0], 2)
        # A listed entry cannot be removed from here.
        r = self.ctl("ipprofiler", "unblock", "203.0.113.0/24")
        self.assertEqual(r.returncode, 1)
        self.assertIn("edit foxdns.ini", r.stderr)
        # Nothing changed.
        b = self.blocks()
        self.assertEqual(list(b), ["203.0.113.0/24"])
        self.assertEqual((b["203.0.113.0/24"]["kind"],
                          b["203.0.113.0/24"]["reason"]),
                         ("blocked_ips", "listed in blocked_ips"))
        self.assertNotIn("event=ipp-blocked", self.suite.ipprofiler.log())

    # --- the queue's protocol ---------------------------------------------

    def test_events_drive_the_rules_and_hostile_requests_drop_the_peer(self):
        """Events straight to the socket: the DHA rule blocks at its
        threshold; requests that break the protocol close only that
        connection."""
        self.suite.set("foxdns.ini", "dha", "min_total", "10")
        self.suite.set("foxdns.ini", "dha", "count", "5")
        self.suite.set("foxdns.ini", "dha", "rate", "0")
        self.suite.set("foxdns.ini", "foxdns", "approved_ips", "127.0.0.9")
        d = self.start()
        p = self.peer()
        p.event("127.0.0.5", {RCPTS: 9, UNKNOWN: 5})
        self.assertEqual(p.check("127.0.0.5")[0], CLEAN)
        p.event("127.0.0.5", {RCPTS: 1})
        state, expires, reason = p.check("127.0.0.5")
        self.assertEqual(state, TEMP)
        self.assertEqual(reason, "directory harvest: 5 of 10 recipients "
                         "unknown in 60 min")
        self.assertAlmostEqual(expires, time.time() + 3600, delta=5)
        self.assertEqual(p.check("127.0.0.6")[0], CLEAN)
        p.event("127.0.0.9", {RCPTS: 50, UNKNOWN: 50})
        self.assertEqual(p.check("127.0.0.9"), (APPROVED, 0,
                                                "listed in approved_ips"))
        self.assertIn("event=ipp-blocked ip=127.0.0.5 kind=dha action=temp",
                      d.log())
        x = self.explain("127.0.0.5")
        self.assertEqual(x["counters"]["recipients"], 0)   # cleared
        self.assertEqual(self.blocks()["127.0.0.5"]["kind"], "dha")
        hostile = [
            ("IMSG_IPP_CHECK", u64(1) + string("192.0.2.0/24")),
            ("IMSG_IPP_CHECK", u64(1) + string("x" * 5000)),
            ("IMSG_IPP_CHECK", u64(1) + string("192.0.2.1") + b"junk"),
            ("IMSG_IPP_CHECK", u64(1)),
            ("IMSG_IPP_EVENT", string("192.0.2.1") + u32(NCOUNTERS + 1) +
             u32(1) * (NCOUNTERS + 1)),
            ("IMSG_IPP_EVENT", string("192.0.2.1") + u32(NCOUNTERS) +
             u32(10 ** 7) * NCOUNTERS),
            ("IMSG_IPP_CTL_LIST", u64(1)),
            ("IMSG_IPP_VERDICT", u64(1)),
            ("IMSG_SCAN_STATUS", u64(1) + string("")),
        ]
        for name, payload in hostile:
            q = self.peer()
            q.send(name, payload)
            self.assertTrue(q.closed(), name)
        # Not a frame at all: an oversized length.
        q = self.peer()
        q.sock.sendall(struct.pack("=IIII", IMSG["IMSG_IPP_CHECK"],
                                   1 << 30, 0, 0))
        self.assertTrue(q.closed())
        # The first connection and the daemon are fine.
        self.assertTrue(d.running())
        self.assertEqual(p.check("127.0.0.5")[0], TEMP)
        self.assertIn("event=client-protocol", d.log())

    # --- store and expiry ---------------------------------------------------

    def test_blocks_survive_restart_and_expired_ones_do_not_return(self):
        """Slow (about 70 s): waits for a real one-minute expiry.

        Seed 1: with keep_tempblocked_mins = 1 a temporary block is gone
        one minute after it was set, with no restart; the store keeps
        every block across a restart, and one that expired while the
        profiler was down is deleted at start and never comes back."""
        s = self.suite
        d = self.start(keep_tempblocked_mins=1)
        self.ok("ipprofiler", "block", "192.0.2.1")             # 1 min
        self.ok("ipprofiler", "block", "192.0.2.2", "--perm")
        self.ok("ipprofiler", "block", "2001:db8::/48", "--minutes", "30")
        want = {"192.0.2.1", "192.0.2.2", "2001:db8::/48"}
        d.stop()
        d = self.start(keep_tempblocked_mins=1)
        self.assertIn("blocks=3 expired=0", d.log())
        b = self.blocks()
        self.assertEqual(set(b), want)
        exp1 = iso_time(b["192.0.2.1"]["expires"])
        # One more, a few seconds younger: it expires while we are down.
        time.sleep(3)
        self.ok("ipprofiler", "block", "192.0.2.3", "--minutes", "1")
        exp3 = iso_time(self.blocks()["192.0.2.3"]["expires"])
        self.assertGreaterEqual(exp3 - exp1, 3)
        p = self.peer()
        self.assertEqual(p.check("192.0.2.1")[0], TEMP)
        # The first one expires on time, without a restart.
        wait_for(lambda: "event=ipp-unblocked ip=192.0.2.1 why=expired"
                 in d.log(), exp1 - time.time() + 10,
                 what="the expiry of 192.0.2.1")
        self.assertLess(time.time(), exp1 + 3)
        self.assertGreaterEqual(time.time(), exp1)
        self.assertEqual(p.check("192.0.2.1")[0], CLEAN)
        self.assertNotIn("192.0.2.1", self.blocks())
        self.assertIn("192.0.2.3", self.blocks())
        # Down before the other expires, up after it did.
        d.stop()
        while time.time() < exp3 + 1:
            time.sleep(0.2)
        d = self.start(keep_tempblocked_mins=1)
        self.assertIn("blocks=2 expired=1", d.log())
        self.assertEqual(set(self.blocks()), {"192.0.2.2", "2001:db8::/48"})
        # And at the next start they are still gone.
        d.stop()
        d = self.start(keep_tempblocked_mins=1)
        self.assertIn("blocks=2 expired=0", d.log())
        self.assertEqual(self.explain("192.0.2.3")["state"], "clean")
        self.assertEqual(self.explain("192.0.2.2")["state"], "permanent")
        db = os.path.join(s.data_dir, "ipprofiler", "ipprofiler.db")
        self.assertTrue(os.path.exists(db))
        self.assertEqual(os.stat(os.path.dirname(db)).st_mode & 0o777, 0o700)

    # --- the DNSBL zone ---------------------------------------------------

    def test_dns_zone_follows_blocks_and_reloads(self):
        """The responder's zone is rebuilt when blocks change, expire or
        a reload brings new lists or a new zone name (dnsd.c serves it;
        its own tests cover the DNS side)."""
        s = self.suite
        port = free_port(socket.AF_INET)
        d = self.start(dns_port=port, dns_zone="bl.test.example",
                       blocked_ips="203.0.113.0/24")
        if "event=dns-unavailable" in d.log():
            self.skipTest("this build has no DNS responder")

        def rcode(name, qtype=1, zone="bl.test.example"):
            return dns_query(port, name + "." + zone, qtype)[0]

        self.assertEqual(rcode("9.113.0.203"), 0)
        self.assertEqual(rcode("7.2.0.192"), 3)           # NXDOMAIN
        self.ok("ipprofiler", "block", "192.0.2.7", "--reason", "dns test")
        wait_for(lambda: rcode("7.2.0.192") == 0, 5, what="listed")
        rc, texts = dns_query(port, "7.2.0.192.bl.test.example", 16)
        self.assertEqual((rc, texts), (0, [b"dns test"]))
        self.ok("ipprofiler", "unblock", "192.0.2.7")
        wait_for(lambda: rcode("7.2.0.192") == 3, 5, what="unlisted")
        # A reload: new list, new zone name; the old name is refused.
        s.set("foxdns.ini", "foxdns", "blocked_ips", "198.51.100.0/24")
        s.set("foxdns.ini", "foxdns", "dns_zone", "bl2.test.example")
        self.assertIn("reloaded", self.ok("ipprofiler", "reload"))
        wait_for(lambda: rcode("1.100.51.198", zone="bl2.test.example")
                 == 0, 5, what="the new zone")
        self.assertEqual(rcode("9.113.0.203", zone="bl2.test.example"), 3)
        self.assertEqual(rcode("1.100.51.198"), 5)        # REFUSED
        self.assertNotIn("event=dns-rebound", d.log())

    # --- configuration and reload ---------------------------------------------

    def test_seed08_reloads_leave_nothing_behind(self):
        """Seed 8: a thousand SIGHUP reloads, each re-reading foxdns.ini
        and the list files and rebuilding the DNSBL zone, leave the
        process without children and with the same descriptors and
        resident memory (within 2 MB)."""
        s = self.suite
        blocked = os.path.join(s.confdir, "blocked.txt")
        with open(blocked, "w") as f:
            for i in range(2000):
                f.write("10.%d.%d.1 listed in a test\n" % (i // 256,
                                                           i % 256))
        approved = os.path.join(s.confdir, "approved.txt")
        with open(approved, "w") as f:
            f.write("192.0.2.0/24\n")
        env = None
        bound = 2048
        if self.sanitized():
            # ASan keeps freed memory in quarantine: switch that off.
            env = {"ASAN_OPTIONS": os.environ.get("ASAN_OPTIONS", "") +
                   ":quarantine_size_mb=0"}
            bound = 8192
        d = s.start_ipprofiler(env=env, blocked_list_file=blocked,
                               approved_list_file=approved,
                               dns_port=free_port())
        for a in ("198.51.100.1", "198.51.100.0/28", "2001:db8::7"):
            self.ok("ipprofiler", "block", a)
        self.ok("ipprofiler", "block", "198.51.100.2", "--perm")
        log = LogTail(d.log_path, d.log_offset, "event=reloaded")
        self.addCleanup(log.close)

        def reload_once():
            n = log.count()
            d.signal(signal.SIGHUP)
            wait_for(lambda: log.count() > n, 10,
                     step=0.001, what="reloaded")

        def fds():
            """Open descriptors: from /proc (root), and as the daemon
            counts them itself in its last reload line (a non-root test
            may not read the fd directory of a non-dumpable process)."""
            own = int(re.findall(r"event=reloaded .*fds=(-?\d+)",
                                 d.log())[-1])
            try:
                return len(os.listdir("/proc/%d/fd" % d.pid)), own
            except PermissionError:
                return None, own

        for _ in range(20):          # warm up: allocator, zone, caches
            reload_once()
        fds0 = fds()
        self.assertGreater(fds0[1], 0)
        rss0 = self.rss(d.pid)
        for _ in range(1000):
            reload_once()
        self.assertEqual(proc_children(d.pid), {})
        self.assertEqual(fds(), fds0)
        rss1 = self.rss(d.pid)
        self.assertLess(rss1 - rss0, bound,
                        "VmRSS %d kB -> %d kB" % (rss0, rss1))
        self.assertNotIn("event=reload-failed", d.log())
        # Still the same process, same blocks, same lists.
        self.assertEqual(len(self.blocks()), 2004)
        self.assertEqual(self.explain("10.0.5.1")["reason"],
                         "listed in a test")
        self.assertEqual(self.explain("192.0.2.1")["state"], "approved")
        self.assertIn("reloaded", self.ok("ipprofiler", "reload"))

    def rss(self, pid):
        return int(proc_status(pid)["VmRSS"].split()[0])

    def sanitized(self):
        with open(os.path.join(BIN, "sekisho-ipprofiler"), "rb") as f:
            return b"AddressSanitizer" in f.read()

    def test_invalid_config_on_reload_keeps_the_running_one(self):
        s = self.suite
        d = self.start(blocked_ips="192.0.2.0/24")
        self.assertEqual(self.explain("192.0.2.5")["state"], "permanent")
        # A rule that would match everything.
        s.set("foxdns.ini", "foxdns", "blocked_ips", "198.51.100.0/24")
        s.set("foxdns.ini", "dha", "rate", "0")
        s.set("foxdns.ini", "dha", "count", "0")
        d.signal(signal.SIGHUP)
        self.assertLogHas(d, "event=reload-failed")
        self.assertRegex(d.log(), r"event=reload-error err=\"\S+/foxdns\.ini:"
                         r"\d+: \[dha\] rate and count are both 0")
        self.assertEqual(self.explain("192.0.2.5")["state"], "permanent")
        self.assertEqual(self.explain("198.51.100.5")["state"], "clean")
        r = self.ctl("ipprofiler", "reload")
        self.assertEqual(r.returncode, 1)
        self.assertIn("the running configuration stays", r.stderr)
        self.assertIn("[dha] rate and count are both 0", r.stderr)
        # A list file with a bad line.
        s.set("foxdns.ini", "dha", "count", "5")
        bad = os.path.join(s.confdir, "blocked.txt")
        with open(bad, "w") as f:
            f.write("198.51.100.7\n198.51.100.1/24 typo\n")
        s.set("foxdns.ini", "foxdns", "blocked_list_file", bad)
        r = self.ctl("ipprofiler", "reload")
        self.assertEqual(r.returncode, 1)
        self.assertIn("%s:2: \"198.51.100.1/24\"" % bad, r.stderr)
        self.assertIn("network is 198.51.100.0/24", r.stderr)
        # A syntax error in the file itself.
        text = s.read("foxdns.ini")
        s.write("foxdns.ini", text + "\n[dha]\nwindow_mins = 0\n")
        self.assertEqual(self.ctl("ipprofiler", "reload").returncode, 1)
        s.write("foxdns.ini", text)
        self.assertEqual(self.explain("192.0.2.5")["state"], "permanent")
        # Fixed: the new configuration is in force.
        with open(bad, "w") as f:
            f.write("198.51.100.7 from the file\n")
        self.assertIn("reloaded", self.ok("ipprofiler", "reload"))
        self.assertEqual(self.explain("192.0.2.5")["state"], "clean")
        self.assertEqual(self.explain("198.51.100.5")["state"], "permanent")
        # The most specific entry speaks: the file's address.
        self.assertEqual(self.explain("198.51.100.7")["reason"],
                         "from the file")
        self.assertTrue(d.running())

    def test_check_reports_the_bad_rule_where_it_is(self):
        s = self.suite
        r = s.run("sekisho-ipprofiler", "-n", "-c", s.confdir)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("configuration OK", r.stderr)
        s.set("foxdns.ini", "dha", "rate", "0")
        s.set("foxdns.ini", "dha", "count", "0")
        # The later of the two lines that make the rule void.
        lines = s.read("foxdns.ini").splitlines()
        sec = lines.index("[dha]")
        end = next((i for i in range(sec + 1, len(lines))
                    if lines[i].startswith("[")), len(lines))
        line = max(i for i in range(sec, end)
                   if lines[i].startswith(("rate=", "count="))) + 1
        r = s.run("sekisho-ipprofiler", "-n", "-c", s.confdir)
        self.assertEqual(r.returncode, 1)
        self.assertIn("%s/foxdns.ini:%d: [dha] rate and count are both 0"
                      % (s.confdir, line), r.stderr)
        self.assertIn("configuration invalid (1 error)", r.stderr)
        # A list file is checked too, line by line.
        s.set("foxdns.ini", "dha", "count", "5")
        lst = os.path.join(s.confdir, "approved.txt")
        with open(lst, "w") as f:
            f.write("# ok\n192.0.2.0/24\n2001:db8::1/64\n")
        s.set("foxdns.ini", "foxdns", "approved_list_file", lst)
        r = s.run("sekisho-ipprofiler", "-n", "-c", s.confdir)
        self.assertEqual(r.returncode, 1)
        self.assertIn("%s:3: \"2001:db8::1/64\"" % lst, r.stderr)
        # The daemon does not start with it.
        r = s.run("sekisho-ipprofiler", "-f", "-c", s.confdir, timeout=20)
        self.assertEqual(r.returncode, 1)
        self.assertFalse(os.path.exists(os.path.join(s.run_dir,
                                                     "ipprofiler.sock")))


class LogTail:
    """Counts the lines of a growing log file that contain needle,
    reading only what was added since the last call."""

    def __init__(self, path, offset, needle):
        self.f = open(path, "rb")
        self.f.seek(offset)
        self.needle = needle.encode()
        self.rest = b""
        self.n = 0

    def close(self):
        self.f.close()

    def count(self):
        data = self.rest + self.f.read()
        cut = data.rfind(b"\n") + 1
        self.rest = data[cut:]
        self.n += data[:cut].count(self.needle)
        return self.n


if __name__ == "__main__":
    unittest.main()
