"""sekisho-manager and sekishoctl's service commands (issue 9; seed 34).

The manager starts every service program it finds in its bin directory,
restarts one that dies (with backoff) and leaves the others alone, stops
and restarts one on request, and kills one that is still stopping after
[imss_manager] service_stop_timeout (150 s by default, seed 34; a few
seconds here).  sekishoctl status/start/stop/restart/reload talk to it
over <run_dir>/manager.sock.  Mail to @localhost is delivered to the
Maildir <suite>/maildir through the real scanner.
"""

import email
import email.utils
import json
import os
import pwd
import signal
import stat
import subprocess
import time
import unittest

from harness import (RawSMTP, SMTPClosed, SuiteTestCase, is_root,
                     pid_alive, proc_status, wait_for)
from smtpsink import Sink

REAL = ("smtpd", "scanner", "ipprofiler")

# A service that ignores SIGTERM (seed 34: it must be killed at the limit).
STUBBORN = """#!/bin/sh
trap '' TERM
echo "stubborn $$ ignores SIGTERM: $*"
while :; do sleep 0.1; done
"""

# A service that fails at once, every time (backoff).
CRASHING = """#!/bin/sh
echo "crashing $$"
sleep 0.2
exit 3
"""


def fds(pid):
    """{fd number: what it refers to} of a process."""
    d = "/proc/%d/fd" % pid
    out = {}
    for n in os.listdir(d):
        try:
            out[int(n)] = os.readlink(os.path.join(d, n))
        except OSError:
            pass
    return out


def group_members(pgid):
    """The live (not zombie) processes of process group pgid."""
    out = []
    for n in os.listdir("/proc"):
        if not n.isdigit():
            continue
        try:
            with open("/proc/%s/stat" % n) as f:
                st = f.read()
        except OSError:
            continue
        f = st[st.rindex(")") + 2:].split()
        if f[0] != "Z" and int(f[2]) == pgid:
            out.append(int(n))
    return out


def group_alive(pgid):
    """Whether anything of process group pgid still runs (a killed
    process may take a moment to go)."""
    try:
        wait_for(lambda: not group_members(pgid), 2.0)
        return False
    except AssertionError:
        return True


class ManagerCase(SuiteTestCase):

    def setUp(self):
        super().setUp()
        s = self.suite
        self.md = os.path.join(s.dir, "maildir")
        s.set("tsmtpd.ini", "SmtpClient", "TlsPolicy", "none")
        # A message whose scan was cut short is scanned again soon.
        s.set("policy.ini", "scan", "scan_retry_seconds", "1")
        s.set("policy.ini", "scan", "workers", "2")
        # No system event notices (to postmaster@<host>) in the way of
        # the supervision tests; TestManagerNotify turns them on.
        s.set("imss.ini", "imss_manager", "notify_interval_mins", "0")

    def ctl(self, *args, timeout=60):
        return self.suite.run("sekishoctl", "-c", self.suite.confdir, *args,
                              timeout=timeout)

    def ctl_bg(self, *args):
        """sekishoctl in the background (a restart that waits)."""
        p = subprocess.Popen([self.suite.bin("sekishoctl"), "-c",
                              self.suite.confdir] + list(args),
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                             text=True)
        self.addCleanup(lambda: p.poll() is None and p.kill())
        return p

    def status(self):
        """{service: its status entry} from sekishoctl --json status."""
        r = self.ctl("--json", "status")
        self.assertEqual(r.returncode, 0, r.stderr)
        return {e["service"]: e for e in json.loads(r.stdout)}

    def send(self, subject, rcpt="bob@localhost"):
        content = ("Subject: %s\r\nMessage-ID: <%s@t>\r\n\r\nhello\r\n"
                   % (subject, time.time_ns())).encode()
        return self.deliver(content, rcpts=(rcpt,))

    def mailbox(self, rcpt="bob@localhost"):
        d = os.path.join(self.md, rcpt, "new")
        if not os.path.isdir(d):
            return []
        out = []
        for n in sorted(os.listdir(d)):
            with open(os.path.join(d, n), "rb") as f:
                out.append(f.read())
        return out

    def wait_subjects(self, subjects, timeout=30):
        def have():
            box = b"".join(self.mailbox())
            return all(("Subject: %s\r\n" % s).encode() in box
                       for s in subjects)
        wait_for(have, timeout, what="delivery of %s" % (subjects,))

    def assertNoZombies(self, ppid):
        for n in os.listdir("/proc"):
            if not n.isdigit():
                continue
            try:
                with open("/proc/%s/stat" % n) as f:
                    st = f.read()
            except OSError:
                continue
            f = st[st.rindex(")") + 2:].split()
            self.assertFalse(f[0] == "Z" and int(f[1]) == ppid,
                             "zombie child %s of the manager" % n)


