#!/usr/bin/env python3
"""ipp_bench.py: the "ipp" step: the IP profiler (issue 8 "Performance"):
DNS queries per second answered by sekisho-ipprofiler's DNSBL responder
next to rbldnsd serving the same 100,000 addresses in the same run, and
the connect-time check latency of sekisho-smtpd + sekisho-ipprofiler.

  python3 bench/ipp_bench.py [--mode quick|default] --bindir BUILD/bin
  python3 bench/ipp_bench.py --cleanup STATE

What it does (bench/README.md, "IP profiler"):
  1. installs rbldnsd and dnsperf when they are missing (apt-get,
     DEBIAN_FRONTEND=noninteractive, --no-install-recommends); a service
     the install started is stopped and disabled again;
  2. writes one list of 100,000 IPv4 addresses (fixed seed), each with a
     reason, twice: as foxdns.ini's blocked_list_file ("ADDR reason") and
     as an rbldnsd ip4set ("ADDR :127.0.0.2:reason"); 5,000 of them lie in
     127.1.0.0/16 so that listed clients can connect over loopback; and a
     dnsperf query file: half listed, half unlisted addresses, A queries,
     plus a TXT query for every fourth listed one;
  3. DNS: starts sekisho-ipprofiler (dns_port, zone bl.test) and rbldnsd
     (zone bl.test, TTL 300 like ours) on free 127.0.0.1 ports, checks
     that both give the same answer (rcode, A, TXT) for 300 listed and 300
     unlisted addresses and the test entry, then runs
     `dnsperf -d QUERIES -s 127.0.0.1 -p PORT -l SECONDS -c 4 -T 1` R
     times against each, alternating; reports queries per second, the
     server's CPU seconds over the run (queries per CPU second), lost
     queries and latency; one extra dnsperf run over TCP (-m tcp) for
     sekisho (rbldnsd has no TCP);
  4. connect check: sekisho-smtpd (foxdns.ini enabled=1,
     check_cache_secs=0, so every connection asks the profiler) with
     sekisho-ipprofiler holding the same 100,000 addresses, then the same
     smtpd with enabled=0 (no check, no profiler); N connections each from
     listed (127.1.x.y) and unlisted (127.2.x.y) source addresses, one at
     a time, alternating; the time from connect() to the first reply line
     (220, or the 554 block reply), p50/p90/p99/max; every reply code is
     checked (listed 554 with the check, 220 without; unlisted 220);
  5. prints the table and writes it, with the raw figures as JSON, to
     bench/results/ipp-<date>[-quick].txt.

Every daemon runs as the invoking user in a temp dir on 127.0.0.1 (as
root, the sekisho daemons drop to their service users and rbldnsd to
rbldns, as they do in production) and is stopped at the end, also on
failure or a signal.  Python 3 standard library only.
"""
import argparse
import datetime
import ipaddress
import json
import math
import os
import random
import re
import shutil
import signal
import socket
import statistics
import struct
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
SOURCE = os.path.dirname(HERE)
sys.path.insert(0, HERE)
import benchlib  # noqa: E402
from benchlib import BenchError, log  # noqa: E402
from benchlib import State, cleanup, proc_cpu, write_results  # noqa: E402

ZONE = "bl.test"
NLIST = 100000
NLOOP = 5000                    # listed addresses in 127.1.0.0/16
MODES = {
    # dnsperf seconds per run, runs per server, connections per class
    "quick": {"seconds": 5, "repeat": 1, "conns": 300},
    "default": {"seconds": 20, "repeat": 3, "conns": 2000},
}
RBLDNSD = "/usr/sbin/rbldnsd"


# ------------------------------------------------------------ data

