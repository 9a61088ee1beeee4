# SPDX-License-Identifier: GPL-2.0
#
# The garbage-guest suite: a plan *fragment* (source it after
# /testbed/ktap.sh, then call garbage_suite once per target).
#
#   . /testbed/ktap.sh
#   . /payload/garbage.sh
#   garbage_suite /dev/minikvm minikvm
#   garbage_suite /dev/kvm kvm_intel
#
# garbage_suite DEV NAME runs `minikvm-launch --garbage`: guest memory
# filled with pseudo-random bytes from a seed (the launcher's GDT and page
# tables left intact) is run as code in real mode, 32-bit protected mode
# and 64-bit long mode, each seed in a fresh VM under a short timeout. Any
# exit is acceptable (SHUTDOWN, INTERNAL_ERROR, HLT, timeout...): what is
# tested is that the device and the host survive, that the launcher gets
# an answer for every run, and that dmesg stays clean. The same seeds run
# on every target, so outcomes can be compared line by line.
#
# One step per mode and batch of seeds (the launcher prints one line per
# run); a device that cannot run guests yet (launcher exit status 77:
# an ioctl answered -ENOTTY/-EOPNOTSUPP) gives SKIPs with the reason.
# The suite ends with dmesg_clean.
#
# Real mode is left out under Bochs (one SKIP says why) unless
# GARBAGE_MODES asks for it: random real-mode code often ends in a loop
# without exits, and measured on Bochs 2.7 + kvm_intel, a loop entered
# with RFLAGS.IF=0 (`jmp .`) stops the emulated machine's own interrupts
# from reaching its kernel: the run's timeout never fires and the whole
# boot hangs (the same loop after an STI was stopped fine). The launcher
# now starts vCPUs with IF=1, but real-mode garbage clears IF through the
# IVT (every exception and INT n), so it stays out until it has been
# seen to finish on Bochs.
# Protected and long mode garbage (no IDT: exceptions are triple faults)
# ran seeds 1-20 there without a hang.
#
# Environment (defaults): GARBAGE_MODES ("real protected long"; under
# Bochs "protected long")
# GARBAGE_SEED0 (1) GARBAGE_SEEDS (50) GARBAGE_BATCH (10)
# GARBAGE_TIMEOUT (0.2 guest seconds per run) GARBAGE_MEM (2 MiB)
# GARBAGE_LAUNCH (/payload/bin/minikvm-launch).

_gs_status_is_0() {
	[ "$1" -eq 0 ] && return 0
	echo "minikvm-launch exit status $1 (70: launcher error; see its output above)"
	return 1
}

garbage_suite() {
	_gs_dev=$1
	_gs_name=$2
	_gs_launch=${GARBAGE_LAUNCH:-/payload/bin/minikvm-launch}
	_gs_seed0=${GARBAGE_SEED0:-1}
	_gs_seeds=${GARBAGE_SEEDS:-50}
	_gs_batch=${GARBAGE_BATCH:-10}
	_gs_unsupported=
	_gs_modes=${GARBAGE_MODES:-}
	if [ -z "$_gs_modes" ] && [ "${TESTBED_VMM:-}" = bochs ]; then
		_gs_modes="protected long"
		skip "garbage $_gs_name real mode" "Bochs 2.7 hangs when a guest loops without exits with IF=0 (garbage.sh; GARBAGE_MODES=real forces it)"
	fi
	for _gs_mode in ${_gs_modes:-real protected long}; do
		_gs_i=0
		while [ "$_gs_i" -lt "$_gs_seeds" ]; do
			_gs_n=$((_gs_seeds - _gs_i))
			[ "$_gs_n" -gt "$_gs_batch" ] && _gs_n=$_gs_batch
			_gs_a=$((_gs_seed0 + _gs_i))
			_gs_b=$((_gs_a + _gs_n - 1))
			_gs_desc="garbage $_gs_name $_gs_mode mode seeds $_gs_a-$_gs_b"
			if [ -n "$_gs_unsupported" ]; then
				skip "$_gs_desc" "$_gs_unsupported"
			else
				# The launcher bounds every run with --timeout; no ktap
				# watchdog is needed around it.
				_gs_out=$("$_gs_launch" --dev "$_gs_dev" --mode "$_gs_mode" \
					--garbage "$_gs_a" --garbage-count "$_gs_n" \
					--mem "${GARBAGE_MEM:-2}" --timeout "${GARBAGE_TIMEOUT:-0.2}" \
					</dev/null 2>&1)
				_gs_rc=$?
				ktap_diag "$_gs_out"
				if [ "$_gs_rc" -eq 77 ]; then
					_gs_unsupported="$_gs_name cannot run guests yet: $(printf '%s\n' "$_gs_out" |
						grep -m1 'cannot run guests' | sed 's/^minikvm-launch: //; s/: the device cannot run guests (yet).*//')"
					skip "$_gs_desc" "$_gs_unsupported"
				else
					step "$_gs_desc" _gs_status_is_0 "$_gs_rc"
				fi
			fi
			_gs_i=$((_gs_i + _gs_n))
		done
	done
	dmesg_clean "garbage $_gs_name: dmesg clean"
}
