# SPDX-License-Identifier: GPL-2.0
#
# The interrupt-driven UART console: a plan *fragment* (source it after
# /testbed/ktap.sh, then call uart_suite once per target).
#
#   . /testbed/ktap.sh
#   . /payload/uart.sh
#   uart_suite /dev/minikvm minikvm
#   uart_suite /dev/kvm kvm_intel
#
# uart_suite DEV NAME runs userspace-launcher/guests/uart-echo.S under
# `minikvm-launch --uart` (a 16550A at COM1 whose IRQ 4 reaches the guest
# through a resampling irqfd on GSI 4 -> IOAPIC pin 4, level-triggered;
# userspace-launcher/README.md, "--uart"). The guest does everything by
# interrupts (received data, THR empty) and halts in between. Steps:
#   uart echo NAME     stdin "hello\nquit\n": the banner, "HELLO", "QUIT",
#                      the guest's closing line, exit status 0, and the
#                      launcher's count of irqfd signals and resamplefd
#                      events (EOIs) both > 0
#   uart lines NAME    UART_LINES (default 40) lines of 60 characters in
#                      one write (more than the 16-byte RX FIFO at a
#                      time): every line echoed in upper case, in order
# A device without KVM_CAP_IRQFD_RESAMPLE (launcher exit status 77) gives
# SKIPs with the reason. The suite ends with dmesg_clean.
#
# Environment: UART_LAUNCH (/payload/bin/minikvm-launch), UART_GUEST
# (/payload/bin/guests/uart-echo.bin), UART_TIMEOUT (60 guest seconds per
# run), UART_LINES (40).

_uart_launch() {
	"${UART_LAUNCH:-/payload/bin/minikvm-launch}" --dev "$1" --uart \
		--load "${UART_GUEST:-/payload/bin/guests/uart-echo.bin}" --timeout "${UART_TIMEOUT:-60}"
}

# _uart_echo DEV: one run with "hello" and "quit" as input.
_uart_echo() {
	_ue_out=$(printf 'hello\nquit\n' | _uart_launch "$1" 2>&1)
	_ue_rc=$?
	printf '%s\n' "$_ue_out"
	[ "$_ue_rc" -eq 77 ] && return 77
	if [ "$_ue_rc" -ne 0 ]; then
		echo "minikvm-launch exit status $_ue_rc (71: the guest crashed, 72: timeout)"
		return 1
	fi
	for _ue_want in '^uart-echo: interrupt-driven 16550A console' '^HELLO$' '^QUIT$' \
		'^uart-echo: bye after [0-9]* UART interrupts$'; do
		if ! printf '%s\n' "$_ue_out" | grep -q "$_ue_want"; then
			echo "missing in the output: $_ue_want"
			return 1
		fi
	done
	_ue_stats=$(printf '%s\n' "$_ue_out" | grep '^uart (COM1')
	_ue_sig=$(printf '%s\n' "$_ue_stats" | sed -n 's/.*irqfd signalled \([0-9]*\) times.*/\1/p')
	_ue_res=$(printf '%s\n' "$_ue_stats" | sed -n 's/.*resamplefd (EOI) \([0-9]*\) times.*/\1/p')
	if [ "${_ue_sig:-0}" -lt 1 ] || [ "${_ue_res:-0}" -lt 1 ]; then
		echo "expected irqfd signals and resamplefd events, got: $_ue_stats"
		return 1
	fi
	return 0
}

# _uart_lines DEV: many lines in one burst, each echoed in upper case.
_uart_lines() {
	_ul_n=${UART_LINES:-40}
	_ul_in=$(awk -v n="$_ul_n" 'BEGIN { for (i = 1; i <= n; i++) printf "line %03d the quick brown fox jumps over the lazy dog..\n", i }')
	_ul_out=$(printf '%s\nquit\n' "$_ul_in" | _uart_launch "$1" 2>&1)
	_ul_rc=$?
	printf '%s\n' "$_ul_out" | tail -n 4
	[ "$_ul_rc" -eq 77 ] && return 77
	if [ "$_ul_rc" -ne 0 ]; then
		echo "minikvm-launch exit status $_ul_rc"
		return 1
	fi
	_ul_want=$(printf '%s\n' "$_ul_in" | tr a-z A-Z)
	_ul_got=$(printf '%s\n' "$_ul_out" | grep '^LINE ')
	if [ "$_ul_want" != "$_ul_got" ]; then
		echo "echoed lines differ from the input in upper case:"
		printf '%s\n' "$_ul_got" | head -n 5
		return 1
	fi
	echo "$_ul_n lines echoed in upper case, in order"
	return 0
}

uart_suite() {
	_us_dev=$1
	_us_name=$2
	for _us_t in echo lines; do
		_us_log=$(_uart_$_us_t "$_us_dev" 2>&1)
		_us_rc=$?
		ktap_diag "$_us_log"
		if [ "$_us_rc" -eq 77 ]; then
			_us_why=$(printf '%s\n' "$_us_log" | grep -m1 'cannot run guests' |
				sed 's/^minikvm-launch: //; s/: the device cannot run guests (yet).*//')
			skip "uart $_us_t $_us_name" "$_us_name cannot run this yet: $_us_why"
		else
			_ktap_result "$_us_rc" "uart $_us_t $_us_name"
		fi
	done
	dmesg_clean "dmesg clean: uart $_us_name"
}