class TestManager(ManagerCase):

    def test_starts_every_service_and_status_shows_pid_user_uptime(self):
        s = self.suite
        m = s.start_manager(service_stop_timeout=10)
        st = self.status()
        self.assertEqual(sorted(st), sorted(REAL))  # euq is not built yet
        me = pwd.getpwuid(os.geteuid()).pw_name
        for name in REAL:
            e = st[name]
            self.assertEqual(e["state"], "running", e)
            self.assertTrue(pid_alive(e["pid"]), e)
            self.assertIsInstance(e["uptime"], int)
            self.assertGreaterEqual(e["uptime"], 0)
            self.assertEqual(e["restarts"], 0)
            self.assertTrue(e["enabled"])
            self.assertEqual(e["log"], s.service_log_path(name))
            self.assertTrue(os.path.exists(e["log"]))
            # A child of the manager, in a session of its own.
            self.assertEqual(int(proc_status(e["pid"])["PPid"]), m.pid)
            self.assertEqual(os.getsid(e["pid"]), e["pid"])
        if is_root():
            self.assertEqual(st["smtpd"]["users"][0], "root")
            self.assertEqual(sorted(st["smtpd"]["users"][1:]),
                             ["_sekisho-queue", "_sekisho-smtpd"])
            self.assertEqual(st["scanner"]["users"], ["_sekisho-scan"])
            self.assertEqual(st["ipprofiler"]["users"], ["_sekisho-ipp"])
        else:
            for name in REAL:
                self.assertEqual(st[name]["users"], [me])
            self.assertIn("event=development-mode", m.log())
        r = self.ctl("status")
        self.assertEqual(r.returncode, 0, r.stderr)
        lines = r.stdout.splitlines()
        self.assertRegex(lines[0], r"^SERVICE\s+STATE\s+PID\s+UPTIME\s+"
                         r"RESTARTS\s+USER$")
        for name in REAL:
            self.assertRegex(r.stdout, r"(?m)^%s\s+running\s+%d\s+\d+s\s+0\s+"
                             % (name, st[name]["pid"]))
        self.assertEqual(lines[-1], "3 services")
        one = self.ctl("--json", "status", "scanner")
        self.assertEqual([e["service"] for e in json.loads(one.stdout)],
                         ["scanner"])
        # The control socket: 0600, our own user.
        sock = os.stat(os.path.join(s.run_dir, "manager.sock"))
        self.assertEqual(stat.S_IMODE(sock.st_mode), 0o600)
        self.assertEqual(sock.st_uid, os.geteuid())
        # No descriptor of the manager leaks into a service: they share
        # only /dev/null and the service's own log pipe.  (Services are
        # not dumpable: only root may read their /proc/PID/fd.)
        mine = set(fds(m.pid).values())
        for name in REAL if is_root() else ():
            theirs = fds(st[name]["pid"])
            # (anon_inode names, e.g. an epoll, do not identify one.)
            shared = {t for t in set(theirs.values()) & mine
                      if t != "/dev/null" and not t.startswith("anon_inode:")}
            self.assertEqual(shared, {theirs[1]}, name)
            self.assertEqual(theirs[1], theirs[2])
        # The services log into their files.
        self.assertIn("event=start prog=sekisho-smtpd",
                      s.service_log("smtpd"))
        # Mail goes through.
        self.send("through the manager")
        self.wait_subjects(["through the manager"])
        # A second manager refuses to start.
        second = s.start("sekisho-manager")
        self.assertIsNotNone(second.wait_exit(5), "a second manager runs")
        self.assertNotEqual(second.proc.returncode, 0)

    def test_reload_signals_services_and_follows_services_key(self):
        s = self.suite
        m = s.start_manager(service_stop_timeout=10)
        before = self.status()
        # A change the scanner reloads (TestManagerReload: who gets what).
        s.set("policy.ini", "scan", "max_text_kb", "2048")
        m.signal(signal.SIGHUP)
        wait_for(lambda: "event=reloaded" in s.service_log("scanner"), 10,
                 what="scanner reloaded on the manager's SIGHUP")
        r = self.ctl("reload")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("restarted: none; SIGHUP sent to: none; unchanged: "
                      "smtpd, scanner, ipprofiler", r.stdout)
        # Take the IP profiler out of the services: reload stops it.
        s.set("imss.ini", "imss_manager", "services", "smtpd, scanner")
        r = self.ctl("--json", "reload")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertTrue(json.loads(r.stdout)["ok"])
        wait_for(lambda: self.status()["ipprofiler"]["state"] == "stopped",
                 10, what="ipprofiler stopped")
        self.assertFalse(pid_alive(before["ipprofiler"]["pid"]))
        self.assertRegex(self.ctl("status").stdout,
                         r"(?m)^ipprofiler\s+disabled\s+-")
        r = self.ctl("start", "ipprofiler")
        self.assertEqual(r.returncode, 1)
        self.assertIn("not enabled", r.stderr)
        # An invalid configuration keeps the running one.
        s.set("imss.ini", "imss_manager", "services", "smtpd, mailer")
        r = self.ctl("reload")
        self.assertEqual(r.returncode, 1)
        self.assertIn("unknown service \"mailer\"", r.stderr)
        s.set("imss.ini", "imss_manager", "services",
              "smtpd, scanner, ipprofiler")
        self.assertEqual(self.ctl("reload").returncode, 0)
        s.wait_service_ready("ipprofiler", count=2)
        after = self.status()
        self.assertEqual(after["ipprofiler"]["state"], "running")
        for name in ("smtpd", "scanner"):
            self.assertEqual(after[name]["pid"], before[name]["pid"])
        # SIGTERM: every service stops, then the manager.
        m.signal(signal.SIGTERM)
        self.assertEqual(m.wait_exit(15), 0, m.log())
        for name in REAL:
            self.assertFalse(group_alive(after[name]["pid"]), name)
        self.assertFalse(os.path.exists(os.path.join(s.run_dir,
                                                     "manager.sock")))

    def test_sigkill_of_scanner_restarts_it_alone_nothing_lost(self):
        s = self.suite
        m = s.start_manager(service_stop_timeout=10)
        self.send("before")
        self.wait_subjects(["before"])
        old = self.status()
        # Parent and workers.
        self.assertGreater(len(group_members(old["scanner"]["pid"])), 1)
        self.send("around")
        os.kill(old["scanner"]["pid"], signal.SIGKILL)
        self.send("after")                       # smtpd still accepts
        s.wait_service_ready("scanner", count=2)
        new = self.status()
        self.assertEqual(new["scanner"]["state"], "running")
        self.assertNotEqual(new["scanner"]["pid"], old["scanner"]["pid"])
        self.assertEqual(new["scanner"]["restarts"], 1)
        self.assertEqual(new["scanner"]["last_exit"], "signal 9")
        for name in ("smtpd", "ipprofiler"):
            self.assertEqual(new[name]["pid"], old[name]["pid"], name)
            self.assertEqual(new[name]["restarts"], 0, name)
        self.assertRegex(m.log(), r"event=service-died service=scanner "
                         r"pid=%d status=\"signal 9\" uptime_ms=\d+ "
                         r"restart_in=1" % old["scanner"]["pid"])
        self.assertFalse(group_alive(old["scanner"]["pid"]),
                         "the old scanner's workers still run")
        # Nothing accepted is lost.
        self.wait_subjects(["before", "around", "after"])
        self.assertNoZombies(m.pid)

    def test_seed34_restart_smtpd_graceful_lets_the_session_finish(self):
        s = self.suite
        s.smtpd_config(ShutDownMode="0")
        s.start_manager(service_stop_timeout=30)
        old = self.status()["smtpd"]["pid"]
        c = self.smtp()
        c.ehlo()
        c.send(b"MAIL FROM:<a@example.org>\r\nRCPT TO:<bob@localhost>\r\n"
               b"DATA\r\n")
        self.assertEqual([r.code for r in c.replies(3)], [250, 250, 354])
        c.send(b"Subject: in flight\r\n\r\nfirst part\r\n")
        p = self.ctl_bg("restart", "smtpd")
        wait_for(lambda: "event=shutdown mode=graceful" in
                 s.service_log("smtpd"), 10, what="graceful shutdown")
        time.sleep(0.5)
        self.assertIsNone(p.poll(), "restart did not wait for the session")
        c.send(b"second part\r\n.\r\n")
        r = c.reply()
        self.assertTrue(r.qid(), r)
        try:
            c.cmd("QUIT")
        except SMTPClosed:
            pass
        out, err = p.communicate(timeout=20)
        self.assertEqual(p.returncode, 0, err)
        self.assertRegex(out, r"^smtpd restarted: pid \d+; the old one "
                         r"stopped in [\d.]+ s \(exit 0\)$")
        s.wait_service_ready("smtpd", count=2)
        st = self.status()["smtpd"]
        self.assertNotEqual(st["pid"], old)
        self.assertEqual(st["restarts"], 0)      # asked for, not a crash
        self.wait_subjects(["in flight"])

    def test_seed34_restart_smtpd_forced_ends_the_session(self):
        s = self.suite
        s.smtpd_config(ShutDownMode="1", CommandTimeout="60",
                       DataTimeout="60")
        s.start_manager(service_stop_timeout=30)
        old = self.status()["smtpd"]["pid"]
        idle = self.smtp()
        idle.ehlo()
        busy = self.smtp()
        busy.ehlo()
        busy.send(b"MAIL FROM:<a@example.org>\r\n"
                  b"RCPT TO:<bob@localhost>\r\nDATA\r\n")
        self.assertEqual([r.code for r in busy.replies(3)], [250, 250, 354])
        busy.send(b"Subject: cut off\r\n\r\nfirst part\r\n")
        t0 = time.monotonic()
        p = self.ctl_bg("restart", "smtpd")
        self.assertTrue(busy.closed_within(3), "session in DATA not ended")
        self.assertTrue(idle.closed_within(3), "idle session not ended")
        out, err = p.communicate(timeout=20)
        self.assertEqual(p.returncode, 0, err)
        self.assertLess(time.monotonic() - t0, 10)
        self.assertIn("event=shutdown mode=forced", s.service_log("smtpd"))
        s.wait_service_ready("smtpd", count=2)
        self.assertNotEqual(self.status()["smtpd"]["pid"], old)
        self.assertEqual(s.spool_files("incoming"), [])
        self.send("after the restart")
        self.wait_subjects(["after the restart"])
        self.assertNotIn(b"cut off", b"".join(self.mailbox()))

    def test_seed34_service_ignoring_sigterm_is_killed_at_the_limit(self):
        s = self.suite
        fake = os.path.join(s.dir, "fakebin")
        os.makedirs(fake)
        for name, text in (("sekisho-scanner", STUBBORN),
                           ("sekisho-ipprofiler", CRASHING)):
            with open(os.path.join(fake, name), "w") as f:
                f.write(text)
            os.chmod(os.path.join(fake, name), 0o755)
        m = s.start_manager(bindir=fake, service_stop_timeout=2,
                            restart_backoff_max=4)
        wait_for(lambda: "ignores SIGTERM" in s.service_log("scanner"), 10,
                 what="the stubborn service runs")
        # Only the programs of the bin directory are started.
        self.assertEqual(sorted(self.status()), ["ipprofiler", "scanner"])
        pid = self.status()["scanner"]["pid"]
        t0 = time.monotonic()
        r = self.ctl("stop", "scanner")
        took = time.monotonic() - t0
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertRegex(r.stdout, r"^scanner killed after 2\.\d s \(it did "
                         r"not stop on SIGTERM")
        self.assertGreaterEqual(took, 1.9)
        self.assertLess(took, 6)
        self.assertIn("event=service-kill service=scanner", m.log())
        st = self.status()["scanner"]
        self.assertEqual((st["state"], st["pid"]), ("stopped", None))
        self.assertEqual(st["last_exit"], "signal 9")
        self.assertFalse(group_alive(pid))
        # Stopped on request: it stays stopped.
        time.sleep(1.2)
        self.assertEqual(self.status()["scanner"]["state"], "stopped")
        # A restart of it never hangs: the kill bounds it.
        self.assertEqual(self.ctl("start", "scanner").returncode, 0)
        t0 = time.monotonic()
        r = self.ctl("--json", "restart", "scanner")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertLess(time.monotonic() - t0, 7)
        res = json.loads(r.stdout)
        self.assertEqual((res["ok"], res["command"], res["service"]),
                         (True, "restart", "scanner"))
        self.assertIn("killed after", res["result"])
        # Meanwhile the crashing one is restarted after 1, 2, 4 s.
        wait_for(lambda: m.log().count("event=service-died "
                                       "service=ipprofiler") >= 3, 15,
                 what="three deaths of the crashing service")
        self.assertRegex(m.log(), r"service=ipprofiler pid=\d+ "
                         r"status=\"exit 3\" uptime_ms=\d+ restart_in=1\b")
        self.assertRegex(m.log(), r"service=ipprofiler pid=\d+ "
                         r"status=\"exit 3\" uptime_ms=\d+ restart_in=2\b")
        self.assertRegex(m.log(), r"service=ipprofiler pid=\d+ "
                         r"status=\"exit 3\" uptime_ms=\d+ restart_in=4\b")
        st = self.status()["ipprofiler"]
        self.assertGreaterEqual(st["restarts"], 2)
        self.assertEqual(st["last_exit"], "exit 3")
        # Starting it by hand fails: it does not stay up.
        r = self.ctl("start", "ipprofiler")
        self.assertEqual(r.returncode, 1)
        self.assertIn("ipprofiler did not start: it ended at once (exit 3)",
                      r.stderr)
        # The manager's own stop is bounded the same way, also with a
        # restart under way, which is answered before the manager exits.
        scanner = self.status()["scanner"]["pid"]
        restarts = m.log().count("command=IMSG_MGR_RESTART")
        p = self.ctl_bg("restart", "scanner")
        wait_for(lambda: m.log().count("command=IMSG_MGR_RESTART") >
                 restarts, 5, what="the restart request")
        t0 = time.monotonic()
        m.signal(signal.SIGTERM)
        self.assertEqual(m.wait_exit(10), 0, m.log())
        self.assertLess(time.monotonic() - t0, 6)
        self.assertFalse(group_alive(scanner))
        out, err = p.communicate(timeout=5)
        self.assertEqual(p.returncode, 1)
        self.assertEqual(err, "sekishoctl: scanner was stopped before it "
                         "could start again\n")


