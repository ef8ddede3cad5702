"""Message tracking log (seed 26): events recorded by the queue, queried
with sekishoctl log query by queue id, sender, recipient, event kind,
time and as per-recipient outcomes."""

import json
import re
import smtplib
import time

from harness import wait_for
from test_delivery import DeliveryCase, BODY


class TestTracking(DeliveryCase):
    def send(self, sender, rcpts, subject="tracked"):
        c = smtplib.SMTP("127.0.0.1", self.suite.smtp_port, timeout=10)
        try:
            c.ehlo("client.test")
            c.mail(sender)
            for r in rcpts:
                c.rcpt(r)
            code, resp = c.data(("Subject: %s\r\n\r\nbody\r\n" % subject)
                                .encode())
        finally:
            c.quit()
        self.assertEqual(code, 250)
        return re.search(rb"queued as ([0-9a-f]{16})", resp).group(1).decode()

    def query(self, *args, json_out=False, expect=0):
        argv = ["-c", self.suite.confdir] + (["--json"] if json_out else [])
        r = self.suite.run("sekishoctl", *argv, "log", "query", *args)
        self.assertEqual(r.returncode, expect, r.stderr)
        if json_out:
            return [json.loads(ln) for ln in r.stdout.splitlines()]
        return r.stdout

    def setUp(self):
        super().setUp()
        self.sink_ = self.sink()
        self.sink_.rcpt_reply = lambda a, n: "550 5.1.1 no such user" \
            if a.startswith("bad@") else None
        port = self.sink_.port
        self.start_delivery({"example.test": "127.0.0.1:%d" % port,
                             "sender.test": "127.0.0.1:%d" % port})
        self.before = int(time.time()) - 1
        self.q1 = self.send("alice@sender.test", ["bob@example.test"],
                            "first message")
        self.q2 = self.send("carol@sender.test", ["bad@example.test"],
                            "second message")
        self.sink_.wait_messages(2)         # bob's copy and carol's NDR
        self.assertQueueEmpty()
        # Events are written at the end of the queue's loop turn.
        wait_for(lambda: "removed" in self.query("--qid", self.q2,
                                                  "--event", "removed"),
                 10, what="the tracking log caught up")

    def test_seed26_query_by_queue_id(self):
        rows = self.query("--qid", self.q1, "--oldest", json_out=True)
        kinds = [r["event"] for r in rows]
        self.assertEqual(kinds[0], "received")
        self.assertIn("delivered", kinds)
        self.assertEqual(kinds[-1], "removed")
        self.assertTrue(all(r["qid"] == self.q1 for r in rows))
        d = [r for r in rows if r["event"] == "delivered"][0]
        self.assertEqual(d["rcpt"], "bob@example.test")
        self.assertTrue(d["dsn"].startswith("2."))

    def test_seed26_query_by_sender_and_recipient(self):
        rows = self.query("--from", "carol@", json_out=True)
        self.assertTrue(rows)
        self.assertTrue({r["qid"] for r in rows} <= {self.q2}, rows)
        rows = self.query("--to", "bad@example.test", "--event", "bounced",
                          json_out=True)
        self.assertEqual(len(rows), 1)
        self.assertEqual(rows[0]["qid"], self.q2)
        self.assertEqual(rows[0]["dsn"], "5.1.1")
        self.assertIn("550 5.1.1", rows[0]["detail"])

    def test_seed26_query_by_event_time_and_limit(self):
        rows = self.query("--event", "ndr_sent", json_out=True)
        self.assertEqual([r["qid"] for r in rows], [self.q2])
        self.assertEqual(len(self.query("--event", "received", "--limit",
                                        "1", json_out=True)), 1)
        self.assertEqual(self.query("--until", str(self.before),
                                    json_out=True), [])
        self.assertTrue(self.query("--since", str(self.before),
                                   json_out=True))

    def test_seed26_message_outcomes(self):
        out = self.query("--messages", "--qid", self.q1, json_out=True)
        # One line per recipient, one for the message as a whole.
        per_rcpt = [o for o in out if o["rcpt"] is not None]
        whole = [o for o in out if o["rcpt"] is None]
        self.assertEqual(len(per_rcpt), 1, out)
        self.assertEqual(per_rcpt[0]["rcpt"], "bob@example.test")
        self.assertEqual(per_rcpt[0]["outcome"], "delivered")
        self.assertEqual([o["outcome"] for o in whole], ["removed"])
        text = self.query("--messages", "--to", "bad@")
        self.assertIn(self.q2, text)
        self.assertIn("bounced", text)

    def test_bad_filter_is_a_usage_error(self):
        self.query("--since", "not-a-time", expect=2)
        self.query("--event", "nonsense", expect=2)
