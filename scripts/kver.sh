#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
#
# Print the kernel version to build minikvm against and to boot in the
# emulated test machine: the newest version X for which both
# /boot/vmlinuz-X and /usr/src/linux-headers-X exist.
#
# If the environment variable KVER is set, it is printed as is (a warning
# goes to stderr when the kernel image or the headers for it are missing).
# Exit status 1 with a message on stderr when no usable version exists.

if [ -n "${KVER:-}" ]; then
	[ -e "/boot/vmlinuz-$KVER" ] ||
		echo "kver.sh: warning: KVER=$KVER but /boot/vmlinuz-$KVER does not exist" >&2
	[ -d "/usr/src/linux-headers-$KVER" ] ||
		echo "kver.sh: warning: KVER=$KVER but /usr/src/linux-headers-$KVER does not exist" >&2
	echo "$KVER"
	exit 0
fi

best=$(
	for img in /boot/vmlinuz-*; do
		[ -e "$img" ] || continue
		v=${img#/boot/vmlinuz-}
		[ -d "/usr/src/linux-headers-$v" ] && echo "$v"
	done | sort -V | tail -n 1
)

if [ -z "$best" ]; then
	echo "kver.sh: no kernel version has both /boot/vmlinuz-X and /usr/src/linux-headers-X;" >&2
	echo "kver.sh: install them with: apt-get install -y linux-image-amd64 linux-headers-amd64" >&2
	exit 1
fi
echo "$best"
