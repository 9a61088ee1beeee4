#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# Checks of the built module, one per call (CTest runs each as a test):
#   check-ko.sh <check> <path/to/minikvm.ko>
set -u
check=$1
ko=$2
kmod=$(dirname "$ko")
fail() { echo "FAIL: $*"; exit 1; }
[ -f "$ko" ] || fail "$ko not built (run make first)"

case $check in
license-description-params)
	[ "$(modinfo -F license "$ko")" = GPL ] || fail "license is not GPL"
	[ -n "$(modinfo -F description "$ko")" ] || fail "no description"
	modinfo -F parm "$ko" | grep -q '^as_kvm:' || fail "parameter as_kvm missing"
	modinfo "$ko"
	;;
cxx-symbols)
	# The C++ core is linked in: mangled core symbols and the C entry points.
	n=$(nm "$ko" | grep -cE ' [TtWw] _ZN2mk')
	[ "$n" -gt 0 ] || fail "no C++ core symbols (_ZN2mk...) in $ko"
	nm "$ko" | grep -qE ' T mk_core_init$' || fail "mk_core_init missing"
	echo "$n C++ core functions, e.g.:"
	nm -C "$ko" | grep -E ' [TtWw] mk::' | head -5
	;;
no-constructors)
	# Global constructors would need the kernel to run .init_array; minikvm
	# has none (no hidden initialisation before module_init).
	secs=$(readelf -SW "$ko" | grep -oE '\.(init_array|fini_array|ctors|dtors|group)\b' | sort -u)
	[ -z "$secs" ] || fail "unexpected sections: $secs"
	echo "no .init_array/.ctors/.group sections"
	;;
no-cxx-runtime-deps)
	# Nothing left for a C++ runtime library to provide.
	bad=$(nm -u "$ko" | grep -E '_Z|__cxa_|__gxx_|_Unwind_|__dynamic_cast|typeinfo|operator' || true)
	[ -z "$bad" ] || fail "undefined C++ runtime symbols: $bad"
	echo "undefined symbols are kernel ones only:"
	nm -u "$ko" | awk '{print $2}' | tr '\n' ' '; echo
	;;
objtool-tables)
	# objtool ran on every C++ object (ORC unwind data, so oops traces walk
	# through core frames), and the mitigations the kernel was built with
	# hold in C++ code too: no bare indirect branch (retpoline thunks only),
	# and return-thunk sites recorded for the kernel to patch.
	sites=0
	for o in $(find "$kmod/core" -name '*.o'); do
		readelf -SW "$o" | grep -q '\.orc_unwind_ip' || fail "$o has no ORC data (objtool did not run)"
		if objdump -d --no-show-raw-insn "$o" | grep -E '\s(call|jmp)q?\s+\*%'; then
			fail "$o has a bare indirect branch (retpoline flags lost)"
		fi
		readelf -SW "$o" | grep -q '\.return_sites' && sites=$((sites + 1))
	done
	[ "$sites" -gt 0 ] || fail "no core object has .return_sites (objtool --rethunk did not run)"
	echo "ORC data in every core object, no bare indirect branches, return sites in $sites objects"
	;;
build-no-warnings)
	# A from-scratch build in a scratch copy, so nothing is skipped as up to date.
	kdir=${KDIR:?KDIR must be set}
	top=$(cd "$kmod/.." && pwd)
	tmp=$(mktemp -d)
	trap 'rm -rf "$tmp"' EXIT
	cp "$top/Kbuild" "$tmp/"
	(cd "$top" && git ls-files -co --exclude-standard kmod uapi | grep -vE '\.(o|ko|cmd|mod)$' | cpio -pdm --quiet "$tmp")
	make -s -C "$kdir" M="$tmp" modules >"$tmp/log" 2>&1 || { cat "$tmp/log"; fail "build failed"; }
	if grep -iE 'warning' "$tmp/log"; then fail "the module build printed warnings"; fi
	[ -f "$tmp/kmod/minikvm.ko" ] || fail "no module produced"
	echo "clean build, no warnings"
	;;
*)
	fail "unknown check $check"
	;;
esac
