# SPDX-License-Identifier: GPL-2.0
#
# bpftrace and bpftool in the testbed guest (POSIX sh / busybox ash).
#
# "scripts/testbed.py --trace-tools" puts bpftrace, bpftool, their shared
# libraries and the dynamic loader on a CD-ROM, at their build-host paths
# under trace/ (about 200 MB, read lazily: a page is read from the CD when a
# program touches it), and the modules that mount it into /kmods/ with
# their load order in /testbed/trace_tools.modules.  In the guest this file
# is /testbed/trace_tools.sh; source it from run.sh and call
#
#   trace_tools_setup   load the CD-ROM modules (ata_piix, sr_mod, isofs
#                       and their dependencies), mount the CD that holds the
#                       tree read-only at $TRACE_TOOLS_MNT (default /cdrom),
#                       mount tracefs at /sys/kernel/tracing and debugfs at
#                       /sys/kernel/debug unless they are, and install
#                       /usr/bin/bpftrace and /usr/sbin/bpftool: wrappers that
#                       run the programs from the CD through the CD's loader
#                       with --library-path, so nothing has to be at its host
#                       path in the guest.  Returns 0 when the tools are
#                       ready; otherwise prints "trace_tools: ..." saying
#                       what is missing and returns 1.  Idempotent; works in
#                       a subshell (e.g. as a ktap.sh step) since everything
#                       it does is in the file system and the kernel.
#
# /init exports TESTBED_TRACE_TOOLS=1 when the run has the CD, so a plan can
# skip tracing steps otherwise:
#
#   . /testbed/trace_tools.sh
#   if [ "$TESTBED_TRACE_TOOLS" = 1 ]; then
#           step "trace tools" trace_tools_setup
#   else
#           skip "trace tools" "run testbed.py with --trace-tools"
#   fi
#
# TRACE_TOOLS_WAIT (default 60, guest seconds) bounds the wait for the
# CD-ROM to appear after the modules are loaded (libata probes the
# controller asynchronously).

TRACE_TOOLS_MNT=${TRACE_TOOLS_MNT:-/cdrom}
TRACE_TOOLS_ENV_NAME=testbed-trace-tools.env
TRACE_TOOLS_MARK="installed by trace_tools_setup"

_trace_tools_err() {
	echo "trace_tools: $*" >&2
	return 1
}

_trace_tools_mounted() { # MOUNTPOINT [FSTYPE]
	awk -v m="$1" -v t="${2:-}" \
		'$2 == m && (t == "" || $3 == t) { f = 1 } END { exit !f }' \
		/proc/mounts
}

_trace_tools_sleep() {
	sleep 0.2 2>/dev/null || sleep 1
}

_trace_tools_modules() {
	_tm_list=/testbed/trace_tools.modules
	if [ ! -f "$_tm_list" ]; then
		_trace_tools_err "$_tm_list is missing: this guest was not" \
			"started with scripts/testbed.py --trace-tools"
		return 1
	fi
	while read -r _tm_ko; do
		[ -n "$_tm_ko" ] || continue
		_tm_name=$(echo "${_tm_ko%.ko}" | tr - _)
		# Loaded already (or built in, if it has parameters).
		[ -d "/sys/module/$_tm_name" ] && continue
		if [ ! -f "/kmods/$_tm_ko" ]; then
			_trace_tools_err "/kmods/$_tm_ko is missing"
			return 1
		fi
		if ! insmod "/kmods/$_tm_ko"; then
			_trace_tools_err "insmod /kmods/$_tm_ko failed"
			return 1
		fi
	done <"$_tm_list"
	return 0
}

# Mount the CD-ROM that has the tree at $TRACE_TOOLS_MNT.  In Bochs it is the
# boot CD, in QEMU a second one: try every /dev/sr* until one has it.
_trace_tools_mount() {
	_tt_env=$TRACE_TOOLS_MNT/trace/$TRACE_TOOLS_ENV_NAME
	if _trace_tools_mounted "$TRACE_TOOLS_MNT"; then
		[ -f "$_tt_env" ] && return 0
		_trace_tools_err "$TRACE_TOOLS_MNT is mounted but has no" \
			"trace/$TRACE_TOOLS_ENV_NAME"
		return 1
	fi
	mkdir -p "$TRACE_TOOLS_MNT" || return 1
	_tt_wait=${TRACE_TOOLS_WAIT:-60}
	_tt_seen=
	_tt_t0=$(cut -d. -f1 /proc/uptime)
	while :; do
		for _tt_dev in /dev/sr*; do
			[ -b "$_tt_dev" ] || continue
			case " $_tt_seen " in
			*" $_tt_dev "*) continue ;;
			esac
			# A drive without a medium fails here; try it again later.
			mount -t iso9660 -o ro "$_tt_dev" "$TRACE_TOOLS_MNT" \
				2>/dev/null || continue
			if [ -f "$_tt_env" ]; then
				echo "trace_tools: $_tt_dev mounted at $TRACE_TOOLS_MNT"
				return 0
			fi
			umount "$TRACE_TOOLS_MNT"
			_tt_seen="$_tt_seen $_tt_dev"
		done
		if [ $(($(cut -d. -f1 /proc/uptime) - _tt_t0)) -ge "$_tt_wait" ]; then
			break
		fi
		_trace_tools_sleep
	done
	_trace_tools_err "no CD-ROM with trace/$TRACE_TOOLS_ENV_NAME after" \
		"${_tt_wait} s (CD-ROM devices: $(echo /dev/sr*);" \
		"without a medium or without the tree: ${_tt_seen:-none})"
	return 1
}

