#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# Installs the Debian packages minikvm needs, only those missing: quiet and
# quick when everything is present. Safe to run again and again.
set -eu

# Kernel image and headers must be the same version: the module is built
# against the headers and loaded into that image inside the emulators.
pkgs=(
	build-essential g++ cmake googletest libgtest-dev python3 kmod
	linux-image-amd64 linux-headers-amd64 linux-source-6.1 xz-utils
	qemu-system-x86 bochs bochsbios vgabios
	busybox-static cpio isolinux syslinux-common xorriso
	# Tracing (issue 6): bpftrace and bpftool run on the host and, from the
	# testbed.py --trace-tools CD, in the guests; libbpf-dev, clang, llvm,
	# libelf-dev and zlib1g-dev build BPF programs against libbpf;
	# gnuplot-nox draws the demo's histograms (scripts/demo_plot.py).
	bpftrace bpftool libbpf-dev clang llvm libelf-dev zlib1g-dev gnuplot-nox
)

missing=()
for p in "${pkgs[@]}"; do
	if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
		missing+=("$p")
	fi
done
# The metapackages may be installed while the versioned image/headers pair
# is incomplete (e.g. headers removed by hand): scripts/kver.sh decides.
if [ ${#missing[@]} -eq 0 ] && "$(dirname "$0")/kver.sh" >/dev/null 2>&1; then
	exit 0
fi
if [ "$(id -u)" != 0 ]; then
	echo "deps: missing packages: ${missing[*]}; run as root or: sudo apt-get install ${missing[*]}" >&2
	exit 1
fi
echo "deps: installing ${missing[*]:-linux-image-amd64 linux-headers-amd64}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq "${missing[@]:-linux-image-amd64}" linux-headers-amd64 >/dev/null
"$(dirname "$0")/kver.sh" >/dev/null
