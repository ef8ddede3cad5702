"""Delivery through the mta: real downstream servers on loopback.

The downstream is smtpsink.Sink (a scriptable SMTP server in this
process) or dnsmasq for MX routing; sekisho-smtpd runs with
policy.ini [scan] enabled=0 so accepted mail goes straight to delivery.
"""

import email
import os
import re
import shutil
import signal
import smtplib
import socket
import subprocess
import time
import unittest

from harness import SuiteTestCase, free_port, is_root, wait_for
from smtpsink import Sink

BODY = ("Subject: delivery test\r\nFrom: alice@sender.test\r\n\r\n"
        "line one\r\n.leading dot\r\nlast line\r\n")


class DeliveryCase(SuiteTestCase):
    def sink(self, **kw):
        s = Sink(**kw).start()
        self.addCleanup(s.stop)
        return s

    def start_delivery(self, routes, **client):
        s = self.suite
        s.set("policy.ini", "scan", "enabled", "0")
        for dom, hop in routes.items():
            s.set("tsmtpd.ini", "Routes", dom, hop)
        s.set("tsmtpd.ini", "SmtpClient", "TlsPolicy", "none")
        s.set("tsmtpd.ini", "SmtpServer", "DefaultDomain", "sender.test")
        for k, v in client.items():
            s.set("tsmtpd.ini", "SmtpClient", k, str(v))
        return s.start_smtpd()

    def submit(self, sender, rcpts, body=BODY):
        c = smtplib.SMTP("127.0.0.1", self.suite.smtp_port, timeout=10)
        try:
            c.ehlo("client.test")
            c.sendmail(sender, rcpts, body)
        finally:
            c.quit()

    def queue_files(self):
        d = os.path.join(self.suite.data_dir, "spool", "queue")
        return sorted(os.listdir(d)) if os.path.isdir(d) else []

    def assertQueueEmpty(self, timeout=15):
        wait_for(lambda: not self.queue_files(), timeout,
                 what="an empty queue/ (left: %r)" % self.queue_files())

    def mta_pid(self):
        return self.suite.smtpd_children().get("smtpd.mta")


