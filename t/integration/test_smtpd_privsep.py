"""Privilege separation of sekisho-smtpd, seen from /proc (issue 3):
the smtp process runs as its own user, chrooted into an empty directory,
with NoNewPrivs; the queue process runs as the queue user and alone owns
the spool; the mta process runs as the smtpd user with NoNewPrivs and
cannot read the spool.  Root only."""

import os
import pwd
import stat
import unittest

from harness import SuiteTestCase, is_root, proc_status


def user(name):
    try:
        return pwd.getpwnam(name)
    except KeyError:
        return None


@unittest.skipUnless(is_root(), "needs root")
class PrivsepTest(SuiteTestCase):

    def setUp(self):
        super().setUp()
        for u in ("_sekisho-smtpd", "_sekisho-queue"):
            if user(u) is None:
                self.skipTest("system user %s missing (run the install "
                              "step as root)" % u)
        self.suite.start_smtpd()
        self.children = self.suite.smtpd_children()
        self.assertEqual(sorted(self.children),
                         ["smtpd.mta", "smtpd.queue", "smtpd.smtp"])

    def check_ids(self, pid, pw):
        st = proc_status(pid)
        self.assertEqual(st["Uid"].split(), [str(pw.pw_uid)] * 4, st["Uid"])
        self.assertEqual(st["Gid"].split(), [str(pw.pw_gid)] * 4, st["Gid"])
        groups = st["Groups"].split()
        self.assertTrue(set(groups) <= {str(pw.pw_gid)}, groups)
        self.assertEqual(st["NoNewPrivs"], "1")
        self.assertEqual(int(st["CapEff"], 16), 0, "no capabilities left")
        self.assertEqual(int(st["CapPrm"], 16), 0)
        with open("/proc/%d/limits" % pid) as f:
            core = [ln for ln in f if ln.startswith("Max core file size")]
        self.assertEqual(core[0].split()[4], "0", core)
        return st

    def test_smtp_process_is_unprivileged_and_chrooted(self):
        pid = self.children["smtpd.smtp"]
        self.check_ids(pid, user("_sekisho-smtpd"))
        empty = os.path.realpath(os.path.join(self.suite.data_dir, "empty"))
        self.assertEqual(os.readlink("/proc/%d/root" % pid), empty)
        self.assertEqual(os.listdir(empty), [], "the chroot is empty")
        st = os.stat(empty)
        self.assertEqual(st.st_uid, 0, "the chroot belongs to root")
        self.assertFalse(st.st_mode & (stat.S_IWGRP | stat.S_IWOTH))

    def test_queue_process_runs_as_queue_user_and_owns_the_spool(self):
        pid = self.children["smtpd.queue"]
        pw = user("_sekisho-queue")
        self.check_ids(pid, pw)
        st = os.stat(self.suite.spool())
        self.assertEqual(st.st_uid, pw.pw_uid)
        self.assertEqual(stat.S_IMODE(st.st_mode), 0o700)
        qid = self.deliver(b"Subject: owner\r\n\r\nx\r\n")
        for name in (qid + ".msg", qid + ".env"):
            fst = os.stat(self.suite.spool("incoming", name))
            self.assertEqual(fst.st_uid, pw.pw_uid, name)
            self.assertFalse(fst.st_mode & stat.S_IRWXO, name)

    def test_mta_process_is_unprivileged_and_cannot_read_the_spool(self):
        pid = self.children["smtpd.mta"]
        self.check_ids(pid, user("_sekisho-smtpd"))
        # The spool is the queue user's (0700): the mta only ever gets
        # descriptors of single messages.
        st = os.stat(self.suite.spool())
        self.assertNotEqual(st.st_uid, user("_sekisho-smtpd").pw_uid)
        self.assertEqual(stat.S_IMODE(st.st_mode), 0o700)

    def test_parent_stays_root_and_users_differ(self):
        st = proc_status(self.suite.smtpd.pid)
        self.assertEqual(st["Uid"].split()[1], "0")
        self.assertNotEqual(user("_sekisho-smtpd").pw_uid,
                            user("_sekisho-queue").pw_uid)


if __name__ == "__main__":
    unittest.main()
