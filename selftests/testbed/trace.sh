# SPDX-License-Identifier: GPL-2.0
#
# minikvm's tracepoints and their consumers (bpf-traces/): a plan
# *fragment*, sourced after /testbed/ktap.sh and /testbed/trace_tools.sh.
#
#   trace_suite minikvm      with minikvm loaded (/dev/minikvm)
#   trace_ref_suite          with kvm_intel loaded (/dev/kvm): the reference
#
# The workload is the launcher's interrupt tour (`minikvm-launch
# --irq-tour`, userspace-launcher/README.md): 2 vCPUs, exactly TR_IO
# port-I/O exits to port 0x80, TR_IPI IPIs (vector 0x50, vCPU0 -> vCPU1),
# TR_TIMER LAPIC timer interrupts (vector 0x40) and TR_DEV device
# interrupts through a resampling irqfd (GSI 10, IOAPIC pin 10,
# level-triggered, vector 0x60). Steps of trace_suite:
#
#   format files         every events/minikvm/*/format field has the offset
#                        and size uapi/minikvm/trace.h promises (the payload's
#                        trace-layout.txt, from scripts/trace_layout.py)
#   tour untraced        the guest's console without any tracer attached
#   tour traced: exits.bt + minikvm-top + a port-0x80 counter
#                        the same console (tracing changes nothing the guest
#                        sees); exits.bt's per-reason counts equal the
#                        module's own exits_by_reason statistics (summed
#                        over the vCPUs) and minikvm-top's; exactly TR_IO
#                        exits on port 0x80; minikvm-top counts exactly
#                        TR_IPI IPI interrupts accepted, TR_TIMER timer ones
#                        (accepted by the vCPU's thread, not in the hrtimer's
#                        interrupt where BPF can be skipped), none missed,
#                        TR_DEV irqfd injections and TR_DEV resamples
#   tour traced: irq_path.bt + ipi_latency.bt + exit_latency.bt
#                        TR_IPI IPIs of vector 0x50 sent and injected,
#                        TR_DEV interrupts on GSI 10 from source to EOI;
#                        then `--bench-irq irqfd TR_MSI` (MSIs from an irqfd
#                        on GSI 24) under the same tracers: it completes,
#                        and irq_path.bt follows at least TR_MSI of them
#                        exit_latency.bt: at least TR_IO IO_INSTRUCTION
#                        exits through userspace
#   tracefs text         `trace` shows minikvm_exit with the reason's name
#
# Environment: TR_IO (1000), TR_IPI (100), TR_TIMER (50), TR_DEV (20),
# TR_BPF (/payload/bpf: the .bt scripts), TR_TOP (/payload/bin/minikvm-top),
# TR_LAUNCH (/payload/bin/minikvm-launch), TR_LAYOUT (/payload/trace-layout.txt).

TR_IO=${TR_IO:-1000}
TR_IPI=${TR_IPI:-100}
TR_TIMER=${TR_TIMER:-50}
TR_DEV=${TR_DEV:-20}
TR_MSI=${TR_MSI:-20}
TR_BPF=${TR_BPF:-/payload/bpf}
TR_TOP=${TR_TOP:-/payload/bin/minikvm-top}
TR_LAUNCH=${TR_LAUNCH:-/payload/bin/minikvm-launch}
TR_LAYOUT=${TR_LAYOUT:-/payload/trace-layout.txt}
TR_TMP=/tmp/trace
TRACEFS=/sys/kernel/tracing

# _tr_tour DEV OUT: the tour, console to OUT.console, launcher lines to OUT.err.
_tr_tour() {
	"$TR_LAUNCH" --dev "$1" --irq-tour --tour-io "$TR_IO" --tour-ipi "$TR_IPI" \
		--tour-timer "$TR_TIMER" --tour-dev "$TR_DEV" --timeout 600 \
		>"$2.console" 2>"$2.err"
	_tt_rc=$?
	cat "$2.console"
	grep -E '^TOUR|exit status' "$2.err"
	if [ $_tt_rc -ne 0 ]; then
		echo "minikvm-launch --irq-tour: exit status $_tt_rc"
		cat "$2.err"
		return 1
	fi
	grep -q 'result=ok' "$2.console" || { echo "no result=ok on the console"; return 1; }
}

