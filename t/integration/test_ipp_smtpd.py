"""The IP profiler and the reputation check as sekisho-smtpd uses them
(issue 8; docs/ipprofiler.md): the connect-time check through the queue,
the replies for blocked and listed clients, what smtpd and the queue
report about each client, and failing open when the profiler or DNS is
away.

Clients are told apart by their source address: any 127.x.y.z can be
bound on Linux loopback.  RelayNetworks is ::1 only, so those clients are
not relays and a recipient outside AcceptedDomains (example.com) counts
as unknown (directory harvest).  sekisho-ipprofiler, sekisho-scanner and
dnsmasq run for real.
"""

import json
import os
import shutil
import socket
import threading
import time
import unittest

from harness import RawSMTP, SuiteTestCase, dot_stuff, wait_for
from smtpsink import Sink

GTUBE = "XJS*C4JDBQADN1.NSBN3*2IDNEN*GTUBE-STANDARD-ANTI-UBE-TEST-EMAIL*C.34X"

DEFAULT_NRS = ("554 5.7.1 Client host %s blocked using "
               "http://www.mail-abuse.com/cgi-bin/lookup?ip_address=%s")


class IppSmtpdCase(SuiteTestCase):

    def setUp(self):
        super().setUp()
        s = self.suite
        s.smtpd_config(AcceptedDomains="example.com", RelayNetworks="::1")
        # Accepted mail is delivered here, never to DNS.
        self.maildir = os.path.join(s.dir, "maildir")
        s.set("tsmtpd.ini", "Routes", "example.com",
              "maildir:" + self.maildir)
        s.set("tsmtpd.ini", "SmtpClient", "TlsPolicy", "none")

    def greet(self, src, tls=False):
        """(greeting, closed): what a client at src gets first, and
        whether the server then closed the connection (a greeted client
        says QUIT)."""
        port = self.suite.smtps_port if tls else self.suite.smtp_port
        with RawSMTP(port, source=src, tls=tls) as c:
            r = c.greeting
            if r.code == 220:
                self.assertEqual(c.cmd("QUIT").code, 221)
                return r, False
            return r, c.closed_within(5)

    def assertGreeted(self, src, tls=False):
        r, closed = self.greet(src, tls)
        self.assertEqual(r.code, 220, "%s: %s" % (src, r))
        return r

    def assertRefused(self, src, code, tls=False):
        r, closed = self.greet(src, tls)
        self.assertEqual(r.code, code, "%s: %s" % (src, r))
        self.assertEqual(len(r.lines), 1, r)
        self.assertTrue(closed, "%s: the server keeps the connection" % src)
        return r.lines[0]

    def harvest(self, src, known=6, unknown=6):
        """One session from src trying known + unknown recipients
        (recipients in a domain we do not receive for), then QUIT."""
        with RawSMTP(self.suite.smtp_port, source=src) as c:
            self.assertEqual(c.greeting.code, 220, c.greeting)
            c.ehlo()
            self.assertEqual(c.cmd("MAIL FROM:<x@spammer.example>").code,
                             250)
            for i in range(known):
                self.assertEqual(c.cmd("RCPT TO:<user%d@example.com>"
                                       % i).code, 250)
            for i in range(unknown):
                self.assertEqual(c.cmd("RCPT TO:<guess%d@elsewhere.example>"
                                       % i).code, 554)
            self.assertEqual(c.cmd("QUIT").code, 221)

    def send(self, src, sender, rcpts, body=b"Subject: t\r\n\r\nhello\r\n"):
        """One message from src; the 250 reply."""
        with RawSMTP(self.suite.smtp_port, source=src) as c:
            r = c.send_mail(sender, rcpts, dot_stuff(body))
            self.assertEqual(r.code, 250, r)
            c.cmd("QUIT")
        return r

    def wait_greeting(self, src, code, timeout, step=0.5):
        """Connect from src until the greeting has code; seconds taken."""
        t0 = time.monotonic()
        while True:
            r, _ = self.greet(src)
            if r.code == code:
                return time.monotonic() - t0
            if time.monotonic() - t0 > timeout:
                self.fail("no greeting %d for %s within %ss (last: %s)"
                          % (code, src, timeout, r))
            time.sleep(step)

    def explain(self, ip):
        """sekishoctl ipprofiler explain ip, as JSON."""
        s = self.suite
        r = s.run("sekishoctl", "-c", s.confdir, "--json", "ipprofiler",
                  "explain", ip)
        self.assertEqual(r.returncode, 0, r.stderr)
        return json.loads(r.stdout)

    def counters(self, ip, want, timeout=10):
        """The profiler's counters of ip, once they include want."""
        deadline = time.monotonic() + timeout
        while True:
            c = self.explain(ip)["counters"]
            if all(c.get(k) == v for k, v in want.items()):
                return c
            if time.monotonic() > deadline:
                self.fail("counters of %s: want %r, have %r" % (ip, want, c))
            time.sleep(0.1)