def make_data(d, seed=8):
    """The list (foxdns and rbldnsd formats) and the query file in d;
    (listed addresses, listed loopback addresses, unlisted sample)."""
    rnd = random.Random(seed)
    listed = set()
    loop = set()
    while len(loop) < NLOOP:
        loop.add("127.1.%d.%d" % (rnd.randrange(256), rnd.randrange(1, 255)))
    listed |= loop
    # Public-looking unicast space; unlisted queries come from other /8s.
    firsts = [n for n in range(1, 224) if n not in (10, 100, 127, 172, 192,
                                                     198, 203)]
    while len(listed) < NLIST:
        listed.add("%d.%d.%d.%d" % (rnd.choice(firsts[:150]),
                                    rnd.randrange(256), rnd.randrange(256),
                                    rnd.randrange(1, 255)))
    addrs = sorted(listed, key=lambda a: ipaddress.ip_address(a))
    reason = {a: "bench list entry %d" % i for i, a in enumerate(addrs)}
    foxdns = os.path.join(d, "blocked.txt")
    with open(foxdns, "w") as f:
        f.write("# ipp_bench.py: %d addresses, seed %d\n" % (len(addrs),
                                                              seed))
        for a in addrs:
            f.write("%s %s\n" % (a, reason[a]))
    rbl = os.path.join(d, "blocked.ip4set")
    with open(rbl, "w") as f:
        f.write("# ipp_bench.py: the same %d addresses\n" % len(addrs))
        for a in addrs:
            f.write("%s :127.0.0.2:%s\n" % (a, reason[a]))
    unlisted = []
    while len(unlisted) < 50000:
        a = "%d.%d.%d.%d" % (rnd.choice(firsts[150:]), rnd.randrange(256),
                             rnd.randrange(256), rnd.randrange(1, 255))
        if a not in listed:
            unlisted.append(a)
    pool = sorted(listed - loop)
    queries = os.path.join(d, "queries.txt")
    nq = {"A listed": 0, "TXT listed": 0, "A unlisted": 0}
    with open(queries, "w") as f:
        for i in range(100000):
            if i % 2 == 0:
                a = rnd.choice(pool)
                f.write("%s A\n" % qname(a))
                nq["A listed"] += 1
                if i % 8 == 0:
                    f.write("%s TXT\n" % qname(a))
                    nq["TXT listed"] += 1
            else:
                f.write("%s A\n" % qname(unlisted[i // 2 % len(unlisted)]))
                nq["A unlisted"] += 1
    return {"foxdns": foxdns, "rbl": rbl, "queries": queries,
            "listed": addrs, "reason": reason, "loop": sorted(loop),
            "unlisted": unlisted, "pool": pool, "query_mix": nq}


def qname(addr):
    return re.sub(r"\.(in-addr|ip6)\.arpa$", "",
                  ipaddress.ip_address(addr).reverse_pointer) + "." + ZONE


# ------------------------------------------------------------ DNS client

def dns_query(name, qtype, qid):
    q = struct.pack(">HHHHHH", qid, 0x0100, 1, 0, 0, 0)
    for label in name.rstrip(".").split("."):
        q += bytes([len(label)]) + label.encode()
    return q + b"\0" + struct.pack(">HH", qtype, 1)


def skip_name(b, off):
    while True:
        n = b[off]
        if n & 0xC0 == 0xC0:
            return off + 2
        if n == 0:
            return off + 1
        off += 1 + n


def dns_parse(b):
    """(id, rcode name, sorted answers as "A x" / "TXT y")."""
    qid, flags, qd, an, _ns, _ar = struct.unpack(">HHHHHH", b[:12])
    off = 12
    for _ in range(qd):
        off = skip_name(b, off) + 4
    out = []
    for _ in range(an):
        off = skip_name(b, off)
        t, _c, _ttl, n = struct.unpack(">HHIH", b[off:off + 10])
        off += 10
        rd = b[off:off + n]
        off += n
        if t == 1:
            out.append("A " + socket.inet_ntoa(rd))
        elif t == 16:
            s, i = b"", 0
            while i < len(rd):
                s += rd[i + 1:i + 1 + rd[i]]
                i += 1 + rd[i]
            out.append("TXT " + s.decode("ascii", "replace"))
        else:
            out.append("type%d" % t)
    rc = {0: "NOERROR", 1: "FORMERR", 2: "SERVFAIL", 3: "NXDOMAIN",
          5: "REFUSED"}.get(flags & 15, "rcode%d" % (flags & 15))
    return qid, rc, sorted(out)


def ask(port, name, qtype, tries=3, timeout=1.0):
    """(rcode, answers) from 127.0.0.1:port over UDP, or ("timeout", [])."""
    qid = random.randrange(65536)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.settimeout(timeout)
        for _ in range(tries):
            s.sendto(dns_query(name, qtype, qid), ("127.0.0.1", port))
            try:
                while True:
                    rid, rc, ans = dns_parse(s.recv(4096))
                    if rid == qid:
                        return rc, ans
            except socket.timeout:
                continue
    return "timeout", []


# ------------------------------------------------------------ servers

class Server:
    """A daemon in a session of its own, recorded in the state file."""

    kind = "server"
    proc = None
    sid = None

    def __init__(self, tmp_root, prefix):
        self.dir = tempfile.mkdtemp(prefix=prefix, dir=tmp_root)
        os.chmod(self.dir, 0o755)     # service users reach their files
        self.log_path = os.path.join(self.dir, "stdout.log")

    def spawn(self, cmd, state):
        with open(self.log_path, "ab") as out:
            self.proc = subprocess.Popen(cmd, stdout=out,
                                         stderr=subprocess.STDOUT,
                                         stdin=subprocess.DEVNULL,
                                         start_new_session=True)
        self.sid = self.proc.pid
        state.add(self)

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def pid(self):
        return self.proc.pid

    def log_text(self):
        try:
            with open(self.log_path, "rb") as f:
                return f.read().decode("utf-8", "replace")
        except OSError:
            return ""

    def log_tail(self, n=30):
        return "\n".join(self.log_text().splitlines()[-n:])

    def stop(self, state, keep=False):
        with benchlib.signals_blocked():
            if self.sid is not None:
                benchlib.kill_pids([self.sid], signal.SIGTERM)
                deadline = time.monotonic() + 15
                while self.alive() and time.monotonic() < deadline:
                    time.sleep(0.1)
                benchlib.kill_pids(benchlib.session_members(self.sid),
                                   signal.SIGKILL)
                if self.proc.poll() is None:
                    self.proc.wait(5)
            if keep:
                log("kept %s" % self.dir)
            else:
                benchlib.rmtree(self.dir)
            state.drop(self)


def edit_ini(confdir, fn, settings):
    p = os.path.join(confdir, fn)
    with open(p, encoding="utf-8") as f:
        text = f.read()
    for sec, key, val in settings:
        text = benchlib.ini_set(text, sec, key, val)
    with open(p, "w", encoding="utf-8") as f:
        f.write(text)


class Ipprofiler(Server):
    """sekisho-ipprofiler -f -c CONFDIR, alone (DNS step) or beside an
    smtpd that shares its configuration directory (connect step)."""

    kind = "sekisho-ipprofiler"

    def __init__(self, bindir, tmp_root, listfile, dns_port, confdir=None):
        super().__init__(tmp_root, "sekisho-bench-ipp-")
        self.bin = os.path.join(bindir, "sekisho-ipprofiler")
        if not os.access(self.bin, os.X_OK):
            benchlib.rmtree(self.dir)
            raise BenchError("%s not built (cmake --build ... --target "
                             "sekisho-ipprofiler)" % self.bin)
        self.port = dns_port
        if confdir is None:
            confdir = os.path.join(self.dir, "etc")
            shutil.copytree(os.path.join(SOURCE, "etc"), confdir)
            data, run = (os.path.join(self.dir, "data"),
                         os.path.join(self.dir, "run"))
            os.makedirs(data)
            os.makedirs(run)
            edit_ini(confdir, "imss.ini", [("general", "data_dir", data),
                                           ("general", "run_dir", run)])
        self.confdir = confdir
        edit_ini(confdir, "foxdns.ini", [
            ("foxdns", "blocked_list_file", listfile),
            ("foxdns", "dns_address", "127.0.0.1"),
            ("foxdns", "dns_port", str(dns_port)),
            ("foxdns", "dns_zone", ZONE)])

    def start(self, state, timeout=60):
        t0 = time.monotonic()
        self.spawn([self.bin, "-f", "-c", self.confdir], state)

        def ready():
            if not self.alive():
                raise BenchError("sekisho-ipprofiler exited (%s); log:\n%s"
                                 % (self.proc.returncode, self.log_tail()))
            return "event=ipprofiler-ready" in self.log_text()
        benchlib.wait_for(ready, timeout, "sekisho-ipprofiler ready", 0.01)
        benchlib.wait_for(lambda: ask(self.port, "2.0.0.127." + ZONE, 1,
                                      1, 0.05)[0] == "NOERROR", timeout,
                          "sekisho-ipprofiler's DNS responder", 0.01)
        self.ready_s = time.monotonic() - t0

    def log_problems(self):
        return [ln for ln in self.log_text().splitlines()
                if re.search(r"lvl=(err|crit|warn)", ln) and
                "not root" not in ln and "unknown key" not in ln]


class Rbldnsd(Server):
    """rbldnsd -n serving the ip4set as bl.test on a loopback port."""

    kind = "rbldnsd"

    def __init__(self, tmp_root, ip4set, port):
        super().__init__(tmp_root, "rbldnsd-bench-")
        self.port = port
        self.data = os.path.join(self.dir, "bl.ip4set")
        shutil.copy(ip4set, self.data)
        os.chmod(self.data, 0o644)

    def start(self, state, timeout=60):
        t0 = time.monotonic()
        # -n foreground, -t 300 the TTL of sekisho's answers; as root it
        # switches to the rbldns user (it refuses to run as root).
        self.spawn([RBLDNSD, "-n", "-b", "127.0.0.1/%d" % self.port,
                    "-t", "300", "-w", self.dir,
                    "%s:ip4set:bl.ip4set" % ZONE], state)

        def ready():
            if not self.alive():
                raise BenchError("rbldnsd exited (%s); log:\n%s"
                                 % (self.proc.returncode, self.log_tail()))
            return ask(self.port, "2.0.0.127." + ZONE, 1, 1,
                       0.05)[0] in ("NOERROR", "NXDOMAIN")
        benchlib.wait_for(ready, timeout, "rbldnsd on port %d" % self.port,
                          0.01)
        self.ready_s = time.monotonic() - t0

    def version(self):
        m = re.search(r"rbldnsd version (\S+(?: \([^)]*\))?)",
                      self.log_text())
        return m.group(1) if m else "?"


def rss_kb(pid):
    return benchlib.proc_status_kb(pid, "VmRSS")


# ------------------------------------------------------------ DNS step

def spot_check(data, servers, n=300, seed=9):
    """Both servers' answers to listed and unlisted addresses: equal, and
    what the list says.  (checked, [problems])."""
    rnd = random.Random(seed)
    cases = [(a, True) for a in rnd.sample(data["listed"], n)]
    cases += [(a, False) for a in rnd.sample(data["unlisted"], n)]
    cases.append(("127.0.0.2", None))
    problems = []
    for addr, listed in cases:
        for qt, tname in ((1, "A"), (16, "TXT")):
            got = {s.kind: ask(s.port, qname(addr), qt) for s in servers}
            if listed is True:
                want = ("NOERROR", ["A 127.0.0.2"] if qt == 1 else
                        ["TXT " + data["reason"][addr]])
            elif listed is False:
                want = ("NXDOMAIN", [])
            else:
                want = None     # the test entry: ours lists it
            for k, v in got.items():
                if want is not None and tuple(v) != want:
                    problems.append("%s %s %s: %s, want %s" % (
                        k, addr, tname, v, want))
            if want is not None and len(set(json.dumps(v)
                                            for v in got.values())) > 1:
                problems.append("%s %s: the servers differ: %s" % (
                    addr, tname, got))
    return len(cases) * 2, problems


DNSPERF_RE = {
    "sent": r"Queries sent:\s+(\d+)",
    "completed": r"Queries completed:\s+(\d+)",
    "lost": r"Queries lost:\s+(\d+)",
    "qps": r"Queries per second:\s+([\d.]+)",
    "latency_avg_s": r"Average Latency \(s\):\s+([\d.]+)",
    "latency_sd_s": r"Latency StdDev \(s\):\s+([\d.]+)",
}


def cpu_split():
    """(CPU for the DNS server, CPUs for dnsperf), or None on one CPU:
    the server gets the last CPU to itself, so the load generator does
    not take turns with it and both servers meet the same conditions."""
    cpus = sorted(os.sched_getaffinity(0))
    if len(cpus) < 2:
        return None
    return cpus[-1], cpus[:-1]


def pin(server, split):
    """Pin every thread of server to the server CPU of split."""
    if split is None:
        return
    for pid in benchlib.session_members(server.sid):
        try:
            for tid in os.listdir("/proc/%d/task" % pid):
                os.sched_setaffinity(int(tid), {split[0]})
        except OSError:
            pass


def dnsperf(server, queries, seconds, clients, extra=(), split=None):
    """One dnsperf run against server; its figures and the server's CPU."""
    cmd = ["dnsperf", "-d", queries, "-s", "127.0.0.1", "-p",
           str(server.port), "-l", str(seconds), "-c", str(clients),
           "-T", "1"] + list(extra)
    if split is not None:
        cmd = ["taskset", "-c", ",".join(str(c) for c in split[1])] + cmd
    pid = server.pid()
    cpu0 = proc_cpu(pid)
    t0 = time.monotonic()
    r = subprocess.run(cmd, capture_output=True, text=True,
                       timeout=seconds * 4 + 60)
    wall = time.monotonic() - t0
    cpu = proc_cpu(pid) - cpu0
    if r.returncode != 0:
        raise BenchError("%s failed (%d):\n%s" % (" ".join(cmd), r.returncode,
                                                  r.stderr[-2000:]))
    out = {"cmd": " ".join(cmd), "server_cpu_s": cpu, "wall_s": wall,
           "rss_kb": rss_kb(pid)}
    for k, rx in DNSPERF_RE.items():
        m = re.search(rx, r.stdout)
        out[k] = float(m.group(1)) if m else None
    m = re.search(r"Response codes:\s+(.*)", r.stdout)
    out["rcodes"] = m.group(1).strip() if m else ""
    out["qps_per_cpu_s"] = (out["completed"] / cpu) if cpu and \
        out["completed"] else 0
    log("%s: %.0f qps, server CPU %.1f s over %.1f s, lost %d, %s"
        % (server.kind, out["qps"] or 0, cpu, wall, out["lost"] or 0,
           out["rcodes"]))
    return out


def run_dns(a, data, tmp_root, state):
    res = {"sekisho": [], "rbldnsd": [], "sekisho_tcp": None}
    ipp = Ipprofiler(a.bindir, tmp_root, data["foxdns"],
                     benchlib.free_port())
    rbl = Rbldnsd(tmp_root, data["rbl"], benchlib.free_port())
    servers = [ipp, rbl]
    try:
        log("starting sekisho-ipprofiler (DNS on 127.0.0.1:%d) in %s"
            % (ipp.port, ipp.dir))
        ipp.start(state)
        log("starting rbldnsd (127.0.0.1:%d) in %s" % (rbl.port, rbl.dir))
        rbl.start(state)
        res["ready_s"] = {"sekisho": ipp.ready_s, "rbldnsd": rbl.ready_s}
        split = None if a.no_pin else cpu_split()
        res["pinned"] = split
        for s in servers:
            pin(s, split)
        res["rbldnsd_version"] = rbl.version()
        n, problems = spot_check(data, servers)
        res["spot_checks"] = n
        res["spot_problems"] = problems
        log("spot checks: %d queries to each server, %d problems"
            % (n, len(problems)))
        # Warm both (page in the lists, fill caches), untimed.
        for s in servers:
            dnsperf(s, data["queries"], 2, a.clients, split=split)
        for rep in range(a.repeat):
            order = servers if rep % 2 == 0 else servers[::-1]
            for s in order:
                r = dnsperf(s, data["queries"], a.seconds, a.clients,
                            split=split)
                res["sekisho" if s is ipp else "rbldnsd"].append(r)
        res["sekisho_tcp"] = dnsperf(ipp, data["queries"], a.seconds,
                                     a.clients, ["-m", "tcp"], split)
        for s in servers:
            if not s.alive():
                raise BenchError("%s died during the run:\n%s"
                                 % (s.kind, s.log_tail()))
        res["rss_kb"] = {"sekisho": rss_kb(ipp.pid()),
                         "rbldnsd": rss_kb(rbl.pid())}
        res["sekisho_log_problems"] = ipp.log_problems()
    finally:
        for s in servers:
            s.stop(state, a.keep)
    return res


# ------------------------------------------------------------ connect step

def first_line(src, port, timeout=10.0):
    """(seconds from connect to the first reply line, its code)."""
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                 struct.pack("ii", 1, 0))     # no TIME_WAIT pile-up
    try:
        s.settimeout(timeout)
        s.bind((src, 0))
        t0 = time.perf_counter()
        s.connect(("127.0.0.1", port))
        buf = b""
        while b"\n" not in buf:
            c = s.recv(4096)
            if not c:
                break
            buf += c
        dt = time.perf_counter() - t0
        code = buf[:3].decode("ascii", "replace")
        if code == "220":
            try:
                s.sendall(b"QUIT\r\n")
                s.recv(512)
            except OSError:
                pass
        return dt, code
    finally:
        s.close()


def pct(v, p):
    """The p-th percentile (nearest rank) of the sorted list v."""
    if not v:
        return 0.0
    k = max(0, min(len(v) - 1, math.ceil(p / 100.0 * len(v)) - 1))
    return v[k]


def summary(times, codes):
    v = sorted(times)
    c = {}
    for x in codes:
        c[x] = c.get(x, 0) + 1
    return {"n": len(v), "p50_ms": pct(v, 50) * 1e3,
            "p90_ms": pct(v, 90) * 1e3, "p99_ms": pct(v, 99) * 1e3,
            "max_ms": v[-1] * 1e3 if v else 0,
            "mean_ms": statistics.mean(v) * 1e3 if v else 0, "codes": c}


def run_connect(a, data, tmp_root, state, check):
    """N connections from listed and from unlisted sources through one
    smtpd (with the profiler when check); their latencies."""
    # The 127.x clients must not be relay clients: those are not checked.
    extra = [("foxdns.ini", "foxdns", "enabled", "1" if check else "0"),
             ("foxdns.ini", "foxdns", "check_cache_secs", "0"),
             ("tsmtpd.ini", "SmtpServer", "RelayNetworks", "::1")]
    sk = benchlib.Sekisho(a.bindir, tmp_root, extra=extra)
    rec = type("Rec", (), {"kind": "sekisho-smtpd", "dir": sk.dir,
                           "sid": None})()
    ipp = None
    rnd = random.Random(11)
    listed = [rnd.choice(data["loop"]) for _ in range(a.conns)]
    unlisted = ["127.2.%d.%d" % (rnd.randrange(256), rnd.randrange(1, 255))
                for _ in range(a.conns)]
    out = {"check": check}
    try:
        state.add(rec)
        if check:
            ipp = Ipprofiler(a.bindir, tmp_root, data["foxdns"],
                             benchlib.free_port(), confdir=sk.confdir)
            log("starting sekisho-ipprofiler for the connect check (%s)"
                % sk.confdir)
            ipp.start(state)
        log("starting sekisho-smtpd (foxdns enabled=%d) in %s"
            % (check, sk.dir))
        sk.start()
        rec.sid = sk.proc.pid
        state.add(rec)
        # Warm-up, untimed: the first connections start the processes'
        # caches and the queue's link to the profiler.
        for i in range(50):
            first_line(listed[i % len(listed)] if i % 2 else
                       unlisted[i], sk.port)
        t_l, c_l, t_u, c_u = [], [], [], []
        t0 = time.monotonic()
        for i in range(a.conns):
            dt, code = first_line(listed[i], sk.port)
            t_l.append(dt)
            c_l.append(code)
            dt, code = first_line(unlisted[i], sk.port)
            t_u.append(dt)
            c_u.append(code)
        out["wall_s"] = time.monotonic() - t0
        out["listed"] = summary(t_l, c_l)
        out["unlisted"] = summary(t_u, c_u)
        if not sk.alive() or (ipp is not None and not ipp.alive()):
            raise BenchError("a daemon died during the connect step:\n%s"
                             % sk.log_tail())
        out["smtpd_problems"] = [ln for ln in sk.log_problems()
                                 if "ipprofiler" not in ln or check]
        out["ipp_problems"] = ipp.log_problems() if ipp else []
        log("connect (check %s): listed p50 %.2f ms p99 %.2f ms %s; "
            "unlisted p50 %.2f ms p99 %.2f ms %s"
            % ("on" if check else "off", out["listed"]["p50_ms"],
               out["listed"]["p99_ms"], out["listed"]["codes"],
               out["unlisted"]["p50_ms"], out["unlisted"]["p99_ms"],
               out["unlisted"]["codes"]))
    finally:
        with benchlib.signals_blocked():
            sk.stop()
            if ipp is not None:
                ipp.stop(state, a.keep)
            sk.remove(a.keep)
            state.drop(rec)
    return out


# ------------------------------------------------------------ report

def median_run(runs):
    srt = sorted(runs, key=lambda r: r["qps"] or 0)
    return srt[(len(srt) - 1) // 2]


def report(a, mach, data, dns, conn, started, elapsed):
    L = []
    L.append("IP profiler benchmark (issue 8), %s mode, %s (%.0f s)"
             % (a.mode, started, elapsed))
    L.append("machine: %d CPUs (%s), %.1f GiB, kernel %s, %s; load %s -> %s"
             % (mach["nproc"], mach["cpu"], mach["mem_gib"], mach["kernel"],
                "Debian " + mach["os"], mach["load_start"],
                mach.get("load_end", "?")))
    L.append("list: %d IPv4 addresses, each with a reason (%d in "
             "127.1.0.0/16); the same list as foxdns.ini blocked_list_file "
             "and as an rbldnsd ip4set" % (len(data["listed"]), NLOOP))
    failures = []
    if dns:
        mix = data["query_mix"]
        L.append("queries: %d (%d A listed, %d TXT listed, %d A unlisted), "
                 "zone %s; dnsperf -c %d -T 1 -l %g, %d run%s per server, "
                 "alternating; median run"
                 % (sum(mix.values()), mix["A listed"], mix["TXT listed"],
                    mix["A unlisted"], ZONE, a.clients, a.seconds, a.repeat,
                    "" if a.repeat == 1 else "s"))
        if dns.get("pinned"):
            L.append("CPUs: the DNS server pinned to CPU %d, dnsperf to %s"
                     % (dns["pinned"][0], ",".join(
                         str(c) for c in dns["pinned"][1])))
        else:
            L.append("CPUs: not pinned (server and dnsperf share them)")
        L.append("rbldnsd %s; sekisho-ipprofiler (this tree)"
                 % dns.get("rbldnsd_version", "?"))
        L.append("")
        fmt = "%-22s | %10s | %12s | %9s | %12s | %8s | %9s"
        hdr = fmt % ("DNS server", "qps", "qps/CPU s", "CPU", "latency avg",
                     "lost", "RSS")
        L.append(hdr)
        L.append("-" * len(hdr))
        rows = [("sekisho-ipprofiler", dns["sekisho"]),
                ("rbldnsd", dns["rbldnsd"])]
        if dns.get("sekisho_tcp"):
            rows.append(("sekisho-ipprofiler TCP", [dns["sekisho_tcp"]]))
        for name, runs in rows:
            if not runs:
                continue
            r = median_run(runs)
            L.append(fmt % (name, "%.0f" % r["qps"],
                            "%.0f" % r["qps_per_cpu_s"],
                            "%.0f%%" % (100 * r["server_cpu_s"] /
                                        r["wall_s"]),
                            "%.3f ms" % (1e3 * (r["latency_avg_s"] or 0)),
                            "%d" % (r["lost"] or 0),
                            benchlib.mb(r["rss_kb"])))
        if dns["sekisho"] and dns["rbldnsd"]:
            s, r = median_run(dns["sekisho"]), median_run(dns["rbldnsd"])
            L.append("sekisho / rbldnsd: qps %.2f, qps per CPU second %.2f"
                     % (s["qps"] / r["qps"],
                        s["qps_per_cpu_s"] / r["qps_per_cpu_s"]))
        if a.repeat > 1:
            for name, runs in rows[:2]:
                L.append("  every run, %s: %s" % (name, ", ".join(
                    "%.0f qps (%.0f/CPU s)" % (x["qps"], x["qps_per_cpu_s"])
                    for x in runs)))
        L.append("response codes (median run): sekisho %s; rbldnsd %s"
                 % (median_run(dns["sekisho"])["rcodes"],
                    median_run(dns["rbldnsd"])["rcodes"]))
        L.append("start to first answer with the list loaded: sekisho "
                 "%.1f s, rbldnsd %.1f s" % (dns["ready_s"]["sekisho"],
                                             dns["ready_s"]["rbldnsd"]))
        L.append("spot checks: %d queries (A and TXT of 300 listed, 300 "
                 "unlisted, the test entry) to each server: %s"
                 % (dns["spot_checks"], "identical and as listed" if not
                    dns["spot_problems"] else "%d PROBLEMS"
                    % len(dns["spot_problems"])))
        for p in dns["spot_problems"][:10]:
            L.append("  " + p)
        if dns["spot_problems"]:
            failures.append("DNS spot checks: %d problems"
                            % len(dns["spot_problems"]))
        for name, runs in rows:
            for x in runs:
                if (x["lost"] or 0) > 0.001 * (x["sent"] or 1):
                    failures.append("%s lost %d of %d queries"
                                    % (name, x["lost"], x["sent"]))
        if dns.get("sekisho_log_problems"):
            L.append("sekisho-ipprofiler log warnings: %d, e.g. %s"
                     % (len(dns["sekisho_log_problems"]),
                        dns["sekisho_log_problems"][0][:200]))
    if conn:
        L.append("")
        L.append("connect-time check: time from connect() to the first "
                 "reply line, %d connections per class, one at a time, "
                 "listed and unlisted alternating; check_cache_secs=0"
                 % a.conns)
        fmt = "%-34s | %-10s | %8s | %8s | %8s | %8s | %s"
        hdr = fmt % ("smtpd", "client", "p50", "p90", "p99", "max",
                     "replies")
        L.append(hdr)
        L.append("-" * len(hdr))
        for key, label in (("on", "foxdns enabled=1 (+ipprofiler)"),
                           ("off", "foxdns enabled=0 (no check)")):
            c = conn.get(key)
            if not c:
                continue
            for cls in ("listed", "unlisted"):
                x = c[cls]
                L.append(fmt % (label, cls, "%.2f ms" % x["p50_ms"],
                                "%.2f ms" % x["p90_ms"],
                                "%.2f ms" % x["p99_ms"],
                                "%.2f ms" % x["max_ms"],
                                " ".join("%s x%d" % kv for kv in
                                         sorted(x["codes"].items()))))
            want = {"listed": "554" if key == "on" else "220",
                    "unlisted": "220"}
            for cls, code in want.items():
                bad = {k: v for k, v in c[cls]["codes"].items() if k != code}
                if bad:
                    failures.append("connect %s %s: replies %s, want all %s"
                                    % (key, cls, bad, code))
            if c.get("smtpd_problems"):
                L.append("  smtpd log warnings (%s): %d, e.g. %s"
                         % (key, len(c["smtpd_problems"]),
                            c["smtpd_problems"][0][:200]))
        if conn.get("on") and conn.get("off"):
            on, off = conn["on"], conn["off"]
            L.append("cost of the check (p50, unlisted): %+.2f ms; a listed "
                     "client is refused in %.2f ms (p50)"
                     % (on["unlisted"]["p50_ms"] - off["unlisted"]["p50_ms"],
                        on["listed"]["p50_ms"]))
    L.append("")
    L.append("checks: %s" % ("all passed" if not failures else
                             "FAILED: " + "; ".join(failures)))
    return "\n".join(L) + "\n", failures


# ------------------------------------------------------------ main

def main():
    ap = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0],
        formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--mode", choices=sorted(MODES), default="default")
    ap.add_argument("--bindir", default=os.path.join(SOURCE, "build-bench",
                                                     "bin"))
    ap.add_argument("--seconds", type=float,
                    help="per dnsperf run (quick 5, default 20)")
    ap.add_argument("--repeat", type=int, help="dnsperf runs per server, "
                    "alternating; the table gives the median (quick 1, "
                    "default 3)")
    ap.add_argument("--clients", type=int, default=4,
                    help="dnsperf -c (UDP sockets), default 4")
    ap.add_argument("--conns", type=int, help="connections per class in "
                    "the connect step (quick 300, default 2000)")
    ap.add_argument("--only", choices=("dns", "connect"))
    ap.add_argument("--no-pin", action="store_true",
                    help="do not give the DNS server a CPU of its own "
                    "(by default it runs on the last CPU, dnsperf on the "
                    "others)")
    ap.add_argument("--no-install", action="store_true")
    ap.add_argument("--keep", action="store_true",
                    help="keep the temp dirs afterwards")
    ap.add_argument("--results", default=os.path.join(HERE, "results"))
    ap.add_argument("--state", help="file recording what this run started")
    ap.add_argument("--cleanup", metavar="STATE",
                    help="stop and remove what a killed run left, and exit")
    a = ap.parse_args()
    if a.cleanup:
        return cleanup(a.cleanup)
    m = MODES[a.mode]
    a.seconds = a.seconds or m["seconds"]
    a.repeat = a.repeat or m["repeat"]
    a.conns = a.conns or m["conns"]

    def on_signal(signum, _frame):
        raise KeyboardInterrupt("signal %d" % signum)
    for sig in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, on_signal)

    started = datetime.datetime.now()
    t_start = time.monotonic()
    mach = benchlib.machine()
    state = State(a.state)
    tmp_root = os.environ.get("TMPDIR", "/tmp")
    benchlib.raise_nofile()
    tmp = tempfile.mkdtemp(prefix="sekisho-bench-ipp.", dir=tmp_root)
    os.chmod(tmp, 0o755)        # the profiler's user reads the list here
    # The data directory is in the state file too: --cleanup removes it
    # after a SIGKILL (it has no process: sid None).
    data_rec = type("Rec", (), {"kind": "data", "dir": tmp, "sid": None})()
    state.add(data_rec)
    dns, conn = None, {}
    try:
        if a.only != "connect":
            benchlib.ensure_packages(
                ["rbldnsd"], "rbldnsd", ["rbldnsd"],
                lambda: benchlib.pids_of_exe(RBLDNSD), a.no_install)
            benchlib.ensure_packages(["dnsperf"], "dnsperf", [],
                                     lambda: [], a.no_install)
        log("writing the list of %d addresses and the queries in %s"
            % (NLIST, tmp))
        data = make_data(tmp)
        for p in (data["foxdns"], data["rbl"], data["queries"]):
            os.chmod(p, 0o644)
        if a.only != "connect":
            dns = run_dns(a, data, tmp_root, state)
        if a.only != "dns":
            conn["on"] = run_connect(a, data, tmp_root, state, True)
            conn["off"] = run_connect(a, data, tmp_root, state, False)
    except (KeyboardInterrupt, BenchError, subprocess.CalledProcessError,
            subprocess.TimeoutExpired, OSError) as e:
        with benchlib.signals_blocked():
            if isinstance(e, KeyboardInterrupt):
                log("interrupted; tearing down")
            else:
                log("failed: %s" % e)
            state.drop(data_rec)
            cleanup_live(state)
            if not a.keep:
                benchlib.rmtree(tmp)
        return 130 if isinstance(e, KeyboardInterrupt) else 2
    with benchlib.signals_blocked():
        state.drop(data_rec)
        cleanup_live(state)
        if not a.keep:
            benchlib.rmtree(tmp)
        else:
            log("kept %s" % tmp)
    mach["load_end"] = benchlib.loadavg()
    text, failures = report(a, mach, data, dns, conn,
                            started.strftime("%Y-%m-%d %H:%M:%S"),
                            time.monotonic() - t_start)
    print(text, end="")
    os.makedirs(a.results, exist_ok=True)
    out = os.path.join(a.results, "ipp-%s%s.txt" % (
        started.strftime("%Y%m%d-%H%M%S"),
        "" if a.mode == "default" else "-" + a.mode))
    return write_results(out, text, {
        "args": vars(a), "machine": mach, "query_mix": data["query_mix"],
        "dns": dns, "connect": conn}, failures)


def cleanup_live(state):
    """Whatever a failed step left running (by session id) and its dir."""
    for inst in list(state.live):
        if inst.sid and inst.sid in benchlib.session_members(inst.sid):
            benchlib.kill_pids([inst.sid], signal.SIGTERM)
            time.sleep(1)
            benchlib.kill_pids(benchlib.session_members(inst.sid),
                               signal.SIGKILL)
        benchlib.rmtree(inst.dir)
        state.drop(inst)


if __name__ == "__main__":
    sys.exit(main())
