// SPDX-License-Identifier: GPL-2.0
/*
 * Eventfds and work items for irqfd and ioeventfd (platform.h section
 * "eventfds, work items"). The watch is KVM's irqfd wait-queue hook
 * (virt/kvm/eventfd.c: init_waitqueue_func_entry + vfs_poll with a custom
 * poll_table queue proc, eventfd_ctx_remove_wait_queue on shutdown).
 */
#include <linux/eventfd.h>
#include <linux/file.h>
#include <linux/poll.h>
#include <linux/slab.h>
#include <linux/wait.h>
#include <linux/workqueue.h>

#include <minikvm/platform.h>

void *mk_eventfd_ctx_get(int fd, int *err)
{
	struct eventfd_ctx *ctx = eventfd_ctx_fdget(fd);

	if (IS_ERR(ctx)) {
		*err = PTR_ERR(ctx);
		return NULL;
	}
	return ctx;
}

void mk_eventfd_ctx_put(void *ctx)
{
	/* NULL allowed, as mk_free(NULL): an irqfd without a resamplefd. */
	if (ctx)
		eventfd_ctx_put(ctx);
}

void mk_eventfd_signal(void *ctx)
{
	eventfd_signal(ctx, 1);
}

struct mk_watch {
	wait_queue_entry_t wait;
	poll_table pt;
	struct eventfd_ctx *ctx; /* set once hooked */
	void (*fn)(void *arg, unsigned int events);
	void *arg;
};

/* Called with the eventfd's wqh->lock held and interrupts off. */
static int mk_watch_wakeup(wait_queue_entry_t *wait, unsigned int mode, int sync, void *key)
{
	struct mk_watch *w = container_of(wait, struct mk_watch, wait);
	__poll_t flags = key_to_poll(key);
	unsigned int ev = 0;

	if (flags & EPOLLIN) {
		u64 cnt;

		/* As irqfd_wakeup: consume the count, one injection per wake-up. */
		eventfd_ctx_do_read(w->ctx, &cnt);
		ev |= MK_POLLIN;
	}
	if (flags & EPOLLHUP)
		ev |= MK_POLLHUP;
	if (ev)
		w->fn(w->arg, ev);
	return !!(ev & MK_POLLIN);
}

static void mk_watch_queue_proc(struct file *file, wait_queue_head_t *wqh, poll_table *pt)
{
	struct mk_watch *w = container_of(pt, struct mk_watch, pt);

	add_wait_queue_priority(wqh, &w->wait);
}

void *mk_eventfd_watch_new(void (*fn)(void *arg, unsigned int events), void *arg)
{
	struct mk_watch *w = kzalloc(sizeof(*w), GFP_KERNEL_ACCOUNT);

	if (!w)
		return NULL;
	w->fn = fn;
	w->arg = arg;
	init_waitqueue_func_entry(&w->wait, mk_watch_wakeup);
	init_poll_funcptr(&w->pt, mk_watch_queue_proc);
	return w;
}

int mk_eventfd_watch_add(void *watch, int fd, void *ctx, unsigned int *events)
{
	struct mk_watch *w = watch;
	struct eventfd_ctx *c;
	struct fd f = fdget(fd);
	__poll_t ev;

	if (!f.file)
		return -EBADF;
	c = eventfd_ctx_fileget(f.file);
	if (IS_ERR(c)) {
		fdput(f);
		return PTR_ERR(c);
	}
	eventfd_ctx_put(c);
	if (c != ctx) {
		/* The fd was closed and reused since the caller's lookup. */
		fdput(f);
		return -EBADF;
	}
	w->ctx = ctx;
	ev = vfs_poll(f.file, &w->pt);
	fdput(f);
	*events = (ev & EPOLLIN ? MK_POLLIN : 0) | (ev & EPOLLHUP ? MK_POLLHUP : 0);
	return 0;
}

void mk_eventfd_watch_free(void *watch)
{
	struct mk_watch *w = watch;
	u64 cnt;

	if (!w)
		return;
	if (w->ctx)
		eventfd_ctx_remove_wait_queue(w->ctx, &w->wait, &cnt);
	kfree(w);
}

struct mk_work {
	struct work_struct work;
	void (*fn)(void *arg);
	void *arg;
};

static void mk_work_fn(struct work_struct *work)
{
	struct mk_work *w = container_of(work, struct mk_work, work);

	w->fn(w->arg);
}

void *mk_work_new(void (*fn)(void *arg), void *arg)
{
	struct mk_work *w = kzalloc(sizeof(*w), GFP_KERNEL_ACCOUNT);

	if (!w)
		return NULL;
	w->fn = fn;
	w->arg = arg;
	INIT_WORK(&w->work, mk_work_fn);
	return w;
}

void mk_work_free(void *work)
{
	struct mk_work *w = work;

	if (!w)
		return;
	cancel_work_sync(&w->work);
	kfree(w);
}

void mk_work_schedule(void *work)
{
	schedule_work(&((struct mk_work *)work)->work);
}

void mk_work_flush(void *work)
{
	flush_work(&((struct mk_work *)work)->work);
}
