#!/bin/sh
# install-deps.sh: install the Debian packages sekisho builds, runs and tests
# with, and create the service users.  Idempotent: packages already present
# are skipped and no network access happens when nothing is missing.
set -eu

PKGS="build-essential cmake pkg-config clang libclang-rt-14-dev
libssl-dev libevent-dev libc-ares-dev libldns-dev libspf2-dev libopendkim-dev
libopendmarc-dev libgmime-3.0-dev libpcre2-dev libmagic-dev libarchive-dev
libclamav-dev libldap-dev libsqlite3-dev libjansson-dev libseccomp-dev
python3 openssl swaks libnet-ssleay-perl dnsmasq-base postfix"

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
	apt-get update -q
	# shellcheck disable=SC2086
	apt-get install -y -q --no-install-recommends $missing
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