class TestIpProfilerBlocks(IppSmtpdCase):

    def test_dha_blocks_harvester_not_others(self):
        s = self.suite
        s.start_ipprofiler()
        s.start_smtpd()
        # 12 recipients, 6 of them unknown: [dha] min_total=10 count=5.
        self.harvest("127.0.0.23")
        line = self.assertRefused("127.0.0.23", 450)
        self.assertRegex(line, r"^450 4\.7\.1 Client host 127\.0\.0\.23 is "
                         r"temporarily blocked: directory harvest")
        self.assertGreeted("127.0.0.24")
        self.assertLogHas(s.smtpd, "event=connect-refused")
        self.assertRegex(s.smtpd.log(), r"event=connect-refused sid=\w+ "
                         r"ip=127\.0\.0\.23 by=ipprofiler state=temporary "
                         r"reason=\"directory harvest")
        # The profiler's view: blocked for the session smtpd reported.
        self.assertEqual(self.explain("127.0.0.23")["state"], "temporary")

    def test_dha_unknown_recipients_from_next_hop(self):
        """Recipients accepted here and refused by the next hop with
        550 5.1.1 count as unknown for the client that sent them."""
        s = self.suite
        s.set("policy.ini", "scan", "enabled", "0")
        sink = Sink().start()
        self.addCleanup(sink.stop)
        sink.rcpt_reply = lambda addr, n: \
            "550 5.1.1 <%s>: no such user" % addr \
            if addr.startswith("bad") else None
        s.set("tsmtpd.ini", "Routes", "example.com",
              "127.0.0.1:%d" % sink.port)
        s.set("tsmtpd.ini", "Routes", "sender.example",
              "127.0.0.1:%d" % sink.port)
        s.start_ipprofiler()
        s.start_smtpd()
        rcpts = ["good%d@example.com" % i for i in range(5)] + \
            ["bad%d@example.com" % i for i in range(5)]
        # smtpd accepts all 10 (send() checks each 250): whatever is
        # unknown, only the next hop can tell.
        self.send("127.0.0.27", "a@sender.example", rcpts)
        tx = sink.wait_messages(1)[0]
        self.assertEqual(sorted(tx.rcpt_to),
                         ["good%d@example.com" % i for i in range(5)])
        self.wait_greeting("127.0.0.27", 450, 15)
        self.assertGreeted("127.0.0.24")

    def test_cache_invalidated_by_the_triggering_session(self):
        s = self.suite
        s.start_ipprofiler(check_cache_secs=30)
        s.start_smtpd()
        # The clean answer about .31 is now cached for 30 s ...
        self.assertGreeted("127.0.0.31")
        self.harvest("127.0.0.31")
        # ... but the session's report dropped it: blocked at once.
        self.assertRefused("127.0.0.31", 450)

    def test_seed01_tempblock_expires(self):
        s = self.suite
        s.start_ipprofiler(keep_tempblocked_mins=1)
        s.start_smtpd()
        self.harvest("127.0.0.28")
        t0 = time.monotonic()
        self.assertRefused("127.0.0.28", 450)
        self.wait_greeting("127.0.0.28", 220, 90, step=2)
        took = time.monotonic() - t0
        # Unblocked after about a minute, without any restart.
        self.assertGreater(took, 45)
        self.assertLess(took, 90)
        self.assertTrue(s.smtpd.running() and s.ipprofiler.running())

    def test_perm_block_reply(self):
        s = self.suite
        s.start_ipprofiler(blocked_ips="127.0.0.29, 127.0.1.0/24")
        s.start_smtpd()
        self.assertEqual(self.assertRefused("127.0.0.29", 554),
                         "554 5.7.1 Client host 127.0.0.29 is blocked: "
                         "listed in blocked_ips")
        self.assertEqual(self.assertRefused("127.0.1.9", 554),
                         "554 5.7.1 Client host 127.0.1.9 is blocked: "
                         "listed in blocked_ips")
        # SMTPS: refused after the handshake, over TLS.
        self.assertRefused("127.0.0.29", 554, tls=True)
        self.assertGreeted("127.0.0.30", tls=True)
        self.assertGreeted("127.0.0.30")
        self.assertRegex(s.smtpd.log(), r"event=connect-refused sid=\w+ "
                         r"ip=127\.0\.0\.29 by=ipprofiler state=permanent "
                         r"reason=\"listed in blocked_ips\"")
        # A refused client did nothing: no event, no counters.
        self.assertEqual(self.explain("127.0.0.29")["counters"]
                         ["connections"], 0)
        self.counters("127.0.0.30", {"connections": 2})

    def test_custom_block_replies_and_their_check(self):
        s = self.suite
        s.start_ipprofiler(
            blocked_ips="127.0.0.29",
            perm_block_reply="550 5.7.1 Go away %CLIENT_IP% (%REASON%)")
        s.start_smtpd()
        self.assertEqual(self.assertRefused("127.0.0.29", 550),
                         "550 5.7.1 Go away 127.0.0.29 "
                         "(listed in blocked_ips)")
        # -n: a temporary block must answer 4xx, a permanent one 5xx.
        s.set("foxdns.ini", "foxdns", "temp_block_reply", "250 welcome")
        s.set("foxdns.ini", "foxdns", "perm_block_reply",
              "450 4.7.1 later")
        text = s.read("foxdns.ini").splitlines()
        temp = 1 + next(i for i, ln in enumerate(text)
                        if ln.startswith("temp_block_reply="))
        perm = 1 + next(i for i, ln in enumerate(text)
                        if ln.startswith("perm_block_reply="))
        r = s.run("sekisho-smtpd", "-n", "-c", s.confdir)
        self.assertEqual(r.returncode, 1, r.stderr)
        self.assertRegex(r.stderr, r"foxdns\.ini:%d: temp_block_reply: "
                         r"\"250 welcome\" must start with a 4xx" % temp)
        self.assertRegex(r.stderr, r"foxdns\.ini:%d: perm_block_reply: "
                         r"\"450 4\.7\.1 later\" must start with a 5xx"
                         % perm)


