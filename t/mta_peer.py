#!/usr/bin/env python3
"""mta_peer.py: a scriptable SMTP server for the mta tests (loopback only).

Usage: mta_peer.py DIR [option=value ...]

A command-line adapter over smtpsink.Sink (t/integration/smtpsink.py,
the test suite's one SMTP server core).  Listens on 127.0.0.1 (and ::1
with v6=1) on a free port, writes the port to DIR/port when ready, and
logs what it sees to DIR/log, one event per line, for the C tests to read:

    CONNECT <conn>            a connection was accepted
    CMD <conn> <line>         a command line, as received
    PIPE <conn> <n>           complete lines already buffered when MAIL came
    TLS <conn>                STARTTLS handshake done
    MSG <conn> <k>            message k complete, content in DIR/msg-<k>
    ENV <k> <sender> <rcpt,rcpt...>

Options (all optional):
    greeting="220 peer ESMTP"   caps=PIPELINING,SIZE 1000,...
    ehlo=250 | "502 5.5.2 no"   rcpt_fail=addr:reply;addr:reply
    mail="250 2.1.0 Ok"         eod="250 2.0.0 Ok"
    cert=FILE key=FILE          (STARTTLS)  v6=1  v4=0
    rset_close=1                close the connection after RSET's reply
Runs until killed.  Standard library only.
"""
import os
import sys
import threading

sys.dont_write_bytecode = True    # no __pycache__ in the source tree
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "integration"))
from smtpsink import Sink  # noqa: E402


def main():
    d = sys.argv[1]
    o = dict(a.split("=", 1) for a in sys.argv[2:])
    hosts = []
    if o.get("v4", "1") == "1":
        hosts.append("127.0.0.1")
    if o.get("v6", "0") == "1":
        hosts.append("::1")
    fails = dict(x.split(":", 1) for x in o.get("rcpt_fail", "").split(";")
                 if x)
    ehlo = o.get("ehlo", "250")
    sink = Sink(
        host=hosts, hostname="peer",
        greeting=o.get("greeting", "220 peer ESMTP"), reject_wait=True,
        caps=[x for x in o.get("caps", "").split(",") if x],
        tls=(o["cert"], o["key"]) if "cert" in o else None,
        ehlo_reply=None if ehlo == "250" else ehlo,
        rset_close=o.get("rset_close") == "1",
        replies={"mail": o.get("mail", "250 2.1.0 Ok"),
                 "rcpt": "250 2.1.5 Ok",
                 "data": o.get("eod", "250 2.0.0 Ok: queued"),
                 "rset": "250 2.0.0 Ok",
                 "quit": "221 2.0.0 Bye",
                 "unknown": "502 5.5.2 unknown command"},
        timeout=None, max_line=100000, pipe_probe=True)
    sink.rcpt_reply = lambda addr, n: fails.get(addr)

    lock = threading.Lock()
    logf = open(os.path.join(d, "log"), "a", buffering=1)

    def log(text):
        with lock:
            logf.write(text + "\n")
            logf.flush()

    def on_event(kind, cid, *args):
        if kind == "MSG":
            k, tx, data = args
            with open(os.path.join(d, "msg-%d" % k), "wb") as f:
                f.write(data)
            log("ENV %d %s %s" % (k, tx.sender, ",".join(tx.rcpt_to)))
            log("MSG %d %d" % (cid, k))
        else:
            log(" ".join([kind, str(cid)] + [str(a) for a in args]))

    sink.on_event = on_event
    sink.start()
    tmp = os.path.join(d, "port.tmp")
    with open(tmp, "w") as f:
        f.write("%d\n" % sink.port)
    os.rename(tmp, os.path.join(d, "port"))
    threading.Event().wait()


if __name__ == "__main__":
    main()
