// SPDX-License-Identifier: GPL-2.0
// Test controls of the userspace platform's eventfds and work items
// (eventfd_user.cpp, platform.h section "eventfds, work items").
//
// Simulated eventfds live in their own fd space (from 1000 up). A signal
// runs every watch callback synchronously, in the signalling thread, with
// the eventfd's lock held (as the kernel's wait-queue lock). Closing the
// fd wakes the watches with MK_POLLHUP; the context lives on while a
// reference (mk_eventfd_ctx_get) remains. Work items never run by
// themselves: run_work() runs what is queued (a test's "kworker"), and
// mk_work_flush() runs a queued item at once in the caller's thread.
#pragma once

namespace mk::user {

inline constexpr int kFirstEventfd = 1000;
// fds below this (other than negative ones) are "files that are not
// eventfds": mk_eventfd_ctx_get answers -EINVAL for them, -EBADF otherwise.
inline constexpr int kNotEventfdBelow = 100;

int eventfd_new();
// Drops the fd (POLLHUP to the watches); -EBADF if not open.
int eventfd_close(int fd);
// write(fd, 1): -EBADF if not open.
int eventfd_signal_fd(int fd);
// read(fd): the counter, zeroed (0 when nothing was signalled).
unsigned long long eventfd_read(int fd);
// Watches hooked on the eventfd of fd (-1 if not open).
int eventfd_watchers(int fd);
// Eventfd contexts alive (fd or references), for leak checks.
long eventfd_live();

// Runs queued work items until none is queued; returns how many ran.
long run_work();
long queued_work();
// Work items that exist (mk_work_new minus mk_work_free).
long live_work();

}  // namespace mk::user
