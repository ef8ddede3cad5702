#!/bin/sh
# bench/run.sh: the accept-rate, idle-memory and relay benchmarks of
# sekisho-smtpd, side by side with Postfix, the scan benchmark of the
# scanner library, side by side with rspamd, and the spam benchmark,
# side by side with rspamd and SpamAssassin, and the IP profiler
# benchmark, side by side with rbldnsd, in one command.  See
# bench/README.md.
#
#   bench/run.sh [quick|default] [accept] [idle] [relay] [scan] [spam]
#       [ipp] [gateway] [scale] [options]
#
# quick: 10 sessions, 1,000 messages, 500 idle connections (100 for
# Postfix); default: 20 sessions, 10,000 messages of 5 KB, 5,000 idle
# connections (500 for Postfix).  Step words pick steps (default: all
# three), e.g. `bench/run.sh relay` or `bench/run.sh quick relay`.  Any
# bench.py option overrides, e.g. `bench/run.sh default --messages 20000
# --sessions 50`; bench.py --help lists them.  `scan` (not in the default
# set: it installs rspamd) runs bench/scan_bench.py; with `scan` alone the
# options go to it (scan_bench.py --help), e.g. `bench/run.sh scan
# --seconds 30`.  `spam` (not in the default set either: it installs
# rspamd and SpamAssassin, and fetches the corpus with npm) runs
# bench/spam_bench.py; alone, the options go to it.  `ipp` (not in the
# default set: it installs rbldnsd and dnsperf) runs bench/ipp_bench.py:
# DNSBL queries per second next to rbldnsd, and the connect-time check
# latency of sekisho-smtpd + sekisho-ipprofiler; alone, the options go to
# it (ipp_bench.py --help), e.g. `bench/run.sh ipp --seconds 30`.
# `gateway` (not in the default set: it installs rspamd) runs
# bench/gateway_bench.py: sekisho-smtpd + sekisho-scanner with the shipped
# policy (antivirus, antispam) next to Postfix + rspamd as a milter (+
# ClamAV through clamd), same messages, relaying to smtp-sink.  `scale`
# (not in the default set: it installs gnuplot-nox) runs
# bench/scale_bench.py: idle memory at 5,000 and 10,000 connections,
# relay messages/s as sessions grow 1 -> 200, time per message as the
# size grows 5 KB -> 10 MB, with SVG plots.  Alone, the options go to
# the step's script (--help).
#
# Environment: BENCH_BUILD_DIR (default build-bench/ in the source tree),
# BENCH_BUILD_TYPE (RelWithDebInfo), BENCH_NO_INSTALL=1 (skip apt-get),
# BENCH_NO_BUILD=1 (use the binary already in BENCH_BUILD_DIR), TMPDIR
# (where the spools live; default /tmp).
#
# Needs root: it installs Debian packages and runs a private Postfix
# instance.  Every server listens on 127.0.0.1 only.  Everything it starts
# is stopped and removed at the end, also on Ctrl-C, SIGTERM or failure.
set -eu
cd "$(dirname "$0")/.."
top=$(pwd)

mode=default
steps=""
scan=0
spam=0
ipp=0
gateway=0
scale=0
i=0
while [ $# -gt 0 ] && [ "$i" -lt 10 ]; do
	i=$((i + 1))
	case "$1" in
	quick|default) mode=$1; shift ;;
	accept|idle|relay) steps="${steps:+$steps,}$1"; shift ;;
	scan) scan=1; shift ;;
	spam) spam=1; shift ;;
	ipp) ipp=1; shift ;;
	gateway) gateway=1; shift ;;
	scale) scale=1; shift ;;
	-h|--help) sed -n '2,45p' "$0"; exit 0 ;;
	*) break ;;
	esac
done
# bench.py runs unless `scan`, `spam`, `ipp`, `gateway` or `scale` were the
# only step words.
smtp=1
[ "$scan$spam$ipp$gateway$scale" != 00000 ] && [ -z "$steps" ] && smtp=0
# Postfix (and smtp-source, smtp-sink) is needed by bench.py, gateway, scale.
needpf=$smtp
[ "$gateway$scale" != 00 ] && needpf=1