class TestManagerReload(ManagerCase):
    """A reload gives each service what the change means for it (issue 9,
    manager/cfgdiff.c): sekisho-smtpd applies a configuration only by a
    restart, the scanner and the IP profiler reload on SIGHUP, and a
    service that reads nothing of what changed is left alone."""

    MARK = {"smtpd": "event=sighup", "scanner": "event=reloaded",
            "ipprofiler": "event=reloaded"}

    def marks(self):
        """{service: how often its log says it got a SIGHUP}."""
        return {n: self.suite.service_log(n).count(self.MARK[n])
                for n in REAL}

    def reload(self, expect):
        """sekishoctl reload; its answer must contain expect."""
        r = self.ctl("reload")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn(expect, r.stdout)
        return r

    def assertUntouched(self, before, names, marks):
        """names kept their processes and got no SIGHUP."""
        time.sleep(0.3)  # a signal that went would show by now
        now, after = self.status(), self.marks()
        for n in names:
            self.assertEqual(now[n]["pid"], before[n]["pid"], n)
            self.assertEqual(now[n]["state"], "running", n)
            self.assertEqual(after[n], marks[n], "%s got a SIGHUP" % n)

    def test_reload_restarts_or_signals_only_the_services_concerned(self):
        s = self.suite
        m = s.start_manager(service_stop_timeout=10)
        st, marks = self.status(), self.marks()
        # Touched, not changed: nothing.
        for name in ("imss.ini", "tsmtpd.ini", "foxdns.ini", "policy.ini"):
            os.utime(s.path(name))
        self.reload("restarted: none; SIGHUP sent to: none; unchanged: "
                    "smtpd, scanner, ipprofiler")
        self.assertUntouched(st, REAL, marks)
        self.assertIn('event=reload-service service=smtpd pid=%d '
                      'action=none why="nothing it reads changed"'
                      % st["smtpd"]["pid"], m.log())
        # policy.ini (a [scan] key smtpd's queue does not read): the
        # scanner reloads, alone.
        s.set("policy.ini", "scan", "max_text_kb", "2048")
        self.reload("restarted: none; SIGHUP sent to: scanner; "
                    "unchanged: smtpd, ipprofiler")
        wait_for(lambda: self.marks()["scanner"] > marks["scanner"], 10,
                 what="the scanner reloaded")
        self.assertUntouched(st, ("smtpd", "ipprofiler"), marks)
        self.assertEqual(self.status()["scanner"]["pid"],
                         st["scanner"]["pid"])
        self.assertIn('service=scanner pid=%d action=reload '
                      'why="policy.ini changed"' % st["scanner"]["pid"],
                      m.log())
        marks = self.marks()
        # tsmtpd.ini [SmtpServer]: smtpd restarts (a new pid); the others
        # are left alone.
        s.set("tsmtpd.ini", "SmtpServer", "MaxRcptPerMsg", "50")
        self.reload("restarted: smtpd; SIGHUP sent to: none; unchanged: "
                    "scanner, ipprofiler")
        self.assertIn('event=reload-service service=smtpd pid=%d '
                      'action=restart why="tsmtpd.ini [SmtpServer] '
                      'changed"' % st["smtpd"]["pid"], m.log())
        s.wait_service_ready("smtpd", count=2)
        now = self.status()
        self.assertEqual(now["smtpd"]["state"], "running")
        self.assertNotEqual(now["smtpd"]["pid"], st["smtpd"]["pid"])
        self.assertEqual(now["smtpd"]["restarts"], 0)  # not a death
        self.assertFalse(group_alive(st["smtpd"]["pid"]))
        self.assertUntouched(st, ("scanner", "ipprofiler"), marks)
        self.assertNotIn("event=service-died", m.log())
        st, marks = now, self.marks()
        # foxdns.ini keep_tempblocked_mins: the IP profiler reloads; smtpd
        # does not read that key and keeps running.
        s.set("foxdns.ini", "foxdns", "keep_tempblocked_mins", "30")
        self.reload("restarted: none; SIGHUP sent to: ipprofiler; "
                    "unchanged: smtpd, scanner")
        wait_for(lambda: self.marks()["ipprofiler"] > marks["ipprofiler"],
                 10, what="the IP profiler reloaded")
        self.assertUntouched(st, ("smtpd", "scanner"), marks)
        self.assertEqual(self.status()["ipprofiler"]["pid"],
                         st["ipprofiler"]["pid"])
        marks = self.marks()
        # An invalid configuration changes nothing.
        s.set("tsmtpd.ini", "SmtpServer", "MaxRcptPerMsg", "many")
        r = self.ctl("reload")
        self.assertEqual(r.returncode, 1)
        self.assertIn("MaxRcptPerMsg", r.stderr)
        # (sekishoctl checks it first; the manager's own check:)
        m.signal(signal.SIGHUP)
        wait_for(lambda: "event=reload-failed" in m.log(), 10,
                 what="the manager refused the configuration")
        time.sleep(0.3)
        for n in REAL:  # (sekishoctl status refuses an invalid one)
            self.assertTrue(pid_alive(st[n]["pid"]), n)
        self.assertEqual(self.marks(), marks)
        # Back to the running value: nothing to do.
        s.set("tsmtpd.ini", "SmtpServer", "MaxRcptPerMsg", "50")
        self.reload("restarted: none; SIGHUP sent to: none; unchanged: "
                    "smtpd, scanner, ipprofiler")
        self.assertUntouched(st, REAL, marks)
        # Mail still goes through the restarted smtpd.
        self.send("after the reloads")
        self.wait_subjects(["after the reloads"])


