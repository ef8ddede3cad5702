#!/usr/bin/env python3
"""spam_tune.py: suggested scores for the rules of a spam rule package,
from the tuning groups of the SpamAssassin public corpus (how the
shipped etc/spamrules package was scored).

  python3 bench/spam_tune.py --package FILE [--bindir build/bin]
      [--confdir etc] [--corpus DIR] [--factor 1.0]

For each rule that hits: its hit rate in spam-1, in easy-ham-1 and in
hard-ham-1, and the suggested score factor * ln(p_spam / p_ham), where
p_ham is the mean of the two ham groups' rates (so that newsletters
people subscribed to weigh as much as personal mail) and each rate is
smoothed by half a message; capped at 3 and -1.5.  Rules whose
suggestion is under 0.3 in size do not separate spam from ham.  Only
the "-1" groups are read: spam-2 and easy-ham-2 stay held out
(bench/spam_eval.py).  The corpus is fetched as spam_eval.py does.
"""
import argparse
import math
import os

import spam_eval


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--package", required=True)
    ap.add_argument("--bindir", default=os.path.join(spam_eval.SOURCE,
                                                     "build", "bin"))
    ap.add_argument("--confdir", default=os.path.join(spam_eval.SOURCE,
                                                      "etc"))
    ap.add_argument("--corpus", default="/tmp/sekisho-sa-corpus")
    ap.add_argument("--factor", type=float, default=1.0)
    a = ap.parse_args()
    corpus = spam_eval.fetch(a.corpus)
    groups = {g: spam_eval.score(a.bindir, a.confdir, a.package,
                                 os.path.join(corpus, g))
              for g in ("spam-1", "easy-ham-1", "hard-ham-1")}
    hits = {}
    for g, rows in groups.items():
        for r in rows:
            for name in r["rules"]:
                hits.setdefault(name, dict.fromkeys(groups, 0))[g] += 1

    def rate(name, g):
        return (hits[name][g] + 0.5) / (len(groups[g]) + 1)

    print("%-24s %8s %8s %8s %9s" % ("rule", "spam %", "easy %", "hard %",
                                     "suggested"))
    rows = []
    for name in hits:
        p_ham = (rate(name, "easy-ham-1") + rate(name, "hard-ham-1")) / 2
        w = a.factor * math.log(rate(name, "spam-1") / p_ham)
        rows.append((max(-1.5, min(3.0, w)), name))
    for w, name in sorted(rows, reverse=True):
        print("%-24s %8.2f %8.2f %8.2f %9.1f"
              % (name, *(100.0 * hits[name][g] / len(groups[g])
                         for g in groups), w))


if __name__ == "__main__":
    main()
