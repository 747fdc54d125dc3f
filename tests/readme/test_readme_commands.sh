#!/usr/bin/env bash
#
# test_readme_commands.sh - the README's "Trying the API" works as printed.
#
#   tests/readme/test_readme_commands.sh
#
# Runs deploy/run-local.sh as the README says (its default ports:
# lighttpd 127.0.0.1:8080, tokend 127.0.0.1:9000, PostgreSQL
# 127.0.0.1:55433) in a private run directory, takes the block it prints
# after "Paste into bash", and feeds exactly those lines to a fresh bash
# on its standard input, as a user pasting them would (clean environment,
# history expansion on as in an interactive shell).  Then checks:
#   - the statuses printed: HTTP 201 (long), 201 (short), 201 (rotate),
#     204 (revoke), in that order, and no curl or jq error;
#   - the printed CLIENT_ID=, CLIENT_KEY=, BASE= lines have the right form;
#   - README.md's walkthrough has the same commands, line for line (the
#     printed block differs only by those three value lines and by its
#     comments), and its comments name the same statuses;
#   - the printed admin command works (lists the demo client);
#   - deploy/run-local.sh stop leaves nothing listening on the three
#     ports, and deploy/run-local.sh reset deletes the run directory.
# A port already in use is a failure, named, before anything starts.
#
# Environment:
#   TOKEND_README_RUNDIR   run directory for run-local.sh (must not exist;
#                          default /var/tmp/tokend-readme-PID); always
#                          removed at the end (run-local.sh reset), unless
#                          TOKEND_KEEP_RUNDIR=1 after a failure
#   TOKEND_README_HTTP_PORT / _FCGI_PORT / _PGPORT
#                          other ports than run-local.sh's defaults
#                          (passed as TOKEND_HTTP_PORT, ...)
#
# Needs root on Debian 12 (run-local.sh installs packages and builds
# Release into build/release).  Output: "ok - ..." / "not ok - ..." lines,
# then "N passed, N failed"; exit 0 only when nothing failed.
set -uo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
cd "$ROOT" || exit 1
RUN_LOCAL=$ROOT/deploy/run-local.sh
README=$ROOT/README.md

# run-local.sh's defaults, as README.md states them.
HTTP_PORT=${TOKEND_README_HTTP_PORT:-8080}
FCGI_PORT=${TOKEND_README_FCGI_PORT:-9000}
PG_PORT=${TOKEND_README_PGPORT:-55433}
LRUNDIR=${TOKEND_README_RUNDIR:-/var/tmp/tokend-readme-$$}
WORK=$(mktemp -d /tmp/tokend-readme-test.XXXXXX)

PASSED=0
FAILED=0
ok() { PASSED=$((PASSED + 1)); echo "ok - $*"; }
not_ok() { FAILED=$((FAILED + 1)); echo "not ok - $*"; }
# shellcheck disable=SC2317	# used by the EXIT trap
say() { echo "# $*"; }

# run-local.sh with the private run directory, and only the port
# variables this test was given (none: run-local.sh's own defaults).
run_local() {
	local envs=(-u TOKEND_HTTP_PORT -u TOKEND_FCGI_PORT -u TOKEND_PGPORT
	    TOKEND_RUNDIR="$LRUNDIR")
	[ -n "${TOKEND_README_HTTP_PORT:-}" ] && envs+=(TOKEND_HTTP_PORT="$HTTP_PORT")
	[ -n "${TOKEND_README_FCGI_PORT:-}" ] && envs+=(TOKEND_FCGI_PORT="$FCGI_PORT")
	[ -n "${TOKEND_README_PGPORT:-}" ] && envs+=(TOKEND_PGPORT="$PG_PORT")
	env "${envs[@]}" bash "$RUN_LOCAL" "$@"
}

port_busy() { ss -Hltn "( sport = :$1 )" | grep -q .; }

STARTED=0
# shellcheck disable=SC2317	# called by the EXIT trap
finish() {
	local rc=$? f
	trap - EXIT INT TERM
	if [ "$STARTED" = 1 ]; then
		if [ "$FAILED" -gt 0 ]; then
			for f in "$LRUNDIR/tokend.log" "$LRUNDIR/lighttpd-$HTTP_PORT/lighttpd-error.log" \
			    "$LRUNDIR/pg.log"; do
				[ -s "$f" ] || continue
				say "--- tail of $f"
				tail -n 15 "$f" | sed 's/^/#   /'
			done
		fi
		if [ "$FAILED" -gt 0 ] && [ "${TOKEND_KEEP_RUNDIR:-0}" = 1 ]; then
			run_local stop >/dev/null 2>&1
			say "kept $LRUNDIR"
		elif [ -d "$LRUNDIR" ]; then
			run_local reset >/dev/null 2>&1 || say "deploy/run-local.sh reset failed"
		fi
	fi
	rm -rf "$WORK"
	[ "$rc" -ne 0 ] && [ "$FAILED" -eq 0 ] && not_ok "interrupted (exit $rc)"
	echo "$PASSED passed, $FAILED failed"
	[ "$FAILED" -eq 0 ]
	exit
}
trap finish EXIT
trap 'exit 130' INT TERM

