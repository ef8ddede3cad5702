"""Durability (DESIGN.md section 4, issue 3): a message is acknowledged
with 250 only once it is on disk.  SIGKILL of the queue process, or of
the whole daemon, right after a 250 loses nothing: after a restart every
acknowledged message is in spool/incoming, intact, with a valid
envelope.  A message whose client died mid-body leaves nothing behind."""

import os
import re
import signal
import subprocess
import sys
import threading
import time
import unittest

from harness import (RawSMTP, SMTPClosed, SuiteTestCase, dot_stuff,
                     pid_alive, wait_for)

N = 4


def content(i):
    # Distinct, a few hundred KB, with lines that need dot-stuffing.
    line = b".%04d durability test line abcdefghijklmnopqrstuvwxyz\r\n" % i
    return (b"Subject: durable %d\r\nMessage-ID: <d%d@example.org>\r\n\r\n"
            % (i, i)) + line * (4000 + 500 * i)


class DurabilityTest(SuiteTestCase):

    def send_and_ack(self, i):
        """Send message i; returns its qid the moment the 250 is read."""
        c = RawSMTP(self.suite.smtp_port)
        self.addCleanup(c.close)
        r = c.send_mail("s%d@example.org" % i,
                        ["r%d@example.com" % i, "x%d@example.net" % i],
                        dot_stuff(content(i)))
        qid = r.qid()
        self.assertTrue(qid, r)
        return qid, c

    def check_all(self, acked):
        msgs = {q: (env, msg) for q, env, msg in self.suite.incoming()}
        for i, qid in acked.items():
            self.assertIn(qid, msgs, "acknowledged message %s lost" % qid)
            env, _ = self.assertStored(
                qid, content(i), sender="s%d@example.org" % i,
                rcpts=["r%d@example.com" % i, "x%d@example.net" % i])
        self.assertEqual(sorted(msgs), sorted(acked.values()),
                         "exactly the acknowledged messages")
        self.assertEqual(self.suite.spool_files("tmp"), [])

    def wait_gone(self, pids, timeout=10):
        wait_for(lambda: not any(pid_alive(p) for p in pids), timeout,
                 what="processes %s gone" % pids)

    def commit_sizes(self, group_commit):
        """Send 2*N messages from N parallel sessions; the sizes of the
        queue's commits (its debug log)."""
        d = self.suite.start_smtpd(args=("-v",), GroupCommit=group_commit)
        errors = []

        def client(i):
            try:
                for j in (i, i + N):
                    self.send_and_ack(j)
            except Exception as e:      # reported below
                errors.append(e)
        threads = [threading.Thread(target=client, args=(i,))
                   for i in range(N)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
        self.assertEqual(errors, [])
        self.assertEqual(len(self.suite.incoming()), 2 * N)
        return [int(n) for n in re.findall(r"event=group-commit n=(\d+) "
                                           r"ok=1", d.log())]

    def test_group_commit_off_commits_each_message_alone(self):
        """GroupCommit=0 (docs/spool.md): every message its own commit."""
        sizes = self.commit_sizes("0")
        self.assertEqual(sizes, [1] * (2 * N))

    def test_group_commit_shares_commits(self):
        """GroupCommit=1: each message in exactly one commit; parallel
        sessions may share one (how many is up to the timing)."""
        sizes = self.commit_sizes("1")
        self.assertEqual(sum(sizes), 2 * N)

    def test_sigkill_queue_process_after_each_250(self):
        acked = {}
        d = self.suite.start_smtpd()
        for i in range(N):
            qid, c = self.send_and_ack(i)
            children = self.suite.smtpd_children(d)
            q = children["smtpd.queue"]
            os.kill(q, signal.SIGKILL)
            acked[i] = qid
            # A child that dies stops the whole daemon.
            status = d.wait_exit(10)
            self.assertIsNotNone(status, "daemon did not stop after its "
                                 "queue process died")
            self.assertNotEqual(status, 0)
            self.wait_gone([d.pid] + list(children.values()))
            c.close()
            d = self.suite.start_smtpd()
            self.assertIn("recovered=%d" % (i + 1), d.log())
        self.check_all(acked)
        # Queue ids stay unique and increasing across restarts.
        later = self.deliver(b"Subject: after\r\n\r\nx\r\n")
        self.assertGreater(later, max(acked.values()))

    def test_sigkill_whole_daemon_after_each_250(self):
        acked = {}
        d = self.suite.start_smtpd()
        for i in range(N):
            qid, c = self.send_and_ack(i)
            pids = [d.pid] + list(self.suite.smtpd_children(d).values())
            for p in pids:
                os.kill(p, signal.SIGKILL)
            acked[i] = qid
            self.wait_gone(pids)
            d.stop()
            c.close()
            d = self.suite.start_smtpd()
            self.assertIn("recovered=%d" % (i + 1), d.log())
        self.check_all(acked)

    def start_dying_client(self, size):
        """A separate client process that sends part of a message body and
        then waits to be killed."""
        prog = r'''
import socket, sys, time
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
f = s.makefile("rb")
def reply():
    while True:
        ln = f.readline()
        if ln[3:4] != b"-":
            return ln
reply()
for cmd in (b"EHLO dying.example", b"MAIL FROM:<dying@example.org>",
            b"RCPT TO:<b@example.com>", b"DATA"):
    s.sendall(cmd + b"\r\n")
    r = reply()
s.sendall(b"Subject: never finished\r\n\r\n" + b"y" * 78 * int(sys.argv[2])
          + b"\r\n")
print("sent", r.decode().strip(), flush=True)
time.sleep(60)
'''
        p = subprocess.Popen([sys.executable, "-c", prog,
                              str(self.suite.smtp_port), str(size)],
                             stdout=subprocess.PIPE, text=True)
        self.addCleanup(p.kill)
        line = p.stdout.readline()
        self.assertTrue(line.startswith("sent 354"), line)
        return p

    def test_client_killed_mid_body_leaves_nothing(self):
        d = self.suite.start_smtpd()
        keep = self.deliver(b"Subject: keep\r\n\r\nkept\r\n")
        p = self.start_dying_client(5000)
        wait_for(lambda: self.suite.spool_files("tmp"), 5,
                 what="the unfinished message in spool/tmp")
        p.kill()
        p.wait()
        # The session ends and its unfinished file goes away.
        self.assertSpoolClean()
        self.assertEqual([q for q, _, _ in self.suite.incoming()], [keep])
        self.assertTrue(d.running())
        # And after a restart nothing appears either.
        self.suite.stop_smtpd()
        self.suite.start_smtpd()
        self.assertEqual([q for q, _, _ in self.suite.incoming()], [keep])
        self.assertSpoolClean()

    def test_queue_killed_during_data_no_250(self):
        # The 250 depends on the queue's commit: without a queue, the
        # client must never be told its message is safe.
        d = self.suite.start_smtpd()
        c = self.smtp()
        c.ehlo()
        c.send(b"MAIL FROM:<a@example.org>\r\nRCPT TO:<b@example.com>\r\n"
               b"DATA\r\n")
        self.assertEqual([r.code for r in c.replies(3)], [250, 250, 354])
        c.send(b"Subject: orphan\r\n\r\nbody\r\n")
        wait_for(lambda: self.suite.spool_files("tmp"), 5,
                 what="the unfinished message in spool/tmp")
        children = self.suite.smtpd_children(d)
        os.kill(children["smtpd.queue"], signal.SIGKILL)
        time.sleep(0.2)
        try:
            c.send(b".\r\n")
            r = c.reply(timeout=10)
            self.assertNotEqual(r.code, 250, r)
        except (SMTPClosed, OSError):
            pass
        self.assertIsNotNone(d.wait_exit(10))
        self.wait_gone([d.pid] + list(children.values()))
        d.stop()
        self.suite.start_smtpd()
        self.assertEqual(self.suite.incoming(), [])
        self.assertEqual(self.suite.spool_files("tmp"), [])

    def test_daemon_killed_while_a_body_arrives_leaves_nothing(self):
        d = self.suite.start_smtpd()
        keep = self.deliver(b"Subject: keep\r\n\r\nkept\r\n")
        p = self.start_dying_client(5000)
        wait_for(lambda: self.suite.spool_files("tmp"), 5,
                 what="the unfinished message in spool/tmp")
        pids = [d.pid] + list(self.suite.smtpd_children(d).values())
        for pid in pids:
            os.kill(pid, signal.SIGKILL)
        self.wait_gone(pids)
        p.kill()
        d.stop()
        self.suite.start_smtpd()
        self.assertEqual([q for q, _, _ in self.suite.incoming()], [keep])
        self.assertEqual(self.suite.spool_files("tmp"), [],
                         "recovery removes unfinished messages")
        self.assertStored(keep, b"Subject: keep\r\n\r\nkept\r\n")


if __name__ == "__main__":
    unittest.main()