class TestDelivery(DeliveryCase):
    def test_delivered_bytes_and_envelope(self):
        sink = self.sink()
        self.start_delivery({"example.test": "127.0.0.1:%d" % sink.port})
        self.submit("alice@sender.test", ["bob@example.test",
                                          "carol@example.test"])
        tx = sink.wait_messages(1)[0]
        self.assertEqual(tx.mail_from, "<alice@sender.test>")
        self.assertEqual(sorted(tx.rcpt_to), ["bob@example.test",
                                              "carol@example.test"])
        self.assertTrue(tx.data.startswith(b"Received: from client.test"))
        # Dot-stuffing on the way out, undone by the sink: the body is
        # exactly what the client sent.
        self.assertTrue(tx.data.endswith(BODY.split("\r\n\r\n", 1)[1]
                                         .encode()), tx.data)
        self.assertIn(b"\r\nSubject: delivery test\r\n", tx.data)
        self.assertEqual(sink.errors, [])
        self.assertQueueEmpty()
        # The spool files go right after the last delivery is recorded.
        wait_for(lambda: "event=removed" in self.suite.smtpd.log(), 10,
                 what="event=removed")
        self.assertIn("event=delivered", self.suite.smtpd.log())

    def test_smart_host_takes_mail_without_a_route(self):
        sink = self.sink()
        local = self.sink()
        self.start_delivery({"routed.test": "127.0.0.1:%d" % local.port},
                            SmartHost="127.0.0.1:%d" % sink.port)
        self.submit("alice@sender.test", ["bob@anywhere.example",
                                          "carol@routed.test"])
        self.assertEqual(sink.wait_messages(1)[0].rcpt_to,
                         ["bob@anywhere.example"])
        # A route still wins over the smart host.
        self.assertEqual(local.wait_messages(1)[0].rcpt_to,
                         ["carol@routed.test"])
        self.assertQueueEmpty()

    def test_connection_reuse(self):
        sink = self.sink()
        self.start_delivery({"example.test": "127.0.0.1:%d" % sink.port},
                            ConnectionCacheSeconds=10)
        self.submit("alice@sender.test", ["bob@example.test"])
        sink.wait_messages(1)
        self.submit("alice@sender.test", ["carol@example.test"])
        msgs = sink.wait_messages(2)
        self.assertEqual(sink.connections, 1, msgs)
        self.assertEqual(msgs[0].conn_id, msgs[1].conn_id)

    def test_retry_after_temporary_failure(self):
        sink = self.sink()
        sink.data_reply = lambda n: "451 4.3.0 try again later" \
            if n == 1 else None
        self.start_delivery({"example.test": "127.0.0.1:%d" % sink.port},
                            RetryMinSeconds=1, ConnectionCacheSeconds=0)
        self.submit("alice@sender.test", ["bob@example.test"])
        msgs = sink.wait_messages(1, timeout=30)
        self.assertQueueEmpty()
        time.sleep(1.5)
        self.assertEqual(len(sink.messages), 1, "delivered once")
        log = self.suite.smtpd.log()
        self.assertIn("event=deferred", log)
        self.assertIn("451 4.3.0 try again later", log)
        self.assertEqual(msgs[0].rcpt_to, ["bob@example.test"])

    def test_one_recipient_rejected_sender_gets_one_ndr(self):
        sink = self.sink()
        sink.rcpt_reply = lambda addr, n: \
            "550 5.1.1 <bad@example.test>: no such user" \
            if addr.startswith("bad@") else None
        port = sink.port
        old_tz = os.environ.get("TZ")
        os.environ["TZ"] = "Asia/Tokyo"
        try:
            self.start_delivery({"example.test": "127.0.0.1:%d" % port,
                                 "sender.test": "127.0.0.1:%d" % port})
        finally:
            if old_tz is None:
                del os.environ["TZ"]
            else:
                os.environ["TZ"] = old_tz
        self.submit("alice@sender.test", ["good@example.test",
                                          "bad@example.test"])
        msgs = sink.wait_messages(2)
        good = [m for m in msgs if m.rcpt_to == ["good@example.test"]]
        ndr = [m for m in msgs if m.rcpt_to == ["alice@sender.test"]]
        self.assertEqual(len(good), 1, msgs)
        self.assertEqual(len(ndr), 1, msgs)
        self.assertEqual(ndr[0].mail_from, "<>")
        text = ndr[0].data.decode("utf-8", "replace")
        self.assertIn("multipart/report", text)
        self.assertIn("report-type=delivery-status", text)
        self.assertIn("bad@example.test", text)
        self.assertIn("550 5.1.1", text)
        self.assertNotIn("good@example.test\r\nAction", text)
        msg = email.message_from_bytes(ndr[0].data)
        # Seed 7: the configured subject, ASCII text sent unencoded.
        self.assertEqual(msg["Subject"], "Delivery Final Failure Notice")
        self.assertNotIn("base64", text.lower())
        self.assertIn("Can not deliver the message you sent. Will not "
                      "retry.", text)
        # Seed 2: local time with its offset, not GMT.
        self.assertTrue(msg["Date"].endswith("+0900"), msg["Date"])
        self.assertEqual(msg["Auto-Submitted"], "auto-replied")
        # Seed 35: never an empty address in To:.
        self.assertNotIn("<>", msg["To"])
        time.sleep(1)
        self.assertEqual(len(sink.messages), 2, "exactly one report")
        self.assertQueueEmpty()

    def test_seed11_null_sender_is_never_bounced(self):
        sink = self.sink()
        sink.rcpt_reply = lambda addr, n: "550 5.1.1 no such user" \
            if addr.startswith("bad@") else None
        port = sink.port
        self.start_delivery({"example.test": "127.0.0.1:%d" % port,
                             "sender.test": "127.0.0.1:%d" % port})
        self.submit("<>", ["bad@example.test"])
        msgs = sink.wait_messages(1)
        # The failure goes to the postmaster as a double bounce, not to <>.
        self.assertEqual(msgs[0].rcpt_to, ["postmaster@sender.test"])
        self.assertEqual(msgs[0].mail_from, "<>")
        time.sleep(1)
        self.assertEqual(len(sink.messages), 1)
        for m in sink.messages:
            self.assertNotIn("", m.rcpt_to)
        self.assertQueueEmpty()

    def test_maildir_route_delivers_atomically(self):
        md = os.path.join(self.suite.dir, "maildir")
        self.start_delivery({"local.test": "maildir:%s" % md})
        self.submit("alice@sender.test", ["bob@local.test"])
        new = os.path.join(md, "bob@local.test", "new")
        wait_for(lambda: os.path.isdir(new) and os.listdir(new), 15,
                 what="a file in %s" % new)
        # tmp/ is emptied once the link into new/ is made (Maildir's
        # link-then-unlink), and a file in new/ is always complete.
        wait_for(lambda: os.listdir(os.path.join(md, "bob@local.test",
                                                 "tmp")) == [], 10,
                 what="tmp/ empty")
        f = os.listdir(new)[0]
        with open(os.path.join(new, f), "rb") as fp:
            data = fp.read()
        self.assertTrue(data.startswith(b"Return-Path: <alice@sender.test>"),
                        data[:200])
        self.assertIn(b"Delivered-To: bob@local.test", data)
        self.assertIn(b"\r\n.leading dot\r\n", data)
        self.assertQueueEmpty()

    def test_unreachable_next_hop_defers(self):
        port = free_port()      # nobody listens there
        self.start_delivery({"example.test": "127.0.0.1:%d" % port},
                            RetryMinSeconds=60)
        self.submit("alice@sender.test", ["bob@example.test"])
        wait_for(lambda: "event=deferred" in self.suite.smtpd.log(), 20,
                 what="a deferral")
        self.assertEqual(len(self.queue_files()), 2)    # .msg and .env
        env = [f for f in self.queue_files() if f.endswith(".env")][0]
        path = os.path.join(self.suite.data_dir, "spool", "queue", env)

        def recorded():
            with open(path) as fp:
                return re.search(r"rstate 0 pending 1 \d+ 0 4\.", fp.read())
        # The envelope is rewritten right after the attempt is logged.
        wait_for(recorded, 10, what="the attempt recorded in " + path)

    def test_mta_killed_mid_delivery_loses_nothing(self):
        sink = self.sink()

        def slow(n):
            if n == 1:
                time.sleep(4)
            return None
        sink.data_reply = slow
        self.start_delivery({"example.test": "127.0.0.1:%d" % sink.port},
                            RetryMinSeconds=1)
        self.submit("alice@sender.test", ["bob@example.test"])
        wait_for(lambda: sink._data_calls >= 1, 15, what="DATA at the sink")
        pid = self.mta_pid()
        self.assertIsNotNone(pid)
        os.kill(pid, signal.SIGKILL)
        self.suite.smtpd.wait_exit(15)
        self.suite.start_smtpd()
        msgs = sink.wait_messages(1, timeout=30)
        self.assertTrue(any(m.rcpt_to == ["bob@example.test"] for m in msgs))
        self.assertQueueEmpty(30)