# ------------------------------------------------------------ preflight
if [ "$(id -u)" -ne 0 ]; then
	not_ok "preflight: run as root (deploy/run-local.sh needs root)"
	exit 1
fi
if [ -e "$LRUNDIR" ]; then
	not_ok "preflight: $LRUNDIR already exists; choose another TOKEND_README_RUNDIR"
	exit 1
fi
busy=0
for p in "$HTTP_PORT:lighttpd:HTTP_PORT" "$FCGI_PORT:tokend:FCGI_PORT" "$PG_PORT:PostgreSQL:PGPORT"; do
	IFS=: read -r port what var <<<"$p"
	if port_busy "$port"; then
		not_ok "preflight: port $port (deploy/run-local.sh's $what) is in use on this host:" \
		    "$(ss -Hltnp "( sport = :$port )" | head -n 1 | tr -s ' ')." \
		    "Stop that program (a running deploy/run-local.sh: deploy/run-local.sh stop)" \
		    "or set TOKEND_README_$var"
		busy=1
	fi
done
[ $busy = 0 ] || exit 1
ok "preflight: ports $HTTP_PORT, $FCGI_PORT, $PG_PORT free"

# ------------------------------------------------------- run-local.sh
STARTED=1
t0=$SECONDS
run_local >"$WORK/start.out" 2>"$WORK/start.err"
rc=$?
if [ $rc -ne 0 ]; then
	sed 's/^/#   /' "$WORK/start.out"
	tail -n 30 "$WORK/start.err" | sed 's/^/#   /'
	not_ok "deploy/run-local.sh exited $rc"
	exit 1
fi
ok "deploy/run-local.sh started ($((SECONDS - t0)) s)"
sed 's/^/#   /' "$WORK/start.out"

# The block to paste: everything after the "Paste into bash" line.
awk 'found { print } /^Paste into bash/ { found = 1 }' "$WORK/start.out" >"$WORK/block.sh"
if [ ! -s "$WORK/block.sh" ]; then
	not_ok "deploy/run-local.sh printed no \"Paste into bash\" block"
	exit 1
fi

# The value lines.
want_base="http://127.0.0.1:$HTTP_PORT/v1"
if grep -qE '^CLIENT_ID=[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$' "$WORK/block.sh" &&
    grep -qE '^CLIENT_KEY=tkc_[0-9A-Za-z]{71}$' "$WORK/block.sh" &&
    grep -qxF "BASE=$want_base" "$WORK/block.sh"; then
	ok "printed CLIENT_ID=<uuid>, CLIENT_KEY=tkc_..., BASE=$want_base"
else
	not_ok "printed value lines: want CLIENT_ID=<uuid>, CLIENT_KEY=tkc_<71>, BASE=$want_base; got:" \
	    "$(grep -E '^[A-Z_]+=' "$WORK/block.sh" | sed 's/^CLIENT_KEY=.*/CLIENT_KEY=.../' | tr '\n' ' ')"
fi
if grep -qF "lighttpd 127.0.0.1:$HTTP_PORT -> tokend (spawn-fcgi) 127.0.0.1:$FCGI_PORT -> PostgreSQL 127.0.0.1:$PG_PORT" \
    "$WORK/start.out"; then
	ok "printed ports are $HTTP_PORT, $FCGI_PORT, $PG_PORT"
else
	not_ok "deploy/run-local.sh does not report lighttpd $HTTP_PORT, tokend $FCGI_PORT, PostgreSQL $PG_PORT"
fi

# ------------------------------------------- paste the block into bash
# A fresh bash reading the lines from its standard input, with the
# history expansion of an interactive shell (a "!" in a printed command
# would break for a user); nothing of this script's environment.
{
	echo 'set -o history -o histexpand'
	cat "$WORK/block.sh"
} >"$WORK/paste.sh"
(cd "$WORK" && env -i PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
    HOME="$WORK" LANG=C.UTF-8 TERM=dumb \
    timeout 60 bash --norc --noprofile -s <"$WORK/paste.sh" >"$WORK/paste.out" 2>&1)
rc=$?
sed 's/^/#   /' "$WORK/paste.out"
statuses=$(grep -oE '^HTTP [0-9]{3}$' "$WORK/paste.out" | awk '{ print $2 }' | tr '\n' ' ')
statuses=${statuses% }
if [ "$statuses" = "201 201 201 204" ]; then
	ok "pasted commands print HTTP 201 (long), 201 (short), 201 (rotate), 204 (revoke)"
else
	not_ok "pasted commands printed statuses \"$statuses\", want \"201 201 201 204\""
