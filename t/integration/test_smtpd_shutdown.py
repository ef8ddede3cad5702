"""Seed 34, the part in sekisho-smtpd: [SmtpServer] ShutDownMode.
Absent or 0: graceful stop (sessions in the middle of a message may
finish it; idle sessions are closed; the daemon exits within seconds);
1: forced stop (every session is closed at once, unfinished messages are
dropped).  A restart after a configuration change never hangs."""

import signal
import time
import unittest

from harness import RawSMTP, SMTPClosed, SuiteTestCase, wait_for


class ShutdownTest(SuiteTestCase):

    def idle_session(self):
        c = self.smtp()
        c.ehlo()
        return c

    def data_session(self):
        c = self.smtp()
        c.ehlo()
        c.send(b"MAIL FROM:<a@example.org>\r\nRCPT TO:<b@example.com>\r\n"
               b"DATA\r\n")
        self.assertEqual([r.code for r in c.replies(3)], [250, 250, 354])
        c.send(b"Subject: in flight\r\n\r\nfirst part\r\n")
        return c

    def assertClosedOr421(self, c, within):
        """The server ends the session: a 421 and/or the connection closed."""
        self.assertTrue(c.closed_within(within),
                        "session still open %.1fs after SIGTERM" % within)
        if c.buf:
            self.assertRegex(c.buf, rb"^421 4\.3\.2 ")

    def test_seed34_graceful_stop_closes_idle_sessions_promptly(self):
        d = self.suite.start_smtpd()        # ShutDownMode absent: graceful
        c = self.idle_session()
        t0 = time.monotonic()
        d.signal(signal.SIGTERM)
        status = d.wait_exit(5)
        self.assertIsNotNone(status, "graceful stop with an idle session "
                             "did not finish within 5 s")
        self.assertEqual(status, 0)
        self.assertClosedOr421(c, 1)
        self.assertLess(time.monotonic() - t0, 5)
        self.assertIn("event=shutdown mode=graceful", d.log())

    def test_seed34_graceful_stop_answers_421_to_idle_session(self):
        d = self.suite.start_smtpd(CommandTimeout="60")
        c = self.idle_session()
        d.signal(signal.SIGTERM)
        wait_for(lambda: "event=shutdown" in d.log(), 5, what="shutdown")
        time.sleep(0.1)
        try:
            r = c.cmd("NOOP")
            self.assertTrue(r.last.startswith("421 4.3.2"), r)
        except SMTPClosed:
            pass                    # already closed: also fine
        self.assertTrue(c.closed_within(2))
        self.assertEqual(d.wait_exit(5), 0, "daemon did not exit")

    def test_seed34_graceful_stop_lets_a_message_in_data_finish(self):
        d = self.suite.start_smtpd(ShutDownMode="0")
        c = self.data_session()
        time.sleep(0.1)
        d.signal(signal.SIGTERM)
        wait_for(lambda: "event=shutdown" in d.log(), 5, what="shutdown")
        # No new sessions once stopping.
        try:
            with RawSMTP(self.suite.smtp_port, timeout=2) as n:
                self.assertEqual(n.greeting.code, 421, n.greeting)
        except (OSError, SMTPClosed):
            pass
        c.send(b"second part\r\n.\r\n")
        r = c.reply()
        self.assertTrue(r.qid(), r)
        try:
            r2 = c.cmd("QUIT")
            self.assertIn(r2.code, (221, 421), r2)
        except SMTPClosed:
            pass
        status = d.wait_exit(5)
        self.assertEqual(status, 0, d.log())
        self.assertStored(r.qid(),
                          b"Subject: in flight\r\n\r\nfirst part\r\n"
                          b"second part\r\n")

    def test_seed34_forced_stop_closes_sessions_at_once(self):
        d = self.suite.start_smtpd(ShutDownMode="1", CommandTimeout="60",
                                   DataTimeout="60")
        idle = self.idle_session()
        busy = self.data_session()
        time.sleep(0.1)
        t0 = time.monotonic()
        d.signal(signal.SIGTERM)
        self.assertTrue(busy.closed_within(2), "session in DATA not closed")
        self.assertTrue(idle.closed_within(2), "idle session not closed")
        status = d.wait_exit(3)
        self.assertIsNotNone(status, "forced stop took more than 3 s")
        self.assertLess(time.monotonic() - t0, 3)
        self.assertIn("event=shutdown mode=forced", d.log())
        self.assertNoIncoming()
        self.suite.start_smtpd()
        self.assertNoIncoming()
        self.assertEqual(self.suite.spool_files("tmp"), [])

    def test_sighup_does_not_stop_the_daemon(self):
        d = self.suite.start_smtpd()
        children = self.suite.smtpd_children()
        d.signal(signal.SIGHUP)
        time.sleep(0.3)
        self.assertTrue(d.running())
        self.assertEqual(self.suite.smtpd_children(), children)
        content = b"Subject: hup\r\n\r\nx\r\n"
        self.assertStored(self.deliver(content), content)

    def test_second_instance_refuses_to_start(self):
        d = self.suite.start_smtpd()
        second = self.suite.start("sekisho-smtpd")
        self.assertIsNotNone(second.wait_exit(5), "second instance runs")
        self.assertNotEqual(second.proc.returncode, 0)
        self.assertTrue(d.running())
        content = b"Subject: first\r\n\r\nx\r\n"
        self.assertStored(self.deliver(content), content)

    def test_seed34_restart_after_config_change_does_not_hang(self):
        d = self.suite.start_smtpd()
        q1 = self.deliver(b"Subject: before\r\n\r\nx\r\n")
        d.signal(signal.SIGTERM)
        self.assertEqual(d.wait_exit(5), 0, "stop hung")
        d.stop()
        t0 = time.monotonic()
        self.suite.start_smtpd(MaxRcptPerMsg="1")
        self.assertLess(time.monotonic() - t0, 5)
        c = self.smtp()
        c.ehlo()
        self.assertEqual(c.cmd("MAIL FROM:<a@example.org>").code, 250)
        self.assertEqual(c.cmd("RCPT TO:<b@example.com>").code, 250)
        self.assertEqual(c.cmd("RCPT TO:<c@example.com>").code, 452)
        self.assertStored(q1, b"Subject: before\r\n\r\nx\r\n")


if __name__ == "__main__":
    unittest.main()
