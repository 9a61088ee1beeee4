# SPDX-License-Identifier: GPL-2.0
#
# The interrupt tour: a plan *fragment* (source it after /testbed/ktap.sh,
# then call tour_suite once per target).
#
#   . /testbed/ktap.sh
#   . /payload/tour.sh
#   tour_suite /dev/minikvm minikvm
#   tour_suite /dev/kvm kvm_intel
#
# tour_suite DEV NAME runs `minikvm-launch --irq-tour` (a built-in 2-vCPU
# guest: N_io port-0x80 exits, N_ipi IPIs, N_timer LAPIC timer interrupts,
# N_dev device interrupts through a resampling irqfd on GSI 10;
# userspace-launcher/README.md, "--irq-tour") and checks: exit status 0,
# the guest's final line with exactly the counts asked for, and the
# launcher's TOUR line (doorbells, irqfd writes, resamplefd events,
# acknowledgements each = N_dev). Steps:
#   irq-tour NAME          the default counts (1000, 100, 50, 20)
#   irq-tour small NAME    other counts (TOUR_SMALL: 7 3 2 5), so that
#                          a guest or launcher that ignores them fails
# A device without what the tour needs (exit status 77) gives SKIPs with
# the launcher's reason. A reference target (NAME reference*) that times
# out runs once more (said in the log). The suite ends with dmesg_clean.
#
# Environment: TOUR_LAUNCH (/payload/bin/minikvm-launch), TOUR_TIMEOUT
# (60 guest seconds per run).

# _tour_run DEV IO IPI TIMER DEV_N
_tour_run() {
	_tr_out=$("${TOUR_LAUNCH:-/payload/bin/minikvm-launch}" --dev "$1" --irq-tour \
		--tour-io "$2" --tour-ipi "$3" --tour-timer "$4" --tour-dev "$5" \
		--timeout "${TOUR_TIMEOUT:-60}" 2>&1)
	_tr_rc=$?
	printf '%s\n' "$_tr_out"
	[ "$_tr_rc" -eq 77 ] && return 77
	if [ "$_tr_rc" -ne 0 ]; then
		echo "minikvm-launch exit status $_tr_rc (1: a count was wrong, 71: the guest crashed, 72: timeout)"
		return 1
	fi
	_tr_want="irq-tour: io=$2 ipi=$3 timer=$4 device=$5 vcpus=2 result=ok"
	if ! printf '%s\n' "$_tr_out" | grep -qx "$_tr_want"; then
		echo "missing in the output: $_tr_want"
		return 1
	fi
	_tr_want="TOUR dev=$1 doorbells=$5 irqfd_signals=$5 resamples=$5 acks=$5 status=0"
	if ! printf '%s\n' "$_tr_out" | grep -qx "$_tr_want"; then
		echo "missing in the output: $_tr_want"
		return 1
	fi
	return 0
}

_tour_default() { _tour_run "$1" 1000 100 50 20; }
_tour_small() { _tour_run "$1" ${TOUR_SMALL:-7 3 2 5}; }

tour_suite() {
	_ts_dev=$1
	_ts_name=$2
	for _ts_t in default small; do
		_ts_desc="irq-tour $_ts_name"
		[ "$_ts_t" = small ] && _ts_desc="irq-tour small $_ts_name"
		_ts_log=$(_tour_$_ts_t "$_ts_dev" 2>&1)
		_ts_rc=$?
		ktap_diag "$_ts_log"
		# The reference only (KVM itself; under QEMU TCG that is kvm_amd on
		# an emulated SVM, which once lost a LAPIC timer interrupt on a
		# loaded host): a timeout is run once more, and said. minikvm's
		# runs are never repeated.
		case "$_ts_name" in reference*)
			if [ "$_ts_rc" -ne 0 ] && [ "$_ts_rc" -ne 77 ] &&
				printf '%s\n' "$_ts_log" | grep -q 'exit status 72'; then
				ktap_diag "RETRY: the reference $_ts_name timed out; once more"
				_ts_log=$(_tour_$_ts_t "$_ts_dev" 2>&1)
				_ts_rc=$?
				ktap_diag "$_ts_log"
			fi
		esac
		if [ "$_ts_rc" -eq 77 ]; then
			_ts_why=$(printf '%s\n' "$_ts_log" | grep -m1 'cannot run guests' |
				sed 's/^minikvm-launch: //; s/: the device cannot run guests (yet).*//')
			skip "$_ts_desc" "$_ts_name cannot run this yet: $_ts_why"
		else
			_ktap_result "$_ts_rc" "$_ts_desc"
		fi
	done
	dmesg_clean "dmesg clean: irq-tour $_ts_name"
}