fi
if [ $rc -eq 0 ] && ! grep -qE '^(jq: |parse error|curl: |bash: )|event not found|command not found' "$WORK/paste.out"; then
	ok "pasted commands: exit 0, no error from bash, curl or jq"
else
	not_ok "pasted commands: exit $rc or an error line: $(grep -E '^(jq: |parse error|curl: |bash: )|event not found|command not found' "$WORK/paste.out" | head -n 3 | tr '\n' ' ')"
fi
n_long=$(grep -c '"token_type": "long"' "$WORK/paste.out")
n_bearer=$(grep -c '"token_type": "Bearer"' "$WORK/paste.out")
n_rot=$(grep -cE '"rotated_from": "[0-9a-f-]{36}"' "$WORK/paste.out")
if [ "$n_long" = 2 ] && [ "$n_bearer" = 1 ] && [ "$n_rot" = 1 ]; then
	ok "jq shows two long-term tokens (the second rotated from the first) and one Bearer token"
else
	not_ok "jq output: $n_long token_type long (want 2), $n_bearer Bearer (want 1), $n_rot rotated_from (want 1)"
fi

# ------------------------------------------------ the same as README.md
# README's walkthrough: the ```sh block holding the curl commands.
awk '/^```/ { if (inblk) { if (keep) printf "%s", buf; inblk = 0; next }
              inblk = 1; buf = ""; keep = 0; next }
     inblk { buf = buf $0 "\n"; if ($0 ~ /curl /) keep = 1 }' "$README" >"$WORK/readme_block.sh"
grep -vE '^[[:space:]]*(#|$)' "$WORK/readme_block.sh" >"$WORK/readme_cmds"
grep -vE '^[[:space:]]*(#|$)' "$WORK/block.sh" |
    grep -vE '^(CLIENT_ID|CLIENT_KEY|BASE)=' >"$WORK/printed_cmds"
if [ ! -s "$WORK/readme_cmds" ]; then
	not_ok "README.md has no code block with the curl commands"
elif diff -u --label README.md --label "printed by deploy/run-local.sh" \
    "$WORK/readme_cmds" "$WORK/printed_cmds" >"$WORK/cmds.diff"; then
	ok "README.md's walkthrough has the printed commands, line for line ($(wc -l <"$WORK/printed_cmds") lines)"
else
	sed 's/^/#   /' "$WORK/cmds.diff"
	not_ok "README.md's walkthrough and the printed commands differ"
fi
readme_statuses=$(grep -E '^#' "$WORK/readme_block.sh" | grep -oE '\(([0-9]{3})' | tr -d '(' | tr '\n' ' ')
readme_statuses=${readme_statuses% }
if [ "$readme_statuses" = "$statuses" ]; then
	ok "README.md's comments name the statuses seen ($readme_statuses)"
else
	not_ok "README.md's comments name \"$readme_statuses\", the commands printed \"$statuses\""
fi
# The value lines are described in the README's prose.
if grep -qF 'CLIENT_ID=' "$README" && grep -qF 'CLIENT_KEY=' "$README" &&
    grep -qF "BASE=http://127.0.0.1:${TOKEND_README_HTTP_PORT:-8080}/v1" "$README"; then
	ok "README.md describes the CLIENT_ID=, CLIENT_KEY= and BASE= lines"
else
	not_ok "README.md does not describe the CLIENT_ID=, CLIENT_KEY=, BASE=$want_base lines"
fi

# ----------------------------------------------- the printed admin line
admin=$(sed -n 's/^  admin: *//p' "$WORK/start.out")
if [ -z "$admin" ]; then
	not_ok "deploy/run-local.sh printed no admin: command"
elif out=$(cd "$WORK" && timeout 30 bash --norc --noprofile -c "$admin" 2>&1) &&
    grep -qw demo <<<"$out"; then
	ok "the printed admin command lists the demo client"
else
	printf '%s\n' "$out" | sed 's/^/#   /'
	not_ok "the printed admin command failed or listed no demo client"
fi

# -------------------------------------------------------- stop, reset
if run_local stop >"$WORK/stop.out" 2>&1; then
	left=""
	for port in "$HTTP_PORT" "$FCGI_PORT" "$PG_PORT"; do
		port_busy "$port" && left="$left $port"
	done
	if [ -z "$left" ]; then
		ok "deploy/run-local.sh stop: nothing listens on $HTTP_PORT, $FCGI_PORT, $PG_PORT"
	else
		not_ok "deploy/run-local.sh stop: still listening on$left"
	fi
else
	sed 's/^/#   /' "$WORK/stop.out"
	not_ok "deploy/run-local.sh stop failed"
fi
if run_local reset >"$WORK/reset.out" 2>&1 && [ ! -e "$LRUNDIR" ]; then
	ok "deploy/run-local.sh reset: $LRUNDIR removed"
else
	sed 's/^/#   /' "$WORK/reset.out"
	not_ok "deploy/run-local.sh reset did not remove $LRUNDIR"
fi
STARTED=0
exit 0
