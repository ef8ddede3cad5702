#!/bin/sh
# run.sh: install what is missing, build, and run the sekisho suite on this
# host in the foreground with the default configuration in etc/ (or the
# directory given with -c).  Ctrl-C (SIGINT/SIGTERM) stops every service.
#
# It checks the configuration, creates the TLS key pair, data and run
# directories the configuration names, then runs sekisho-manager in the
# foreground: the manager starts every service program the build produced
# ([imss_manager] services), restarts one that dies, and logs each into
# <data_dir>/log/<service>.log (docs/manager.md).  With the shipped etc/,
# mail to anything@localhost is delivered into /var/lib/sekisho/maildir/.
set -eu
cd "$(dirname "$0")/.."
top=$(pwd)
confdir=$top/etc
[ "${1:-}" = "-c" ] && [ -n "${2:-}" ] && confdir=$(cd "$2" && pwd)

./scripts/install-deps.sh
cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build build -j "$(nproc)"

bin=$top/build/bin
"$bin/sekishoctl" -c "$confdir" config check

# A self-signed certificate for STARTTLS/SMTPS when none is configured yet.
cert=$("$bin/sekishoctl" -c "$confdir" config get tsmtpd.ini SmtpServer TlsCertFile)
key=$("$bin/sekishoctl" -c "$confdir" config get tsmtpd.ini SmtpServer TlsKeyFile)
if [ ! -e "$cert" ] || [ ! -e "$key" ]; then
	mkdir -p "$(dirname "$cert")" "$(dirname "$key")"
	echo "run: generating a self-signed TLS certificate in $cert"
	openssl req -x509 -newkey rsa:2048 -sha256 -days 825 -nodes \
	    -subj "/CN=$(hostname -f 2>/dev/null || hostname)" \
	    -keyout "$key" -out "$cert" 2>/dev/null
	chmod 600 "$key"
fi

# ClamAV needs signatures.  Debian's freshclam fetches them (network);
# without any, install only the EICAR test signature so the suite starts,
# and say so loudly: real mail then goes through without real antivirus.
if [ "$("$bin/sekishoctl" -c "$confdir" config get policy.ini antivirus enabled)" = 1 ] &&
    [ "$("$bin/sekishoctl" -c "$confdir" config get policy.ini antivirus engine)" = libclamav ]; then
	db=$("$bin/sekishoctl" -c "$confdir" config get policy.ini antivirus database_dir)
	mkdir -p "$db"
	if ! ls "$db" | grep -Eq '\.(cvd|cld|cud|hdb|hsb|ndb|ldb|mdb|msb)$'; then
		echo "run: WARNING: no ClamAV signatures in $db: installing only the"
		echo "run: EICAR test signature; run 'freshclam' to get real ones"
		eicar='X5O!P%@AP[4\PZX54(P^)7CC)7}$EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*'
		printf 'Sekisho-Test.EICAR:0:0:%s\n' \
		    "$(printf '%s' "$eicar" | od -An -tx1 | tr -d ' \n')" \
		    > "$db/sekisho-eicar.ndb"
	fi
fi
for d in data_dir run_dir; do
	mkdir -p "$("$bin/sekishoctl" -c "$confdir" config get imss.ini general "$d")"
done

echo "run: starting the suite through sekisho-manager; Ctrl-C stops it"
echo "run: sudo $bin/sekishoctl -c $confdir status   shows the services"
exec "$bin/sekisho-manager" -f -c "$confdir"
