#!/bin/sh
# install-deps.sh: install the Debian packages sekisho builds, runs and tests
# with, and create the service users.  Idempotent: packages already present
# are skipped and no network access happens when nothing is missing.
set -eu

PKGS="build-essential cmake pkg-config clang libclang-rt-14-dev
libssl-dev libevent-dev libc-ares-dev libldns-dev libspf2-dev libopendkim-dev
libopendmarc-dev libgmime-3.0-dev libpcre2-dev libmagic-dev libarchive-dev
libclamav-dev libldap-dev libsqlite3-dev libjansson-dev libseccomp-dev
python3 openssl swaks libnet-ssleay-perl dnsmasq-base postfix
clamav clamav-daemon clamav-testfiles publicsuffix iproute2 rspamd
bind9-dnsutils"

missing=""
for p in $PKGS; do
	if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'ok installed'; then
		missing="$missing $p"
	fi
done

if [ -n "$missing" ]; then
	if [ "$(id -u)" -ne 0 ]; then
		echo "install-deps: missing packages:$missing (run as root to install)" >&2
		exit 1
	fi
	echo "install-deps: installing:$missing"
	export DEBIAN_FRONTEND=noninteractive
	# Postfix is here for its test and benchmark tools (smtp-sink,
	# smtp-source): no system MTA is configured or started.
	echo "postfix postfix/main_mailer_type select No configuration" |
	    debconf-set-selections
	# ClamAV is here for libclamav's tools (sigtool, clamscan), clamd
	# (started by the tests themselves) and its test files.  The tests
	# build their own signature database: freshclam never runs, and no
	# system clamd or freshclam service may start or touch the network.
	echo "clamav-freshclam clamav-freshclam/autoupdate_freshclam select manual" |
	    debconf-set-selections
	# Keep maintainer scripts from starting services (clamav-freshclam's
	# would run freshclam once) during the install: a policy-rc.d that
	# denies everything, in place of any other for that time.
	policy=/usr/sbin/policy-rc.d
	if [ -e "$policy" ]; then
		mv "$policy" "$policy.sekisho-save"
	fi
	restore_policy() {
		rm -f "$policy"
		if [ -e "$policy.sekisho-save" ]; then
			mv "$policy.sekisho-save" "$policy"
		fi
	}
	trap restore_policy EXIT
	printf '#!/bin/sh\nexit 101\n' >"$policy"
	chmod 755 "$policy"
	apt-get update -q
	# shellcheck disable=SC2086
	apt-get install -y -q --no-install-recommends $missing
	restore_policy
	trap - EXIT
fi

# Whether just installed or not: no system clamd, freshclam or rspamd (the
# tests start their own on private sockets).
if [ "$(id -u)" -eq 0 ]; then
	if command -v systemctl >/dev/null 2>&1 && [ -d /run/systemd/system ]; then
		for s in clamav-daemon.socket clamav-daemon clamav-freshclam \
		    rspamd; do
			systemctl disable --now "$s" >/dev/null 2>&1 || true
		done
	fi
	for s in clamav-daemon clamav-freshclam rspamd; do
		if [ -x "/etc/init.d/$s" ]; then
			"/etc/init.d/$s" stop >/dev/null 2>&1 || true
			if command -v update-rc.d >/dev/null 2>&1; then
				update-rc.d "$s" disable >/dev/null 2>&1 || true
			fi
		fi
	done
fi

# One system user per trust domain (DESIGN.md section 1).  No home, no shell.
if [ "$(id -u)" -eq 0 ]; then
	nologin=/usr/sbin/nologin
	[ -x "$nologin" ] || nologin=/bin/false
	for u in _sekisho-mgr _sekisho-smtpd _sekisho-queue _sekisho-scan \
	    _sekisho-ipp _sekisho-euq; do
		if ! getent group "$u" >/dev/null; then
			groupadd --system "$u"
		fi
		if ! getent passwd "$u" >/dev/null; then
			useradd --system --gid "$u" --no-create-home \
			    --home-dir /nonexistent --shell "$nologin" "$u"
		fi
	done
fi
