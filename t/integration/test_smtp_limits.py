"""Relay control and limits of the SMTP front end (issue 3): each gives
the documented reply and leaves no partial message in the spool."""

import socket
import time
import unittest

from harness import RawSMTP, SMTPClosed, SuiteTestCase, wait_for


class LimitTestCase(SuiteTestCase):

    def assertNothingStored(self):
        self.assertSpoolClean()
        self.assertNoIncoming()


class RelayTest(LimitTestCase):

    def test_client_in_relay_networks_may_send_anywhere(self):
        self.suite.start_smtpd(AcceptedDomains="example.com")
        content = b"Subject: out\r\n\r\nhi\r\n"
        qid = self.deliver(content, rcpts=["carol@other.example"])
        self.assertStored(qid, content, rcpts=["carol@other.example"])

    def test_relay_denied_outside_relay_networks(self):
        self.suite.start_smtpd(RelayNetworks="192.0.2.0/24, 2001:db8::/32",
                               AcceptedDomains="example.com, .sub.example.org")
        c = self.smtp()
        c.ehlo()
        self.assertEqual(c.cmd("MAIL FROM:<a@example.net>").code, 250)
        self.assertEqual(c.cmd("RCPT TO:<bob@example.com>").code, 250)
        self.assertEqual(c.cmd("RCPT TO:<BOB2@EXAMPLE.COM>").code, 250)
        self.assertEqual(c.cmd("RCPT TO:<x@a.sub.example.org>").code, 250)
        for rcpt in ("carol@other.example", "x@sub.example.org",
                     "x@example.com.evil.example", "x@notexample.com"):
            r = c.cmd("RCPT TO:<%s>" % rcpt)
            self.assertTrue(r.last.startswith("554 5.7.1"), (rcpt, r))
        self.assertEqual(c.cmd("DATA").code, 354)
        c.send(b"Subject: in\r\n\r\nhi\r\n.\r\n")
        r = c.reply()
        self.assertTrue(r.qid(), r)
        self.assertStored(r.qid(), b"Subject: in\r\n\r\nhi\r\n",
                          rcpts=["bob@example.com", "BOB2@example.com",
                                 "x@a.sub.example.org"])
        self.assertEqual(len(self.suite.incoming()), 1)

    def test_relay_denied_for_every_recipient_stores_nothing(self):
        self.suite.start_smtpd(RelayNetworks="192.0.2.0/24",
                               AcceptedDomains="example.com")
        c = self.smtp()
        c.ehlo()
        c.send(b"MAIL FROM:<a@example.net>\r\nRCPT TO:<c@other.example>\r\n"
               b"DATA\r\n")
        r = c.replies(3)
        self.assertEqual(r[0].code, 250)
        self.assertTrue(r[1].last.startswith("554 5.7.1"), r[1])
        self.assertIn(r[2].code // 100, (5,), r[2])
        self.assertEqual(c.cmd("QUIT").code, 221)
        self.assertNothingStored()


class SizeLimitTest(LimitTestCase):

    def setUp(self):
        super().setUp()
        self.suite.start_smtpd(MaxMsgSize="2048")

    def test_size_parameter_above_limit_refused_at_mail(self):
        c = self.smtp()
        r = c.ehlo()
        self.assertIn("SIZE 2048", r.texts)
        r = c.cmd("MAIL FROM:<a@example.org> SIZE=5000")
        self.assertTrue(r.last.startswith("552 5.3.4"), r)
        self.assertEqual(c.cmd("MAIL FROM:<a@example.org> SIZE=1000").code,
                         250)
        self.assertNothingStored()

    def test_body_above_limit_refused_after_terminator_session_goes_on(self):
        c = self.smtp()
        c.ehlo()
        self.assertEqual(c.cmd("MAIL FROM:<a@example.org>").code, 250)
        self.assertEqual(c.cmd("RCPT TO:<b@example.com>").code, 250)
        self.assertEqual(c.cmd("DATA").code, 354)
        big = b"Subject: big\r\n\r\n" + b"x" * 70 + b"\r\n"
        big = big * 200                      # ~14 KB, all of it is read
        c.send(big)
        time.sleep(0.1)
        self.assertTrue(c.nothing_within(0.2),
                        "no reply before the terminator: %r" % c.buf)
        c.send(b".\r\n")
        r = c.reply()
        self.assertTrue(r.last.startswith("552 5.3.4"), r)
        self.assertNothingStored()
        # The session continues with a message that fits.
        small = b"Subject: small\r\n\r\nfits\r\n"
        r = c.send_mail("a@example.org", ["b@example.com"], small,
                        ehlo=False)
        self.assertTrue(r.qid(), r)
        self.assertStored(r.qid(), small)
        self.assertEqual(len(self.suite.incoming()), 1)
        self.assertSpoolClean()


class RecipientLimitTest(LimitTestCase):

    def test_fourth_recipient_gets_452(self):
        self.suite.start_smtpd(MaxRcptPerMsg="3")
        c = self.smtp()
        c.ehlo()
        self.assertEqual(c.cmd("MAIL FROM:<a@example.org>").code, 250)
        for i in range(3):
            self.assertEqual(c.cmd("RCPT TO:<r%d@example.com>" % i).code, 250)
        r = c.cmd("RCPT TO:<r3@example.com>")
        self.assertTrue(r.last.startswith("452 4.5.3"), r)
        self.assertEqual(c.cmd("DATA").code, 354)
        c.send(b"Subject: three\r\n\r\nhi\r\n.\r\n")
        r = c.reply()
        self.assertTrue(r.qid(), r)
        self.assertStored(r.qid(), b"Subject: three\r\n\r\nhi\r\n",
                          rcpts=["r0@example.com", "r1@example.com",
                                 "r2@example.com"])
        self.assertSpoolClean()


class LineLengthTest(LimitTestCase):

    def test_3000_byte_command_gets_500_session_goes_on(self):
        self.suite.start_smtpd()
        c = self.smtp()
        c.ehlo()
        r = c.cmd("MAIL FROM:<" + "a" * 2980 + "@example.org>")
        self.assertTrue(r.last.startswith("500 5.5.2"), r)
        self.assertIn("Line too long", r.last)
        self.assertEqual(c.cmd("NOOP").code, 250)
        # Also when the long line arrives in pieces.
        c.send(b"X" * 1500)
        time.sleep(0.05)
        c.send(b"Y" * 1500)
        time.sleep(0.05)
        c.send(b"\r\nNOOP\r\n")
        r1, r2 = c.replies(2)
        self.assertTrue(r1.last.startswith("500 5.5.2"), r1)
        self.assertEqual(r2.code, 250, r2)
        content = b"Subject: after\r\n\r\nok\r\n"
        r = c.send_mail("a@example.org", ["b@example.com"], content,
                        ehlo=False)
        self.assertTrue(r.qid(), r)
        self.assertEqual(len(self.suite.incoming()), 1)
        self.assertSpoolClean()


class TimeoutTest(LimitTestCase):

    def setUp(self):
        super().setUp()
        self.suite.start_smtpd(CommandTimeout="2", DataTimeout="2")

    def expect_timeout(self, c, started):
        r = c.reply(timeout=6)
        took = time.monotonic() - started
        self.assertTrue(r.last.startswith("421 4.4.2"), r)
        self.assertGreater(took, 1.5)
        self.assertLess(took, 5.0)
        self.assertTrue(c.closed_within(3))

    def test_command_timeout_gives_421(self):
        c = self.smtp()
        self.expect_timeout(c, time.monotonic())

    def test_command_timeout_inside_a_transaction(self):
        c = self.smtp()
        c.ehlo()
        self.assertEqual(c.cmd("MAIL FROM:<a@example.org>").code, 250)
        self.assertEqual(c.cmd("RCPT TO:<b@example.com>").code, 250)
        self.expect_timeout(c, time.monotonic())
        self.assertNothingStored()

    def test_silent_smtps_client_is_dropped(self):
        t0 = time.monotonic()
        with socket.create_connection(("127.0.0.1", self.suite.smtps_port),
                                      10) as s:
            s.settimeout(10)
            try:
                while s.recv(4096):
                    pass
            except ConnectionResetError:
                pass
        took = time.monotonic() - t0
        self.assertLess(took, 6, "no handshake timeout")

    def test_data_timeout_gives_421_and_stores_nothing(self):
        c = self.smtp()
        c.ehlo()
        self.assertEqual(c.cmd("MAIL FROM:<a@example.org>").code, 250)
        self.assertEqual(c.cmd("RCPT TO:<b@example.com>").code, 250)
        self.assertEqual(c.cmd("DATA").code, 354)
        c.send(b"Subject: slow\r\n\r\npart of the body\r\n")
        self.expect_timeout(c, time.monotonic())
        self.assertNothingStored()


class ConnectionLimitTest(LimitTestCase):

    def test_per_ip_connection_limit(self):
        self.suite.start_smtpd(MaxConnectionsPerIP="2")
        c1, c2 = self.smtp(), self.smtp()
        self.assertEqual(c1.greeting.code, 220)
        self.assertEqual(c2.greeting.code, 220)
        with RawSMTP(self.suite.smtp_port) as c3:
            self.assertTrue(c3.greeting.last.startswith("421 4.7.0"),
                            c3.greeting)
            self.assertTrue(c3.closed_within(3))
        # The first two are still served.
        self.assertEqual(c1.cmd("NOOP").code, 250)
        self.assertEqual(c2.cmd("NOOP").code, 250)
        # A slot that is freed can be used again.
        self.assertEqual(c1.cmd("QUIT").code, 221)
        self.assertTrue(c1.closed_within(3))

        def fourth():
            with RawSMTP(self.suite.smtp_port) as c4:
                return c4.greeting.code == 220
        wait_for(fourth, 5, step=0.1, what="a freed connection slot")
        # Connections that die abruptly (RST) free their slots too.
        c2.abort()

        def two_slots():
            cs = []
            try:
                for _ in range(2):
                    cs.append(RawSMTP(self.suite.smtp_port))
                return all(x.greeting.code == 220 for x in cs)
            finally:
                for x in cs:
                    x.abort()
        for _ in range(3):
            wait_for(two_slots, 5, step=0.1, what="both slots free again")
        self.assertNothingStored()

    def test_per_ip_limit_counts_smtps_connections(self):
        self.suite.start_smtpd(MaxConnectionsPerIP="1")
        c1 = self.smtp(port=self.suite.smtps_port, tls=True)
        self.assertEqual(c1.greeting.code, 220)
        with RawSMTP(self.suite.smtp_port) as c2:
            self.assertTrue(c2.greeting.last.startswith("421 4.7.0"),
                            c2.greeting)

    def test_total_connection_limit(self):
        self.suite.start_smtpd(MaxConnections="2", MaxConnectionsPerIP="0")
        c1, c2 = self.smtp(), self.smtp()
        self.assertEqual(c1.greeting.code, 220)
        self.assertEqual(c2.greeting.code, 220)
        try:
            with RawSMTP(self.suite.smtp_port, timeout=3) as c3:
                self.assertEqual(c3.greeting.code, 421, c3.greeting)
        except SMTPClosed:
            pass        # closed without a greeting is also a refusal
        self.assertEqual(c1.cmd("NOOP").code, 250)

    def test_too_many_errors_closes_the_session(self):
        self.suite.start_smtpd(MaxErrorsPerSession="3")
        c = self.smtp()
        c.ehlo()
        # Three errors are allowed; the session goes on.
        for _ in range(3):
            self.assertEqual(c.cmd("BOGUS").code, 500)
        self.assertEqual(c.cmd("NOOP").code, 250)
        # One more exceeds the limit: 421 and the connection closes.
        c.send(b"BOGUS\r\n")
        r = c.reply()
        if r.code != 421:
            self.assertEqual(r.code, 500, r)
            r = c.reply()
        self.assertTrue(r.last.startswith("421 4.7.0"), r)
        self.assertTrue(c.closed_within(3))


if __name__ == "__main__":
    unittest.main()