class TestFailOpen(IppSmtpdCase):

    def test_profiler_not_running_fails_open(self):
        s = self.suite
        # No cached answer may outlive the profiler in this test.
        s.set("foxdns.ini", "foxdns", "check_cache_secs", "0")
        s.start_smtpd()
        for _ in range(3):
            t0 = time.monotonic()
            self.assertGreeted("127.0.0.33")
            self.assertLess(time.monotonic() - t0, 1.0)
        self.harvest("127.0.0.33")     # its report is dropped
        log = s.smtpd.log()
        self.assertEqual(log.count("event=ipprofiler-unavailable"), 1, log)
        # The profiler comes: the queue connects again by itself.
        s.start_ipprofiler(blocked_ips="127.0.0.34")
        self.wait_greeting("127.0.0.34", 554, 40)
        self.assertLogHas(s.smtpd, "event=ipprofiler-connected")
        self.assertLogHas(s.smtpd, "event=ipprofiler-events-dropped n=")
        # And goes: clients are let in again at once.
        s.ipprofiler.stop()
        t0 = time.monotonic()
        self.assertGreeted("127.0.0.34")
        self.assertLess(time.monotonic() - t0, 1.0)
        self.assertLogHas(s.smtpd, "event=ipprofiler-lost")

    def test_profiler_that_does_not_answer_fails_open(self):
        """A profiler that takes the connection and never answers:
        check_timeout_ms bounds the wait for the greeting."""
        s = self.suite
        s.set("foxdns.ini", "foxdns", "check_timeout_ms", "300")
        path = os.path.join(s.run_dir, "ipprofiler.sock")
        srv = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        srv.bind(path)
        os.chmod(path, 0o666)      # the queue runs as its own user
        srv.listen(8)
        held = []

        def accept():
            while True:
                try:
                    held.append(srv.accept()[0])
                except OSError:
                    return
        threading.Thread(target=accept, daemon=True).start()

        def cleanup():
            srv.close()
            for c in held:
                c.close()
        self.addCleanup(cleanup)
        s.start_smtpd()
        t0 = time.monotonic()
        self.assertGreeted("127.0.0.35")
        took = time.monotonic() - t0
        self.assertGreaterEqual(took, 0.25)
        self.assertLess(took, 2.0)
        self.assertRegex(s.smtpd.log(), r"event=connect-check-timeout "
                         r"sid=\w+ ip=127\.0\.0\.35 check=ipprofiler")
        self.assertTrue(held, "the queue never connected")
        # A client that leaves during the wait costs nothing lasting.
        RawSMTP(s.smtp_port, source="127.0.0.35", greet=False).abort()
        time.sleep(0.6)
        self.assertGreeted("127.0.0.35")
        self.assertTrue(s.smtpd.running())