class TestManagerNotify(ManagerCase):
    """System event notices to the administrator (seed 23, seed 35)."""

    def test_seed23_service_died_notice_has_date(self):
        s = self.suite
        sink = Sink().start()
        self.addCleanup(sink.stop)
        s.set("imss.ini", "general", "admin_email", "admin@example.com")
        s.set("imss.ini", "general", "hostname", "gw.sekisho.test")
        s.set("imss.ini", "imss_manager", "notify_interval_mins", "10")
        s.set("tsmtpd.ini", "Routes", "example.com",
              "127.0.0.1:%d" % sink.port)
        s.set("policy.ini", "scan", "enabled", "0")
        m = s.start_manager(service_stop_timeout=10)
        pid = self.status()["ipprofiler"]["pid"]
        os.kill(pid, signal.SIGKILL)
        tx = sink.wait_messages(1, timeout=20)[0]
        self.assertEqual(tx.rcpt_to, ["admin@example.com"])
        self.assertEqual(tx.mail_from, "<postmaster@gw.sekisho.test>")
        msg = email.message_from_bytes(tx.data)
        # Seed 23: a Date: header, local time with a numeric offset.
        self.assertEqual(len(msg.get_all("Date")), 1, tx.data)
        date = email.utils.parsedate_to_datetime(msg["Date"])
        self.assertIsNotNone(date.tzinfo, msg["Date"])
        self.assertRegex(msg["Date"], r" [+-]\d{4}$")
        local = time.localtime()
        self.assertEqual(date.utcoffset().total_seconds(), local.tm_gmtoff)
        self.assertLess(abs(date.timestamp() - time.time()), 60)
        # Seed 35: the administrator in To:, never <>.
        self.assertEqual(msg["To"], "admin@example.com")
        self.assertEqual(msg["From"], "postmaster@gw.sekisho.test")
        self.assertRegex(msg["Message-ID"], r"^<[0-9a-f]{32}@gw\.sekisho"
                         r"\.test>$")
        subject = " ".join(msg["Subject"].split())
        self.assertEqual(subject, "sekisho on gw.sekisho.test: service "
                         "ipprofiler died (signal 9), restarting in 1 s")
        body = msg.get_payload()
        self.assertIn("Service: ipprofiler (sekisho-ipprofiler)", body)
        self.assertIn("signal 9", body)
        self.assertIn("Host:    gw.sekisho.test", body)
        self.assertRegex(m.log(), r"event=notify-sent id=1 "
                         r"kind=service-died service=ipprofiler")
        # A second death within notify_interval_mins: held back, counted.
        s.wait_service_ready("ipprofiler", count=2)
        pid2 = self.status()["ipprofiler"]["pid"]
        self.assertNotEqual(pid2, pid)
        os.kill(pid2, signal.SIGKILL)
        wait_for(lambda: "event=notify-held kind=service-died "
                 "service=ipprofiler" in m.log(), 10,
                 what="the second notice held back")
        time.sleep(3)
        self.assertEqual(len(sink.messages), 1)

    def test_scan_failures_notice(self):
        """A scan that fails (a worker stuck past scan_timeout) makes one
        system notice at the next check, rate-limited like the others."""
        s = self.suite
        sink = Sink().start()
        self.addCleanup(sink.stop)
        s.set("imss.ini", "general", "admin_email", "admin@example.com")
        s.set("imss.ini", "general", "hostname", "gw.sekisho.test")
        s.set("imss.ini", "imss_manager", "notify_check_interval", "5")
        s.set("imss.ini", "imss_manager", "notify_interval_mins", "10")
        s.set("tsmtpd.ini", "Routes", "example.com",
              "127.0.0.1:%d" % sink.port)
        s.set("tsmtpd.ini", "SmtpServer", "AcceptedDomains", "localhost")
        for k, v in (("workers", "1"), ("scan_timeout", "1"),
                     ("scan_retry_seconds", "1")):
            s.set("policy.ini", "scan", k, v)
        m = s.start_manager(service_stop_timeout=10,
                            services="smtpd, scanner")
        worker, = s.scan_workers_of(self.status()["scanner"]["pid"])
        os.kill(worker, signal.SIGSTOP)     # takes the job, never ends
        with RawSMTP(s.smtp_port) as c:
            c.send_mail("alice@example.org", ["bob@localhost"],
                        b"Subject: stuck\r\n\r\nhello\r\n")
        tx = sink.wait_messages(1, timeout=30)[0]
        msg = email.message_from_bytes(tx.data)
        self.assertEqual(tx.rcpt_to, ["admin@example.com"])
        self.assertEqual(" ".join(msg["Subject"].split()),
                         "sekisho on gw.sekisho.test: 1 scan failed")
        self.assertIsNotNone(email.utils.parsedate_to_datetime(msg["Date"])
                             .tzinfo)
        body = msg.get_payload()
        self.assertIn("scan_timeout", body)
        self.assertIn("1 since the scanner started", body)
        self.assertRegex(m.log(), r"event=notify-sent id=\d+ "
                         r"kind=scan-failures service=scanner")
        # Nothing more failed: no second notice at the next checks.
        time.sleep(7)
        self.assertEqual(len(sink.messages), 1)

    def test_smtpd_died_notice_waits_for_its_restart(self):
        """The notice that smtpd died cannot go out while smtpd is down:
        it is kept and sent when smtpd is back."""
        s = self.suite
        sink = Sink().start()
        self.addCleanup(sink.stop)
        s.set("imss.ini", "general", "admin_email", "admin@example.com")
        s.set("imss.ini", "general", "hostname", "gw.sekisho.test")
        s.set("imss.ini", "imss_manager", "notify_interval_mins", "10")
        s.set("tsmtpd.ini", "Routes", "example.com",
              "127.0.0.1:%d" % sink.port)
        s.set("policy.ini", "scan", "enabled", "0")
        m = s.start_manager(service_stop_timeout=10)
        os.kill(self.status()["smtpd"]["pid"], signal.SIGKILL)
        tx = sink.wait_messages(1, timeout=25)[0]
        msg = email.message_from_bytes(tx.data)
        self.assertIn("service smtpd died (signal 9)",
                      " ".join(msg["Subject"].split()))
        self.assertIsNotNone(
            email.utils.parsedate_to_datetime(msg["Date"]).tzinfo)
        self.assertRegex(m.log(), r"event=notify-deferred id=1 "
                         r"kind=service-died service=smtpd")
        self.assertRegex(m.log(), r"event=notify-sent id=1 ")


class TestSekishoctl(ManagerCase):

    def test_bad_arguments_print_usage_and_exit_2(self):
        for args in (("status", "smtpd", "scanner"), ("start",),
                     ("stop", "--bogus", "smtpd"), ("restart",),
                     ("reload", "smtpd"), ("status", "--state", "x")):
            r = self.ctl(*args)
            self.assertEqual(r.returncode, 2, args)
            self.assertIn("usage: sekishoctl", r.stderr, args)
        r = self.ctl("restart", "mailer")
        self.assertEqual(r.returncode, 2)
        self.assertIn("unknown service mailer (one of smtpd, scanner, "
                      "ipprofiler, euq)", r.stderr)

    def test_manager_down_says_so_and_exits_1(self):
        sock = os.path.join(self.suite.run_dir, "manager.sock")
        for args in (("status",), ("restart", "smtpd"), ("reload",)):
            r = self.ctl(*args)
            self.assertEqual(r.returncode, 1, args)
            self.assertEqual(r.stderr, "sekishoctl: cannot connect to %s: "
                             "No such file or directory: is sekisho-manager "
                             "running?\n" % sock)
            self.assertEqual(r.stdout, "")


if __name__ == "__main__":
    unittest.main()