if [ "$smtp" = 0 ] && [ $((scan + spam + ipp + gateway + scale)) -gt 1 ] &&
    [ $# -gt 0 ]; then
	echo "bench: options go to one step: run scan, spam, ipp, gateway and scale separately" >&2
	exit 2
fi
if [ "$(id -u)" -ne 0 ]; then
	echo "bench: run as root (apt-get, the Postfix instance, service users)" >&2
	exit 2
fi

builddir=${BENCH_BUILD_DIR:-$top/build-bench}
buildtype=${BENCH_BUILD_TYPE:-RelWithDebInfo}
only_postfix=0
for arg in "$@"; do
	[ "$arg" = "postfix" ] && only_postfix=1
done

# ---- 1. Debian packages -------------------------------------------------
pkg_installed() {
	dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q 'ok installed'
}

postfix_masters() {
	# pids of running Postfix master processes (any instance)
	for d in /proc/[0-9]*; do
		[ "$(readlink "$d/exe" 2>/dev/null)" = /usr/lib/postfix/sbin/master ] &&
		    echo "${d#/proc/}"
	done
	return 0
}

if [ "${BENCH_NO_INSTALL:-0}" != 1 ]; then
	./scripts/install-deps.sh
	if [ "$needpf" = 1 ] && ! pkg_installed postfix; then
		echo "bench: installing postfix (no configuration, not started)"
		echo "postfix postfix/main_mailer_type select No configuration" |
		    debconf-set-selections
		export DEBIAN_FRONTEND=noninteractive
		apt-get install -y -q --no-install-recommends postfix ||
		    { apt-get update -q &&
		      apt-get install -y -q --no-install-recommends postfix; }
		# "No configuration" starts nothing; make sure of it.
		for pid in $(postfix_masters); do
			echo "bench: stopping the system postfix the install started (pid $pid)"
			/usr/sbin/postfix stop >/dev/null 2>&1 || kill "$pid" 2>/dev/null || true
		done
	fi
fi
for f in /usr/sbin/smtp-source /usr/sbin/smtp-sink /usr/sbin/postfix \
    /usr/lib/postfix/sbin/master; do
	[ "$needpf" = 0 ] && break
	[ -x "$f" ] || { echo "bench: $f missing (apt-get install postfix)" >&2; exit 2; }
done
if [ "$needpf" = 1 ] && [ -n "$(postfix_masters)" ]; then
	echo "bench: warning: a Postfix master is already running (pid $(postfix_masters | tr '\n' ' '));" \
	    "it is not ours and is left alone, but it may disturb the figures" >&2
fi

# ---- 2. build (optimised, no sanitizers, only what runs) ----------------
if [ "${BENCH_NO_BUILD:-0}" != 1 ] &&
    { [ "$only_postfix" = 0 ] || [ "$scan$spam$ipp$gateway$scale" != 00000 ]; }; then
	cmake -S "$top" -B "$builddir" -DCMAKE_BUILD_TYPE="$buildtype" \
	    -DSEKISHO_SANITIZE=OFF -DSEKISHO_FUZZ=OFF >/dev/null
	if [ "$smtp" = 1 ] && [ "$only_postfix" = 0 ] &&
	    ! cmake --build "$builddir" -j "$(nproc)" --target sekisho-smtpd; then
		echo "bench: building sekisho-smtpd failed (is smtpd/smtp.c there yet?)" >&2
		exit 2
	fi
	if [ "$scan$spam" != 00 ] &&
	    ! cmake --build "$builddir" -j "$(nproc)" --target sekisho-scanbench; then
		echo "bench: building sekisho-scanbench failed" >&2
		exit 2
	fi
	if [ "$ipp" = 1 ] &&
	    ! cmake --build "$builddir" -j "$(nproc)" --target sekisho-ipprofiler \
	    sekisho-smtpd; then
		echo "bench: building sekisho-ipprofiler and sekisho-smtpd failed" >&2
		exit 2
	fi
	if [ "$gateway" = 1 ] &&
	    ! cmake --build "$builddir" -j "$(nproc)" --target sekisho-scanner \
	    sekisho-smtpd; then
		echo "bench: building sekisho-scanner and sekisho-smtpd failed" >&2
		exit 2
	fi
	if [ "$scale" = 1 ] &&
	    ! cmake --build "$builddir" -j "$(nproc)" --target sekisho-smtpd; then
		echo "bench: building sekisho-smtpd failed" >&2
		exit 2
	fi
fi

# ---- 3. run, with a trap that tears everything down ---------------------
# Each server needs a descriptor per connection, the client one too.
# shellcheck disable=SC3045  # dash and bash both have ulimit -n/-H
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true

state=$(mktemp "${TMPDIR:-/tmp}/sekisho-bench-state.XXXXXX")
pid=""
# shellcheck disable=SC2317  # called from the traps
cleanup() {
	if [ -n "$pid" ]; then
		kill -TERM "$pid" 2>/dev/null || true
		# bench.py unwinds on SIGTERM; give it a bounded time
		i=0
		while kill -0 "$pid" 2>/dev/null && [ "$i" -lt 60 ]; do
			sleep 0.5; i=$((i + 1))
		done
		kill -KILL "$pid" 2>/dev/null || true
		pid=""
	fi
	python3 "$top/bench/bench.py" --cleanup "$state" || true
	python3 "$top/bench/scan_bench.py" --cleanup "$state.scan" || true
	python3 "$top/bench/spam_bench.py" --cleanup "$state.spam" || true
	python3 "$top/bench/ipp_bench.py" --cleanup "$state.ipp" || true
	python3 "$top/bench/gateway_bench.py" --cleanup "$state.gateway" || true
	python3 "$top/bench/scale_bench.py" --cleanup "$state.scale" || true
	rm -f "$state" "$state.tmp" "$state.scan" "$state.scan.tmp" \
	    "$state.spam" "$state.spam.tmp" "$state.ipp" "$state.ipp.tmp" \
	    "$state.gateway" "$state.gateway.tmp" "$state.scale" \
	    "$state.scale.tmp"
}
trap 'cleanup' EXIT
trap 'echo "bench: interrupted" >&2; cleanup; trap - EXIT; exit 130' INT TERM HUP

rc=0
if [ "$smtp" = 1 ]; then
	python3 "$top/bench/bench.py" --mode "$mode" --bindir "$builddir/bin" \
	    --state "$state" ${steps:+--steps "$steps"} "$@" &
	pid=$!
	wait "$pid" || rc=$?
	pid=""
	set --		# the options were bench.py's
fi
# run_step SCRIPT NAME ARGS...: one Python benchmark in the background
# (so the trap can stop it); rc becomes the worse of the two: 130 or 2
# (setup) over 1 (a check) over 0.
run_step() {
	script=$1
	name=$2
	shift 2
	noinst=""
	if [ "${BENCH_NO_INSTALL:-0}" = 1 ]; then
		noinst=--no-install
	fi
	python3 "$top/bench/$script" --mode "$mode" \
	    --bindir "$builddir/bin" --state "$state.$name" $noinst "$@" &
	pid=$!
	src=0
	wait "$pid" || src=$?
	pid=""
	if [ "$src" -gt "$rc" ]; then
		rc=$src
	fi
}
if [ "$scan" = 1 ]; then
	run_step scan_bench.py scan "$@"
	set --		# the options were scan_bench.py's
fi
if [ "$spam" = 1 ]; then
	run_step spam_bench.py spam "$@"
	set --		# the options were spam_bench.py's
fi
if [ "$ipp" = 1 ]; then
	run_step ipp_bench.py ipp "$@"
	set --		# the options were ipp_bench.py's
fi
if [ "$gateway" = 1 ]; then
	run_step gateway_bench.py gateway "$@"
	set --		# the options were gateway_bench.py's
fi
if [ "$scale" = 1 ]; then
	run_step scale_bench.py scale "$@"
fi
exit "$rc"