_trace_tools_fs() { # TYPE MOUNTPOINT
	_trace_tools_mounted "$2" "$1" && return 0
	mkdir -p "$2" 2>/dev/null
	if ! mount -t "$1" "$1" "$2"; then
		_trace_tools_err "cannot mount $1 at $2"
		return 1
	fi
}

_trace_tools_wrappers() {
	_tw_root=$TRACE_TOOLS_MNT/trace
	# The file's variables are the host paths the tree mirrors.
	TRACE_TOOLS_KEY='' TRACE_TOOLS_LOADER='' TRACE_TOOLS_LIBPATH=''
	TRACE_TOOLS_PROGRAMS=''
	# shellcheck source=/dev/null
	. "$_tw_root/$TRACE_TOOLS_ENV_NAME" || return 1
	if [ -f /testbed/trace_tools.key ] &&
		[ "$(cat /testbed/trace_tools.key)" != "$TRACE_TOOLS_KEY" ]; then
		_trace_tools_err "the CD's tree ($TRACE_TOOLS_KEY) is not the one" \
			"this initramfs was made with ($(cat /testbed/trace_tools.key))"
		return 1
	fi
	_tw_loader=$_tw_root$TRACE_TOOLS_LOADER
	if [ ! -x "$_tw_loader" ]; then
		_trace_tools_err "the dynamic loader $_tw_loader is missing"
		return 1
	fi
	_tw_libpath=
	_tw_ifs=$IFS
	IFS=:
	for _tw_d in $TRACE_TOOLS_LIBPATH; do
		_tw_libpath="$_tw_libpath${_tw_libpath:+:}$_tw_root$_tw_d"
	done
	IFS=$_tw_ifs
	for _tw_p in $TRACE_TOOLS_PROGRAMS; do
		if [ ! -f "$_tw_root$_tw_p" ]; then
			_trace_tools_err "$_tw_root$_tw_p is missing"
			return 1
		fi
		# The loader maps every library the program needs and reports
		# the ones it cannot find (cheap: nothing is relocated or run).
		_tw_missing=$("$_tw_loader" --library-path "$_tw_libpath" \
			--list "$_tw_root$_tw_p" 2>&1 | grep 'not found')
		if [ -n "$_tw_missing" ]; then
			# Unquoted: one line of "libx.so => not found" each.
			# shellcheck disable=SC2086
			_trace_tools_err "$_tw_p: libraries missing on the CD:" \
				$_tw_missing
			return 1
		fi
		if [ -e "$_tw_p" ] && ! grep -q "$TRACE_TOOLS_MARK" "$_tw_p"; then
			_trace_tools_err "$_tw_p exists and is not a wrapper of" \
				"trace_tools_setup: not replacing it"
			return 1
		fi
		mkdir -p "$(dirname "$_tw_p")"
		cat >"$_tw_p.tmp" <<EOF
#!/bin/sh
# $TRACE_TOOLS_MARK (/testbed/trace_tools.sh):
# $_tw_p from the trace tools CD, through the CD's dynamic loader.
exec "$_tw_loader" --library-path "$_tw_libpath" "$_tw_root$_tw_p" "\$@"
EOF
		chmod 755 "$_tw_p.tmp" && mv -f "$_tw_p.tmp" "$_tw_p" || return 1
	done
	echo "trace_tools: ready: $TRACE_TOOLS_PROGRAMS (tree $TRACE_TOOLS_KEY)"
	return 0
}

trace_tools_setup() {
	_trace_tools_modules || return 1
	_trace_tools_mount || return 1
	_trace_tools_fs debugfs /sys/kernel/debug || return 1
	_trace_tools_fs tracefs /sys/kernel/tracing || return 1
	if [ ! -d /sys/kernel/tracing/events ]; then
		_trace_tools_err "/sys/kernel/tracing/events is missing"
		return 1
	fi
	# bpftrace takes kernel types (and tracepoint argument types of
	# modules) from BTF when there are no kernel headers, as here.
	[ -e /sys/kernel/btf/vmlinux ] ||
		echo "trace_tools: warning: no /sys/kernel/btf/vmlinux" >&2
	_trace_tools_wrappers
}
