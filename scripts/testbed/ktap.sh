# SPDX-License-Identifier: GPL-2.0
#
# KTAP helpers for minikvm test plans (POSIX sh / busybox ash).
#
# Source this file from a payload's run.sh (in the testbed guest it is
# /testbed/ktap.sh) and describe the plan with:
#
#   ktap_begin                      print "TAP version 13" (and run
#                                   dmesg_mark: boot messages such as
#                                   Bochs's "RETBleed: WARNING: ..." do not
#                                   count against dmesg_clean)
#   step "desc" cmd [args...]       run cmd (a program or a shell function),
#                                   print its stdout+stderr as "# " lines,
#                                   then "ok N desc" / "not ok N desc"
#   step_not "desc" cmd [args...]   the same, but passes when cmd fails
#   suite "name" cmd [args...]      run a program that prints KTAP itself
#                                   (e.g. a kselftest_harness.h test): its
#                                   output is indented by 4 spaces, then
#                                   "ok N name" / "not ok N name" follows
#                                   from its exit status; exit status 4
#                                   (KSFT_SKIP) gives "ok N name # SKIP"
#   skip "desc" "reason"            print "ok N desc # SKIP reason"
#   dmesg_mark                      remember how far dmesg goes now
#   dmesg_clean ["desc"]            a step that passes iff dmesg has no
#                                   WARNING/BUG/Oops/... line since the last
#                                   dmesg_mark (or dmesg_clean); offending
#                                   lines (with some context) become "# "
#                                   lines; it then marks again
#   ktap_diag "text"                print "# text"
#   ktap_end                        print the plan "1..N"; returns 0
#
# Commands run with stdin from /dev/null, in a subshell (a shell function
# run by step or suite cannot change run.sh's variables), and under a
# watchdog: a suite is killed, with all its child processes, after
# $SUITE_TIMEOUT seconds (default 300), a step after $STEP_TIMEOUT seconds
# (default: $SUITE_TIMEOUT); a killed command counts as failed.  0 turns the
# watchdog off.  Seconds are guest seconds (in Bochs they follow the
# emulated instruction count, see scripts/testbed.py --bochs-ips).  (The
# watchdog is done here rather than with busybox's timeout applet, which
# can run neither shell functions nor kill the program's children, and
# whose leftover children would keep the output pipe open.)
#
# Counters: KTAP_N (results printed), KTAP_FAILED (not ok results).

KTAP_N=0
KTAP_FAILED=0
KTAP_DMESG_MARK=0
KTAP_DMESG_LAST=
KTAP_DMESG_BAD='WARNING:|BUG:|Oops|general protection|Call Trace|kernel BUG|UBSAN|KASAN|refcount_t|list_add corruption|list_del corruption'

ktap_begin() {
	KTAP_N=0
	KTAP_FAILED=0
	dmesg_mark
	echo "TAP version 13"
}

ktap_end() {
	echo "1..$KTAP_N"
	return 0
}

ktap_diag() {
	printf '%s\n' "$*" | sed 's/^/# /'
}

# _ktap_result STATUS DESC [DIRECTIVE]: STATUS 0 is ok.
_ktap_result() {
	KTAP_N=$((KTAP_N + 1))
	if [ "$1" -eq 0 ]; then
		printf 'ok %d %s%s\n' "$KTAP_N" "$2" "${3:+ # $3}"
	else
		KTAP_FAILED=$((KTAP_FAILED + 1))
		printf 'not ok %d %s%s\n' "$KTAP_N" "$2" "${3:+ # $3}"
	fi
}

skip() {
	_ktap_result 0 "$1" "SKIP ${2:-}"
}

