"""Hostile and unusual input to the SMTP front end (issue 3): the daemon
answers, stores correctly or refuses cleanly, and keeps serving."""

import smtplib
import socket
import threading
import time
import unittest

from harness import (RawSMTP, SuiteTestCase, data_model, free_port,
                     split_received, wait_for)


class RobustnessTest(SuiteTestCase):

    def setUp(self):
        super().setUp()
        self.suite.start_smtpd(RecvBufferSize="512")

    def assertServing(self):
        self.assertTrue(self.suite.smtpd.running())
        content = b"Subject: still serving\r\n\r\nok\r\n"
        self.assertStored(self.deliver(content), content)

    def test_body_line_much_longer_than_the_receive_buffer(self):
        line = b"".join(b"%07d," % i for i in range(25000))      # 200 KB
        content = (b"Subject: long line\r\n\r\n" + line + b"\r\n" +
                   b"." + line[:3000] + b"\r\nend\r\n")
        qid = self.deliver(content)
        self.assertStored(qid, content)

    def test_terminator_split_at_every_position(self):
        c = self.smtp()
        c.ehlo()
        c.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        qids = []
        for cut in range(1, 5):
            r = c.cmd("MAIL FROM:<a@example.org>")
            self.assertEqual(r.code, 250, r)
            self.assertEqual(c.cmd("RCPT TO:<b@example.com>").code, 250)
            self.assertEqual(c.cmd("DATA").code, 354)
            data = b"Subject: cut %d\r\n\r\nx\r\n.\r\n" % cut
            head, tail = data[:-cut], data[-cut:]
            c.send(head)
            time.sleep(0.05)
            self.assertTrue(c.nothing_within(0.05))
            c.send(tail)
            r = c.reply()
            self.assertTrue(r.qid(), r)
            qids.append((r.qid(), data_model(data)[0]))
        for qid, want in qids:
            self.assertStored(qid, want)

    def test_nul_and_control_bytes_in_commands(self):
        c = self.smtp()
        c.ehlo()
        r = c.cmd(b"MAIL FROM:<a\x00b@example.org>")
        self.assertEqual(r.code // 100, 5, r)
        r = c.cmd(b"NO\x00OP")
        self.assertEqual(r.code // 100, 5, r)
        r = c.cmd(b"RCPT TO:<b@exa\x7fmple.com>")
        self.assertEqual(r.code // 100, 5, r)
        self.assertEqual(c.cmd("NOOP").code, 250)
        self.assertNotIn("\x00", self.suite.smtpd.log())
        self.assertServing()

    def test_log_cannot_be_forged_through_helo(self):
        c = self.smtp()
        c.cmd(b"EHLO evil\revent=forged ip=6.6.6.6")
        c.cmd(b"EHLO a event=forged2")
        self.assertEqual(c.cmd("QUIT").code, 221)
        time.sleep(0.1)
        for ln in self.suite.smtpd.log().splitlines():
            self.assertFalse(ln.startswith("event=forged"), ln)
            self.assertNotRegex(ln, r" event=forged2( |$)")

    def test_bad_mail_parameters(self):
        c = self.smtp()
        c.ehlo()
        for cmd in ("MAIL FROM:<a@example.org> SIZE=99999999999999999999999",
                    "MAIL FROM:<a@example.org> SIZE=-1",
                    "MAIL FROM:<a@example.org> SIZE=",
                    "MAIL FROM:<a@example.org> BODY=9BIT",
                    "MAIL FROM:<a@example.org> NOSUCH=1",
                    "MAIL FROM:a@example.org>",
                    "MAIL FROM:<a@example.org",
                    "MAIL FROM:",
                    "MAIL TO:<a@example.org>"):
            r = c.cmd(cmd)
            self.assertEqual(r.code // 100, 5, (cmd, r))
        self.assertEqual(c.cmd("MAIL FROM:<a@example.org> SIZE=100 "
                               "BODY=8BITMIME").code, 250)
        self.assertEqual(c.cmd("RSET").code, 250)
        self.assertServing()

    def test_8bitmime_and_smtputf8_are_recorded(self):
        c = self.smtp()
        c.ehlo()
        content = "Subject: ü\r\n\r\n日本語\r\n".encode()
        r = c.cmd("MAIL FROM:<a@example.org> BODY=8BITMIME")
        self.assertEqual(r.code, 250, r)
        self.assertEqual(c.cmd("RCPT TO:<b@example.com>").code, 250)
        self.assertEqual(c.cmd("DATA").code, 354)
        c.send(content + b".\r\n")
        q1 = c.reply().qid()
        r = c.cmd("MAIL FROM:<ålice@exämple.org> SMTPUTF8")
        self.assertEqual(r.code, 250, r)
        self.assertEqual(c.cmd("RCPT TO:<bøb@example.com>").code, 250)
        self.assertEqual(c.cmd("DATA").code, 354)
        c.send(content + b".\r\n")
        q2 = c.reply().qid()
        env1, _ = self.assertStored(q1, content)
        self.assertEqual(env1.get("body"), "8bitmime")
        env2, _ = self.assertStored(q2, content, sender="ålice@exämple.org",
                                    rcpts=["bøb@example.com"])
        self.assertEqual(env2.get("smtputf8"), "1")
        # Without SMTPUTF8 a UTF-8 address is refused.
        r = c.cmd("MAIL FROM:<ålice@exämple.org>")
        self.assertEqual(r.code // 100, 5, r)

    def test_plaintext_client_on_smtps_port(self):
        with socket.create_connection(("127.0.0.1", self.suite.smtps_port),
                                      5) as s:
            s.sendall(b"EHLO plain.example\r\nMAIL FROM:<a@example.org>\r\n")
            s.settimeout(5)
            try:
                while s.recv(4096):
                    pass
            except (ConnectionResetError, socket.timeout, TimeoutError):
                pass
        self.assertServing()

    def test_client_vanishes_during_tls_handshake(self):
        c = self.smtp()
        c.ehlo()
        self.assertEqual(c.cmd("STARTTLS").code, 220)
        c.send(b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03")  # half hello
        c.abort()
        with socket.create_connection(("127.0.0.1", self.suite.smtps_port),
                                      5) as s:
            s.sendall(b"\x16\x03\x01\x00\x05garbage")
        self.assertServing()

    def test_starttls_on_smtps_is_refused(self):
        with RawSMTP(self.suite.smtps_port, tls=True) as c:
            c.ehlo()
            self.assertEqual(c.cmd("STARTTLS").code, 503)

    def test_many_parallel_sessions(self):
        n, per = 20, 3
        results, errors = [], []
        lock = threading.Lock()

        def client(k):
            try:
                with smtplib.SMTP("127.0.0.1", self.suite.smtp_port,
                                  timeout=20) as s:
                    s.ehlo()
                    for j in range(per):
                        body = b"Subject: p %d %d\r\n\r\n%s\r\n" % (
                            k, j, b"z" * (1000 * (k + 1)))
                        s.mail("p%d@example.org" % k)
                        s.rcpt("r%d@example.com" % j)
                        code, msg = s.data(body)
                        with lock:
                            results.append((code, msg, body))
            except Exception as e:          # reported below
                with lock:
                    errors.append(repr(e))
        threads = [threading.Thread(target=client, args=(k,))
                   for k in range(n)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
        self.assertEqual(errors, [])
        self.assertEqual(len(results), n * per)
        stored = {q: m for q, _, m in self.suite.incoming()}
        self.assertEqual(len(stored), n * per)
        for code, msg, body in results:
            self.assertEqual(code, 250, msg)
            qid = msg.decode().rsplit(" ", 1)[1]
            self.assertEqual(split_received(stored[qid])[1], body)


class IPv6Test(SuiteTestCase):

    def test_ipv6_client(self):
        port = free_port(socket.AF_INET6, "::1")
        self.suite.smtp_port = port
        self.suite.smtps_port = free_port(socket.AF_INET6, "::1")
        self.suite.smtpd_config(BindAddress="::1", Port=port,
                                SmtpsPort=self.suite.smtps_port)
        d = self.suite.start("sekisho-smtpd")
        self.suite.smtpd = d
        wait_for(lambda: "event=queue-ready" in d.log() or not d.running(),
                 10, what="smtpd start")

        def greet():
            try:
                with smtplib.SMTP("::1", port, timeout=2) as s:
                    return s.noop()[0] == 250
            except OSError:
                return False
        wait_for(greet, 10, what="greeting on ::1")
        content = b"Subject: v6\r\n\r\nhi\r\n"
        with smtplib.SMTP("::1", port, local_hostname="v6.example",
                          timeout=10) as s:
            s.ehlo()
            s.mail("a@example.org")
            s.rcpt("b@other.example")      # ::1 is a relay network
            code, msg = s.data(content)
        self.assertEqual(code, 250, msg)
        qid = msg.decode().rsplit(" ", 1)[1]
        env, received = self.assertStored(qid, content)
        self.assertIn(b"[IPv6:::1]", received)
        self.assertEqual(env.get("client-ip"), "::1")


if __name__ == "__main__":
    unittest.main()