@unittest.skipUnless(shutil.which("dnsmasq"), "needs dnsmasq")
class TestNrs(IppSmtpdCase):
    """NrsZones: a test DNSBL zone served by dnsmasq on loopback lists
    127.0.0.25 (25.0.0.127.nrs.test A 127.0.0.2) and 127.0.0.39."""

    def serve_zone(self):
        s = self.suite
        port = s.start_dnsmasq([
            "--host-record=25.0.0.127.nrs.test,127.0.0.2",
            "--host-record=39.0.0.127.nrs.test,127.0.0.4"])
        s.set("tsmtpd.ini", "SmtpClient", "DnsServers",
              "127.0.0.1:%d" % port)

    def test_seed22_nrs_reject_message(self):
        s = self.suite
        self.serve_zone()
        s.set("foxdns.ini", "foxdns", "enabled", "0")
        s.start_smtpd(NrsZones="nrs.test")
        self.assertEqual(self.assertRefused("127.0.0.25", 554),
                         DEFAULT_NRS % ("127.0.0.25", "127.0.0.25"))
        self.assertGreeted("127.0.0.26")
        self.assertRegex(s.smtpd.log(), r"event=connect-refused sid=\w+ "
                         r"ip=127\.0\.0\.25 by=nrs zone=nrs\.test "
                         r"reason=\"listed in nrs\.test\"")
        # Seed 22: the text and the lookup URL are configurable.
        s.stop_smtpd()
        s.start_smtpd(NrsRejectMsg="Rejected %CLIENT_IP%, see "
                      "%RBL_CHECK_DOMAIN%",
                      RblCheckDomain="https://rbl.example/lookup?ip="
                      "%CLIENT_IP%")
        self.assertEqual(self.assertRefused("127.0.0.25", 554),
                         "554 5.7.1 Rejected 127.0.0.25, see "
                         "https://rbl.example/lookup?ip=127.0.0.25")
        self.assertGreeted("127.0.0.26")

    def test_seed22_nrs_fails_open_when_dns_is_down(self):
        """A name server that never answers: the client is let in after
        NrsTimeout."""
        s = self.suite
        hole = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        hole.bind(("127.0.0.1", 0))
        self.addCleanup(hole.close)
        s.set("tsmtpd.ini", "SmtpClient", "DnsServers",
              "127.0.0.1:%d" % hole.getsockname()[1])
        s.set("foxdns.ini", "foxdns", "enabled", "0")
        s.start_smtpd(NrsZones="nrs.test", NrsTimeout="1")
        t0 = time.monotonic()
        self.assertGreeted("127.0.0.25")
        took = time.monotonic() - t0
        self.assertGreaterEqual(took, 0.9)
        self.assertLess(took, 2.5)
        self.assertRegex(s.smtpd.log(), r"event=connect-check-timeout "
                         r"sid=\w+ ip=127\.0\.0\.25 check=nrs")
        # A stop while a client waits: its lookups and timer go with it
        # (a sanitizer build would report anything left behind).
        c = RawSMTP(s.smtp_port, source="127.0.0.26", greet=False)
        self.addCleanup(c.close)
        wait_for(lambda: "ip=127.0.0.26" in s.smtpd.log(), 5,
                 what="the waiting session")
        self.assertEqual(s.stop_smtpd(), 0, s.smtpd.log())
        self.assertEqual(c.reply().code, 421)
        self.assertTrue(c.closed_within(5))

    def test_approved_ips_skip_nrs(self):
        s = self.suite
        self.serve_zone()
        s.start_ipprofiler(approved_ips="127.0.0.25")
        s.start_smtpd(NrsZones="nrs.test")
        self.assertGreeted("127.0.0.25")
        # Not approved: the listing counts.
        self.assertEqual(self.assertRefused("127.0.0.39", 554),
                         DEFAULT_NRS % ("127.0.0.39", "127.0.0.39"))

    def test_relay_clients_are_neither_checked_nor_counted(self):
        """The organisation's own servers (RelayNetworks) are not judged:
        no profiler check, no events, no NRS lookup; with
        profile_relay_clients=1 the profiler judges them too."""
        s = self.suite
        self.serve_zone()
        s.start_ipprofiler(blocked_ips="127.0.0.41")
        s.start_smtpd(NrsZones="nrs.test",
                      RelayNetworks="127.0.0.25, 127.0.0.41")
        self.assertGreeted("127.0.0.41")        # blocked, but ours
        self.assertGreeted("127.0.0.25")        # listed in nrs.test, ours
        self.assertRefused("127.0.0.39", 554)   # listed, not ours
        self.send("127.0.0.41", "a@example.com", ["b@elsewhere.example"])
        self.assertEqual(self.explain("127.0.0.41")["counters"]
                         ["connections"], 0)
        s.stop_smtpd()
        s.set("foxdns.ini", "foxdns", "profile_relay_clients", "1")
        s.start_smtpd()
        self.assertRefused("127.0.0.41", 554)
        self.assertGreeted("127.0.0.25")        # NRS: never for ours