@unittest.skipUnless(shutil.which("dnsmasq") and is_root(),
                     "needs dnsmasq and root (MX hosts listen on port 25)")
class TestMxRouting(DeliveryCase):
    """Seed 20: MaxDNSMxToTry against a real DNS server on loopback."""

    def run_mx(self, max_mx):
        # mx1 and mx2 refuse connections; mx3 is a sink on port 25.
        try:
            sink = Sink(host="127.0.0.13", port=25).start()
        except OSError as e:
            self.skipTest("port 25 on 127.0.0.13: %s" % e)
        self.addCleanup(sink.stop)
        port = self.suite.start_dnsmasq([
            "--mx-host=mx.test,mx1.mx.test,10",
            "--mx-host=mx.test,mx2.mx.test,20",
            "--mx-host=mx.test,mx3.mx.test,30",
            "--host-record=mx1.mx.test,127.0.0.11",
            "--host-record=mx2.mx.test,127.0.0.12",
            "--host-record=mx3.mx.test,127.0.0.13"])
        self.start_delivery({}, DnsServers="127.0.0.1:%d" % port,
                            MaxDNSMxToTry=max_mx, RetryMinSeconds=60)
        self.submit("alice@sender.test", ["bob@mx.test"])
        return sink

    def test_seed20_max_dns_mx_to_try_limits_hosts(self):
        sink = self.run_mx(2)
        wait_for(lambda: "event=deferred" in self.suite.smtpd.log(), 20,
                 what="a deferral after two MX hosts")
        self.assertEqual(sink.connections, 0)

    def test_seed20_third_mx_tried_when_allowed(self):
        sink = self.run_mx(3)
        msgs = sink.wait_messages(1)
        self.assertEqual(msgs[0].rcpt_to, ["bob@mx.test"])
