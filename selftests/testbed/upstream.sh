# SPDX-License-Identifier: GPL-2.0
#
# Plan fragment: the upstream KVM selftests of linux-source-6.1, built by
# selftests/upstream/Makefile into build/upstream/ and copied into the
# payload as /payload/bin/upstream/<test> (see
# Documentation/upstream-selftests.md).  They always open /dev/kvm, so the
# caller makes /dev/kvm the device under test first: minikvm loaded with
# as_kvm=1, or the kernel's KVM as the reference.
#
# Source it after /testbed/ktap.sh, then:
#
#   upstream_suite NAME            the seven tests minikvm must pass
#   upstream_suite NAME extra      the extra tests (pass on kernel KVM)
#   upstream_suite NAME all        both
#
# Each test is one KTAP result "NAME <test>" (run with ktap.sh's suite).
# A required test that skips (exit status 4: a capability it needs is
# missing, or /dev/kvm cannot be opened) counts as a failure: minikvm has
# to run it, not dodge it.  An extra test may skip (e.g. without nested
# virtualization).  A test binary missing from the payload is a failure.
#
# UPSTREAM_BIN (default /payload/bin/upstream) says where the binaries are.
# Timeouts are in guest seconds: instruction-driven under Bochs, close to
# wall-clock time under QEMU (so they grow with the host's load).
# Measured with kernel KVM: on Bochs at most 21 s (xapic_ipi_test;
# kvm_create_max_vcpus, 2 x 1024 vCPUs: 5 s); on QEMU the required tests
# 0-11 s, xapic_state_test 11-54 s depending on the load.  The limits
# below leave a wide margin while keeping a hung test from costing many
# wall-clock minutes under Bochs.  Each test's guest time is printed after
# its result.

UPSTREAM_BIN=${UPSTREAM_BIN:-/payload/bin/upstream}
UPSTREAM_TESTS="set_sregs_test userspace_io_test kvm_create_max_vcpus sync_regs_test xapic_state_test xapic_ipi_test set_boot_cpu_id"
UPSTREAM_EXTRA_TESTS="platform_info_test triple_fault_event_test"

# upstream_timeout TEST: the watchdog for TEST, in guest seconds.
upstream_timeout() {
	case $1 in
	kvm_create_max_vcpus) echo 300 ;; # vCPU creation cost is minikvm's own
	xapic_state_test | xapic_ipi_test) echo 300 ;;
	*) echo 120 ;;
	esac
}

# _upstream_uptime: whole guest seconds since boot.
_upstream_uptime() {
	read -r _uu_s _uu_rest </proc/uptime
	echo "${_uu_s%%.*}"
}

# _upstream_required BIN: run a required test; its skip becomes a failure.
_upstream_required() {
	"$@"
	_ur_rc=$?
	if [ "$_ur_rc" -eq 4 ]; then
		echo "# required test skipped (exit status 4): counts as a failure"
		return 1
	fi
	return "$_ur_rc"
}

_upstream_missing() {
	echo "$1 is not in the payload (make -C selftests/upstream, then copy build/upstream/ to bin/upstream/)"
	return 1
}

# upstream_suite NAME [required|extra|all]
upstream_suite() {
	_us_name=$1
	_us_which=${2:-required}
	case $_us_which in
	required) _us_tests="$UPSTREAM_TESTS" ;;
	extra) _us_tests="$UPSTREAM_EXTRA_TESTS" ;;
	all) _us_tests="$UPSTREAM_TESTS $UPSTREAM_EXTRA_TESTS" ;;
	*)
		ktap_diag "upstream_suite: unknown set '$_us_which'"
		return 1
		;;
	esac
	# ktap.sh reads SUITE_TIMEOUT when suite runs; keep the caller's.
	_us_saved_timeout=${SUITE_TIMEOUT-}
	_us_had_timeout=${SUITE_TIMEOUT+set}
	for _us_t in $_us_tests; do
		_us_bin=$UPSTREAM_BIN/$_us_t
		if [ ! -x "$_us_bin" ]; then
			step "$_us_name $_us_t" _upstream_missing "$_us_bin"
			continue
		fi
		SUITE_TIMEOUT=$(upstream_timeout "$_us_t")
		_us_t0=$(_upstream_uptime)
		case " $UPSTREAM_TESTS " in
		*" $_us_t "*) suite "$_us_name $_us_t" _upstream_required "$_us_bin" ;;
		*) suite "$_us_name $_us_t" "$_us_bin" ;;
		esac
		ktap_diag "$_us_name $_us_t took $(($(_upstream_uptime) - _us_t0)) s (guest time; timeout $SUITE_TIMEOUT s)"
	done
	if [ -n "$_us_had_timeout" ]; then
		SUITE_TIMEOUT=$_us_saved_timeout
	else
		unset SUITE_TIMEOUT
	fi
	return 0
}