# _ktap_pids_under PID: PID and all its descendants, one a line.
_ktap_pids_under() {
	for _kp_s in /proc/[0-9]*/stat; do
		read -r _kp_l <"$_kp_s" || continue
		_kp_p=${_kp_s#/proc/}
		_kp_r=${_kp_l##*) }
		echo "${_kp_p%/stat} ${_kp_r#* }"
	done 2>/dev/null | awk -v root="$1" '
		{ pp[$1] = $2 }
		END {
			for (p in pp) {
				q = p
				for (n = 0; n < 64 && q != root && q > 1; n++)
					q = pp[q]
				if (q == root)
					print p
			}
		}'
}

# _ktap_kill_all PID GROUP: SIGKILL PID, its descendants and (if GROUP is
# 1) its process group.
_ktap_kill_all() {
	for _kk_i in 1 2 3; do
		_kk_pids=$(_ktap_pids_under "$1")
		[ -n "$_kk_pids" ] && kill -KILL $_kk_pids 2>/dev/null
		[ "$2" = 1 ] && kill -KILL -- "-$1" 2>/dev/null
		[ -z "$_kk_pids" ] && break
	done
}

# _ktap_run SECONDS MSGPREFIX cmd...: run cmd with stdin from /dev/null
# and a watchdog; returns its exit status (137 and a message starting with
# MSGPREFIX if killed).
_ktap_run() {
	_kr_t=$1
	_kr_mp=$2
	shift 2
	case $_kr_t in
	'' | *[!0-9]*) _kr_t=300 ;;
	esac
	if [ "$_kr_t" -eq 0 ]; then
		("$@") </dev/null
		return
	fi
	_kr_group=0
	case $(command -v "$1" 2>/dev/null) in
	/*)
		# A program: give it its own session so that the watchdog can
		# also kill descendants that left the process tree.
		if command -v setsid >/dev/null 2>&1; then
			_kr_group=1
			setsid "$@" </dev/null &
		else
			"$@" </dev/null &
		fi
		;;
	*)
		("$@") </dev/null &
		;;
	esac
	_kr_pid=$!
	_kr_flag=${TMPDIR:-/tmp}/.ktap-timeout.$$.$_kr_pid
	rm -f "$_kr_flag"
	(
		_kw_n=0
		while [ "$_kw_n" -lt "$_kr_t" ]; do
			sleep 1
			_kw_n=$((_kw_n + 1))
			kill -0 "$_kr_pid" 2>/dev/null || exit 0
		done
		: >"$_kr_flag"
		_ktap_kill_all "$_kr_pid" "$_kr_group"
	) </dev/null >/dev/null 2>&1 &
	_kr_wd=$!
	wait "$_kr_pid"
	_kr_rc=$?
	kill "$_kr_wd" 2>/dev/null
	wait "$_kr_wd" 2>/dev/null
	if [ -e "$_kr_flag" ]; then
		rm -f "$_kr_flag"
		echo "${_kr_mp}killed after the ${_kr_t} s timeout: $*"
		[ "$_kr_rc" -eq 0 ] && _kr_rc=137
	fi
	return "$_kr_rc"
}

# _ktap_filtered PREFIX cmd...: run cmd with stdout and stderr prefixed
# line by line; returns cmd's exit status.
_ktap_filtered() {
	_kf_p=$1
	shift
	{
		_kf_rc=$(
			{ { "$@" 2>&1 3>&- 4>&-; echo "$?" >&4; } |
				sed "s/^/$_kf_p/" >&3 3>&- 4>&-; } 4>&1
		)
	} 3>&1
	return "${_kf_rc:-1}"
}

step() {
	_ks_d=$1
	shift
	_ktap_filtered "# " _ktap_run "${STEP_TIMEOUT:-${SUITE_TIMEOUT:-300}}" "" "$@"
	_ktap_result $? "$_ks_d"
}

step_not() {
	_ks_d=$1
	shift
	if _ktap_filtered "# " _ktap_run "${STEP_TIMEOUT:-${SUITE_TIMEOUT:-300}}" "" "$@"; then
		_ktap_result 1 "$_ks_d"
	else
		_ktap_result 0 "$_ks_d"
	fi
}

suite() {
	_ku_d=$1
	shift
	_ktap_filtered "    " _ktap_run "${SUITE_TIMEOUT:-300}" "# " "$@"
	_ku_rc=$?
	if [ "$_ku_rc" -eq 4 ]; then
		_ktap_result 0 "$_ku_d" "SKIP exit status 4"
	else
		_ktap_result "$_ku_rc" "$_ku_d"
	fi
}

dmesg_mark() {
	_km_all=$(dmesg 2>/dev/null)
	KTAP_DMESG_MARK=$(printf '%s\n' "$_km_all" | grep -c '')
	KTAP_DMESG_LAST=$(printf '%s\n' "$_km_all" | tail -n 1)
}

# The dmesg lines after the mark.  The ring buffer may have wrapped since
# dmesg_mark: then the remembered last line is searched for, and if it is
# gone all of dmesg is new.
_ktap_dmesg_new() {
	dmesg 2>/dev/null | KTAP_DMESG_LAST=$KTAP_DMESG_LAST \
		awk -v n="$KTAP_DMESG_MARK" '
		{ l[NR] = $0 }
		END {
			last = ENVIRON["KTAP_DMESG_LAST"]
			k = 0
			if (n > 0 && n <= NR && l[n] == last)
				k = n
			else if (n > 0)
				for (i = NR; i > 0; i--)
					if (l[i] == last) { k = i; break }
			for (i = k + 1; i <= NR; i++)
				print l[i]
		}'
}

_ktap_dmesg_check() {
	_kd_bad=$(_ktap_dmesg_new | grep -E -A 20 "$KTAP_DMESG_BAD" | head -n 200)
	if [ -n "$_kd_bad" ]; then
		printf '%s\n' "$_kd_bad"
		return 1
	fi
	return 0
}

dmesg_clean() {
	_ktap_filtered "# " _ktap_dmesg_check
	_kc_rc=$?
	dmesg_mark
	_ktap_result "$_kc_rc" "${1:-dmesg clean}"
}