class TestEvents(IppSmtpdCase):

    def test_seed18_sender_without_domain_with_profiler(self):
        s = self.suite
        s.start_ipprofiler()
        s.start_scanner()
        s.start_smtpd(DisableAddDefaultDomainToSender="1")
        self.send("127.0.0.36", "user", ["rcpt@example.com"])
        self.send("127.0.0.36", "", ["rcpt@example.com"])
        # The sender kept its missing domain all the way.
        self.assertRegex(s.smtpd.log(), r"event=mail sid=\w+ "
                         r"ip=127\.0\.0\.36 from=user ")
        self.assertLogHas(s.smtpd, "event=scanned", timeout=20)
        wait_for(lambda: s.smtpd.log().count("event=scanned") >= 2, 20,
                 what="both messages scanned")
        self.counters("127.0.0.36", {"connections": 2, "messages": 2,
                                     "recipients": 2, "null_sender": 1,
                                     "scanned": 2, "spam": 0})
        for d in (s.smtpd, s.scanner, s.ipprofiler):
            self.assertTrue(d.running(), "%s died:\n%s" % (d.name, d.log()))
        self.assertGreeted("127.0.0.36")
        wait_for(lambda: not s.incoming(), 10, what="incoming/ empty")

    def test_spam_run_blocked(self):
        """The scanner's verdict reaches the profiler: one spam message
        is enough with [spam] min_total=1 rate=50."""
        s = self.suite
        s.set("policy.ini", "antispam", "enabled", "1")
        s.set("policy.ini", "antispam", "dns_lists", "0")
        s.set("foxdns.ini", "spam", "min_total", "1")
        s.start_ipprofiler()
        s.start_scanner()
        s.start_smtpd()
        self.send("127.0.0.37", "a@example.org", ["rcpt@example.com"],
                  body=("Subject: offer\r\n\r\n%s\r\n" % GTUBE).encode())
        # Blocked once the scan's verdict is in (its counters are then
        # cleared: the block says it all).
        self.wait_greeting("127.0.0.37", 450, 20)
        line = self.assertRefused("127.0.0.37", 450)
        self.assertRegex(line, r"^450 4\.7\.1 Client host 127\.0\.0\.37 ")
        self.send("127.0.0.38", "a@example.org", ["rcpt@example.com"])
        self.counters("127.0.0.38", {"scanned": 1, "spam": 0})
        self.assertGreeted("127.0.0.38")


if __name__ == "__main__":
    unittest.main()