# _tr_bg NAME READY_CMD cmd...: start a tracer in the background with its
# output in $TR_TMP/NAME.out; wait (up to 600 guest seconds) until
# READY_CMD succeeds (it is attached).
_tr_bg() {
	_tb_name=$1 _tb_ready=$2
	shift 2
	"$@" >"$TR_TMP/$_tb_name.out" 2>&1 &
	echo $! >"$TR_TMP/$_tb_name.pid"
	_tb_i=0
	while ! sh -c "$_tb_ready" >/dev/null 2>&1; do
		if ! kill -0 "$(cat "$TR_TMP/$_tb_name.pid")" 2>/dev/null; then
			echo "$_tb_name exited before it was attached:"
			cat "$TR_TMP/$_tb_name.out"
			return 1
		fi
		_tb_i=$((_tb_i + 1))
		[ $_tb_i -gt 6000 ] && { echo "$_tb_name: not attached after 600 s"; return 1; }
		sleep 0.1
	done
	echo "$_tb_name attached after $((_tb_i / 10)) s"
}
# _tr_stop NAME: SIGINT, wait for the report.  Whatever is unusual (a late
# stop, a nonzero status, a kill) is printed with the kernel's lines about
# the process (a segfault is logged there): a report once went missing in CI
# with nothing else to show why.  The signal is sent once: bpftrace polls
# with a 100 ms timeout, so it cannot miss it, and it drops the END
# report's events when another SIGINT comes while it prints.
_tr_stop() {
	_ts_pid=$(cat "$TR_TMP/$1.pid")
	kill -INT "$_ts_pid" 2>/dev/null
	_ts_i=0 _ts_rc=0
	while kill -0 "$_ts_pid" 2>/dev/null; do
		_ts_i=$((_ts_i + 1))
		if [ $_ts_i -gt 3000 ]; then
			echo "$1 did not stop in 300 s after SIGINT: killed"
			kill -KILL "$_ts_pid"
			_ts_rc=1
			break
		fi
		sleep 0.1
	done
	wait "$_ts_pid" 2>/dev/null
	_ts_st=$?
	[ $_ts_i -ge 300 ] && echo "$1 stopped $((_ts_i / 10)) s after SIGINT"
	if [ $_ts_st -ne 0 ] || [ $_ts_rc -ne 0 ]; then
		echo "$1 (pid $_ts_pid): exit status $_ts_st"
		dmesg | grep -E "\[$_ts_pid\]|bpftrace|minikvm-top" | tail -5
		_ts_rc=1
	fi
	rm -f "$TR_TMP/$1.pid"
	return $_ts_rc
}
# bpftrace prints its BEGIN line once every probe is attached; minikvm-top
# its "counting" line.
_tr_bt_ready() { echo "grep -q 'Hit Ctrl-C' $TR_TMP/$1.out"; }
_tr_top_ready() { echo "grep -q 'minikvm-top: counting' $TR_TMP/$1.out"; }
# _tr_stop_all: stop every tracer still running (after a failed start, so
# that none keeps the module busy).
_tr_stop_all() {
	for _tsa in "$TR_TMP"/*.pid; do
		[ -f "$_tsa" ] || continue
		_tsa_p=$(cat "$_tsa")
		kill -0 "$_tsa_p" 2>/dev/null && _tr_stop "$(basename "$_tsa" .pid)"
		rm -f "$_tsa"
	done
	return 0
}

_tr_formats() {
	[ -s "$TR_LAYOUT" ] || { echo "missing $TR_LAYOUT"; return 1; }
	for _tf_f in "$TRACEFS"/events/minikvm/*/format; do
		_tf_ev=$(basename "$(dirname "$_tf_f")")
		_tf_ev=${_tf_ev#minikvm_}
		awk -v ev="$_tf_ev" '/^\tfield:/ && !/common_/ {
			split($0, p, ";"); n = split(p[1], w, " "); name = w[n]; sub(/\[.*/, "", name)
			off = p[2]; sub(/.*offset:/, "", off); sz = p[3]; sub(/.*size:/, "", sz)
			print ev, name, off, sz }' "$_tf_f"
	done | sort >"$TR_TMP/layout.kernel"
	sort "$TR_LAYOUT" >"$TR_TMP/layout.uapi"
	echo "$(wc -l <"$TR_TMP/layout.kernel") fields in $(ls -d "$TRACEFS"/events/minikvm/minikvm_* | wc -l) events"
	if ! cmp -s "$TR_TMP/layout.kernel" "$TR_TMP/layout.uapi"; then
		echo "tracefs format files differ from uapi/minikvm/trace.h (< kernel, > uapi):"
		diff "$TR_TMP/layout.kernel" "$TR_TMP/layout.uapi"
		return 1
	fi
}

_tr_untraced() {
	_tr_tour "$1" "$TR_TMP/untraced"
}

# Sum of the launcher's "exits_by_reason[N]" row (last column: the total over
# vCPUs when there are several).
_tr_stat_reason() {
	awk -v l="exits_by_reason[$2]" '$1 == l { v = $NF } END { print v + 0 }' "$1"
}
# The exit-reason table of exits.bt (checked against the uapi header on the
# host by bpf-traces/check_scripts.py): NAME -> number, number -> NAME.
_tr_reason_num() {
	sed -n "s/.*@vmx_exit_reason\[\([0-9]*\)\] = \"$1\";.*/\1/p" "$TR_BPF/exits.bt"
}
_tr_reason_name() {
	sed -n "s/.*@vmx_exit_reason\[$1\] = \"\([A-Z_0-9]*\)\";.*/\1/p" "$TR_BPF/exits.bt"
}

_tr_traced_exits() {
	dev=$1
	rm -f "$TR_TMP"/exits.* "$TR_TMP"/top.* "$TR_TMP"/port80.*
	_tr_bg exits "$(_tr_bt_ready exits)" bpftrace "$TR_BPF/exits.bt" || { _tr_stop_all; return 1; }
	_tr_bg port80 "$(_tr_bt_ready port80)" bpftrace -e '
		BEGIN { printf("port 0x80 exits... Hit Ctrl-C to end.\n"); }
		tracepoint:minikvm:minikvm_exit /(args->reason & 0xffff) == 30 && (args->qual >> 16) == 0x80/ { @port80 = count(); }' ||
		{ _tr_stop_all; return 1; }
	_tr_bg top "$(_tr_top_ready top)" "$TR_TOP" --once --json || { _tr_stop_all; return 1; }
	_tr_tour "$dev" "$TR_TMP/traced"
	_te_rc=$?
	_tr_stop exits; _tr_stop port80; _tr_stop top
	[ $_te_rc -eq 0 ] || return 1
	echo "---- exits.bt report"; cat "$TR_TMP/exits.out"
	echo "---- minikvm-top --once --json"; cat "$TR_TMP/top.out"; echo
	echo "---- port 0x80"; cat "$TR_TMP/port80.out"
	fail=0
	if ! cmp -s "$TR_TMP/untraced.console" "$TR_TMP/traced.console"; then
		echo "FAIL: the guest's console differs with tracing on:"
		diff "$TR_TMP/untraced.console" "$TR_TMP/traced.console"
		fail=1
	fi
	n=$(awk '$1 == "@port80:" { print $2 }' "$TR_TMP/port80.out")
	[ "${n:-0}" -eq "$TR_IO" ] || { echo "FAIL: ${n:-0} exits on port 0x80, the guest made $TR_IO"; fail=1; }
	# Every reason exits.bt counted equals the module's statistics, and back.
	awk '/^@exits_by_reason\[/ { k = $1; sub(/^@exits_by_reason\[/, "", k); sub(/\]:$/, "", k); print k, $2 }' \
		"$TR_TMP/exits.out" >"$TR_TMP/exits.reasons"
	[ -s "$TR_TMP/exits.reasons" ] || { echo "FAIL: no @exits_by_reason in the report"; fail=1; }
	while read -r name cnt; do
		num=$(_tr_reason_num "$name")
		[ -n "$num" ] || { echo "FAIL: reason $name not expected in this workload"; fail=1; continue; }
		st=$(_tr_stat_reason "$TR_TMP/traced.err" "$num")
		top=$(tr ',{}' '\n\n\n' <"$TR_TMP/top.out" | awk -F: -v k="\"$name\"" '$1 ~ k { gsub(/[^0-9]/, "", $2); print $2; exit }')
		echo "$name: exits.bt $cnt, module statistics $st, minikvm-top ${top:-?}"
		[ "$cnt" -eq "$st" ] || { echo "FAIL: $name traced $cnt times, counted $st times"; fail=1; }
		[ "${top:-0}" -eq "$cnt" ] || { echo "FAIL: $name: minikvm-top ${top:-0} != exits.bt $cnt"; fail=1; }
	done <"$TR_TMP/exits.reasons"
	# ...and every reason the module counted was traced.
	sed -n 's/^ *exits_by_reason\[\([0-9]*\)\].*/\1/p' "$TR_TMP/traced.err" | while read -r num; do
		name=$(_tr_reason_name "$num")
		grep -q "^${name:-?} " "$TR_TMP/exits.reasons" ||
			{ echo "FAIL: the module counted reason $num (${name:-unnamed}), exits.bt did not"; exit 1; }
	done || fail=1
	# minikvm-top's interrupt counts against the workload: every one of
	# them comes from a known stage of the tour.
	_tr_expect "$TR_TMP/top.out" ipis_sent "" "$TR_IPI" || fail=1
	_tr_expect "$TR_TMP/top.out" interrupts ipi "$TR_IPI" || fail=1
	_tr_expect "$TR_TMP/top.out" interrupts ioapic "$TR_DEV" || fail=1
	_tr_expect "$TR_TMP/top.out" interrupts msi 0 || fail=1
	_tr_expect "$TR_TMP/top.out" irqfd_injections work "$TR_DEV" || fail=1
	_tr_expect "$TR_TMP/top.out" irqfd_resamples "" "$TR_DEV" || fail=1
	_tr_expect "$TR_TMP/top.out" eois level "$TR_DEV" || fail=1
	# LAPIC timer interrupts too: the hrtimer only counts an expiry, the
	# vCPU's thread accepts the interrupt (process context, where the
	# kernel never skips a BPF program for running inside another one).
	_tr_expect "$TR_TMP/top.out" interrupts timer "$TR_TIMER" || fail=1
	_tr_expect "$TR_TMP/top.out" missed "" 0 || fail=1
	[ $fail -eq 0 ]
}

# _tr_json FILE KEY SUBKEY: a number from minikvm-top's JSON (one VM):
# "KEY":N, or "KEY":{..."SUBKEY":N...}.
_tr_json() {
	if [ -z "$3" ]; then
		sed -n "s/.*\"$2\":\([0-9][0-9]*\).*/\1/p" "$1" | head -1
	else
		sed -n "s/.*\"$2\":{[^}]*\"$3\":\([0-9][0-9]*\).*/\1/p" "$1" | head -1
	fi
}
_tr_expect() { # FILE KEY SUBKEY WANT
	_te_v=$(_tr_json "$1" "$2" "$3")
	echo "minikvm-top $2${3:+.$3} = ${_te_v:-missing}, expected $4"
	[ "${_te_v:-x}" = "$4" ]
}

# _tr_irqfd_sources GSI: irq_path.bt's count of interrupts whose source
# was an irqfd on GSI (its @sources[irqfd, GSI] lines, summed).
_tr_irqfd_sources() {
	awk -v gsi="$1]:" '$1 ~ /^@sources\[/ && $2 == "irqfd," && $3 == gsi { s += $NF } END { print s + 0 }' "$TR_TMP/path.out"
}

# The interrupt paths: irq_path.bt, ipi_latency.bt and exit_latency.bt
# around one tour.
_tr_traced_paths() {
	dev=$1
	rm -f "$TR_TMP"/path.* "$TR_TMP"/ipi.* "$TR_TMP"/lat.*
	_tr_bg path "$(_tr_bt_ready path)" bpftrace "$TR_BPF/irq_path.bt" || { _tr_stop_all; return 1; }
	_tr_bg ipi "$(_tr_bt_ready ipi)" bpftrace "$TR_BPF/ipi_latency.bt" || { _tr_stop_all; return 1; }
	_tr_bg lat "$(_tr_bt_ready lat)" bpftrace "$TR_BPF/exit_latency.bt" || { _tr_stop_all; return 1; }
	_tr_tour "$dev" "$TR_TMP/paths" >/dev/null
	_tp_rc=$?
	# ...and MSIs from an irqfd injected in its wake-up (GSI 24, an MSI
	# route; vector 0x45), which once made minikvm fail a VM entry under
	# this tracer on Bochs (a stale IDT-vectoring report reinjected with IF=0).
	"$TR_LAUNCH" --dev "$dev" --bench-irq irqfd "$TR_MSI" --timeout 300 >"$TR_TMP/msi.log" 2>&1
	_tp_msi=$?
	_tr_stop path; _tr_stop ipi; _tr_stop lat
	echo "---- irq_path.bt"; cat "$TR_TMP/path.out"
	echo "---- ipi_latency.bt"; cat "$TR_TMP/ipi.out"
	echo "---- exit_latency.bt"; cat "$TR_TMP/lat.out"
	[ $_tp_rc -eq 0 ] || { echo "FAIL: the tour failed under tracing"; cat "$TR_TMP/paths.err"; return 1; }
	# A tracer without its END report did not count wrongly: it did not
	# report (bpftrace died or hung; _tr_stop printed what it knows).
	for _tp_t in path ipi lat; do
		grep -q '^=== minikvm ' "$TR_TMP/$_tp_t.out" ||
			{ echo "NO REPORT: $_tp_t's tracer ended without its END report"; return 2; }
	done
	fail=0
	cmp -s "$TR_TMP/untraced.console" "$TR_TMP/paths.console" ||
		{ echo "FAIL: the guest's console differs with tracing on"; fail=1; }
	n=$(awk '$1 ~ /^@ipis_sent\[/ && $2 == "80," { s += $NF } END { print s + 0 }' "$TR_TMP/ipi.out")
	echo "ipi_latency.bt: $n IPIs of vector 0x50 sent, the guest sent $TR_IPI"
	[ "$n" -eq "$TR_IPI" ] || fail=1
	n=$(_tr_irqfd_sources 10)
	echo "irq_path.bt: $n interrupts from the irqfd on GSI 10, the device raised $TR_DEV"
	[ "$n" -eq "$TR_DEV" ] || fail=1
	line=$(grep 'interrupts injected after a traced accept' "$TR_TMP/path.out")
	inj=$(echo "$line" | awk '{ print $1 }')
	eoi=$(echo "$line" | sed -n 's/.*, \([0-9]*\) of them ended by a traced EOI.*/\1/p')
	# The tour's 20 (level: every EOI exits) and the bench's MSIs (edge:
	# their EOIs are virtualized without an exit under APICv).
	echo "irq_path.bt: $inj injected after a traced accept (at least $((TR_DEV + TR_MSI))), ${eoi:-?} ended by a traced EOI (at least the $TR_DEV level ones)"
	[ "${inj:-0}" -ge $((TR_DEV + TR_MSI)) ] && [ "${eoi:-0}" -ge "$TR_DEV" ] || fail=1
	[ $_tp_msi -eq 0 ] || { echo "FAIL: --bench-irq irqfd $TR_MSI under tracing: exit status $_tp_msi"; cat "$TR_TMP/msi.log"; fail=1; }
	n=$(_tr_irqfd_sources 24)
	echo "irq_path.bt: $n MSIs from the irqfd on GSI 24, the launcher signalled at least $TR_MSI"
	[ "$n" -ge "$TR_MSI" ] || fail=1
	n=$(awk '$1 ~ /^@via_userspace\[IO_INSTRUCTION,/ { for (i = 1; i <= NF; i++) if ($i == "count") { v = $(i + 1); sub(/,/, "", v); s += v } } END { print s + 0 }' "$TR_TMP/lat.out")
	echo "exit_latency.bt: $n IO_INSTRUCTION exits through userspace (at least $TR_IO)"
	[ "$n" -ge "$TR_IO" ] || fail=1
	[ $fail -eq 0 ]
}

# _tr_traced_paths_retry DEV: once more, and said, when a tracer gave no
# report at all (a tool failure, not a count); the counts of the second run
# are checked the same way.
_tr_traced_paths_retry() {
	_tr_traced_paths "$1"
	_tpr=$?
	[ $_tpr -eq 2 ] || return $_tpr
	echo "RETRY: a tracer gave no report; the traced tour runs once more"
	_tr_traced_paths "$1"
}

# The text format of `trace`: minikvm_exit prints the reason's name.
_tr_text() {
	echo 1 >"$TRACEFS/events/minikvm/minikvm_exit/enable" || return 1
	echo >"$TRACEFS/trace"
	"$TR_LAUNCH" --dev /dev/minikvm --bench-io 20 >/dev/null 2>&1
	echo 0 >"$TRACEFS/events/minikvm/minikvm_exit/enable"
	grep minikvm_exit "$TRACEFS/trace" | tail -3
	grep -q 'minikvm_exit:.*IO_INSTRUCTION' "$TRACEFS/trace"
}

trace_suite() {
	label=$1
	mkdir -p "$TR_TMP"
	# bpftrace takes 20-60 guest seconds to start in Bochs.
	_ts_old=${STEP_TIMEOUT:-}
	STEP_TIMEOUT=900
	step "$label trace: tracefs format files match uapi/minikvm/trace.h" _tr_formats
	step "$label trace: irq tour untraced" _tr_untraced /dev/minikvm
	step "$label trace: irq tour with exits.bt, minikvm-top and a port counter" _tr_traced_exits /dev/minikvm
	step "$label trace: irq tour with irq_path.bt, ipi_latency.bt and exit_latency.bt" _tr_traced_paths_retry /dev/minikvm
	step "$label trace: tracefs text names the exit reason" _tr_text
	dmesg_clean "$label trace: dmesg clean"
	STEP_TIMEOUT=$_ts_old
}

# The reference: the same tour on kvm_intel, its kvm:kvm_exit counted the
# same way (port 0x80 exits exact; the console identical to minikvm's).
_tr_ref() {
	_tr_bg kvm "$(_tr_bt_ready kvm)" bpftrace -e '
		BEGIN { printf("kvm_exit... Hit Ctrl-C to end.\n"); }
		tracepoint:kvm:kvm_exit { @kvm_exits_by_reason[args->exit_reason] = count(); }
		tracepoint:kvm:kvm_pio /args->port == 0x80/ { @port80 = count(); }' || { _tr_stop_all; return 1; }
	_tr_tour /dev/kvm "$TR_TMP/ref" >/dev/null
	_tr_rc=$?
	_tr_stop kvm
	cat "$TR_TMP/kvm.out"
	[ $_tr_rc -eq 0 ] || { cat "$TR_TMP/ref.err"; return 1; }
	n=$(awk '$1 == "@port80:" { print $2 }' "$TR_TMP/kvm.out")
	echo "kvm_intel: ${n:-0} port-0x80 I/O (kvm:kvm_pio), the guest made $TR_IO"
	[ "${n:-0}" -eq "$TR_IO" ] || return 1
	if [ -f "$TR_TMP/untraced.console" ] && ! cmp -s "$TR_TMP/untraced.console" "$TR_TMP/ref.console"; then
		echo "the guest's console on kvm_intel differs from minikvm's:"
		diff "$TR_TMP/untraced.console" "$TR_TMP/ref.console"
		return 1
	fi
}
trace_ref_suite() {
	mkdir -p "$TR_TMP"
	_ts_old=${STEP_TIMEOUT:-}
	STEP_TIMEOUT=900
	step "$1 trace: irq tour with kvm:kvm_exit and kvm:kvm_pio counted" _tr_ref
	STEP_TIMEOUT=$_ts_old
}
