// SPDX-License-Identifier: GPL-2.0
// Eventfds and work items of the userspace platform (see eventfd_user.h).
#include <minikvm/platform.h>

#include <cerrno>
#include <condition_variable>
#include <deque>
#include <map>
#include <mutex>
#include <new>

#include "eventfd_user.h"
#include "user_platform.h"

namespace mk::user {
namespace {

struct SimWatch;

struct SimEventfd {
  std::mutex lock;  // the wait-queue lock: held while callbacks run
  unsigned long long count = 0;
  long refs = 1;  // the fd's, plus one per mk_eventfd_ctx_get
  HostVector<SimWatch *> watches;
};

struct SimWatch {
  void (*fn)(void *, unsigned int);
  void *arg;
  SimEventfd *ctx = nullptr;
};

struct SimWork {
  void (*fn)(void *);
  void *arg;
  bool queued = false;
  bool running = false;
};

struct SimEventfds {
  std::mutex lock;  // fd table, refcounts, work queue
  std::condition_variable work_done;
  std::map<int, SimEventfd *, std::less<int>, HostAllocator<std::pair<const int, SimEventfd *>>> fds;
  int next_fd = kFirstEventfd;
  long live = 0;
  long live_work = 0;
  std::deque<SimWork *, HostAllocator<SimWork *>> queue;
};

SimEventfds &st() {
  static SimEventfds s;
  return s;
}

SimEventfd *lookup(int fd) {
  auto it = st().fds.find(fd);
  return it == st().fds.end() ? nullptr : it->second;
}

// With st().lock held.
void put_locked(SimEventfd *e) {
  if (--e->refs == 0) {
    e->~SimEventfd();
    std::free(e);
    st().live--;
  }
}

void wake(SimEventfd *e, unsigned int ev) {
  std::lock_guard<std::mutex> g(e->lock);
  if (ev & MK_POLLIN)
    e->count++;
  // A copy: a callback must not unhook itself, but be safe anyway.
  HostVector<SimWatch *> ws = e->watches;
  for (SimWatch *w : ws) {
    unsigned int mine = ev;
    if (mine & MK_POLLIN)
      e->count = 0;  // eventfd_ctx_do_read by the watch
    w->fn(w->arg, mine);
  }
}

}  // namespace

int eventfd_new() {
  void *p = std::malloc(sizeof(SimEventfd));
  auto *e = new (p) SimEventfd;
  std::lock_guard<std::mutex> g(st().lock);
  int fd = st().next_fd++;
  st().fds[fd] = e;
  st().live++;
  return fd;
}

int eventfd_close(int fd) {
  SimEventfd *e;
  {
    std::lock_guard<std::mutex> g(st().lock);
    e = lookup(fd);
    if (!e)
      return -EBADF;
    st().fds.erase(fd);
    e->refs++;  // kept for the wake-up below
  }
  wake(e, MK_POLLHUP);  // eventfd_release: wake_up_poll(EPOLLHUP)
  std::lock_guard<std::mutex> g(st().lock);
  put_locked(e);  // the wake-up's
  put_locked(e);  // the fd's
  return 0;
}

int eventfd_signal_fd(int fd) {
  SimEventfd *e;
  {
    std::lock_guard<std::mutex> g(st().lock);
    e = lookup(fd);
    if (!e)
      return -EBADF;
    e->refs++;
  }
  wake(e, MK_POLLIN);
  std::lock_guard<std::mutex> g(st().lock);
  put_locked(e);
  return 0;
}

unsigned long long eventfd_read(int fd) {
  std::lock_guard<std::mutex> g(st().lock);
  SimEventfd *e = lookup(fd);
  if (!e)
    return 0;
  std::lock_guard<std::mutex> g2(e->lock);
  unsigned long long c = e->count;
  e->count = 0;
  return c;
}

int eventfd_watchers(int fd) {
  std::lock_guard<std::mutex> g(st().lock);
  SimEventfd *e = lookup(fd);
  if (!e)
    return -1;
  std::lock_guard<std::mutex> g2(e->lock);
  return static_cast<int>(e->watches.size());
}

long eventfd_live() {
  std::lock_guard<std::mutex> g(st().lock);
  return st().live;
}

long run_work() {
  long n = 0;
  for (;;) {
    SimWork *w;
    {
      std::lock_guard<std::mutex> g(st().lock);
      if (st().queue.empty())
        return n;
      w = st().queue.front();
      st().queue.pop_front();
      w->queued = false;
      w->running = true;
    }
    w->fn(w->arg);
    n++;
    std::lock_guard<std::mutex> g(st().lock);
    w->running = false;
    st().work_done.notify_all();
  }
}

long queued_work() {
  std::lock_guard<std::mutex> g(st().lock);
  return static_cast<long>(st().queue.size());
}

long live_work() {
  std::lock_guard<std::mutex> g(st().lock);
  return st().live_work;
}

}  // namespace mk::user

using mk::user::SimEventfd;
using mk::user::SimWatch;
using mk::user::SimWork;
using mk::user::st;

extern "C" {

void *mk_eventfd_ctx_get(int fd, int *err) {
  std::lock_guard<std::mutex> g(st().lock);
  SimEventfd *e = mk::user::lookup(fd);
  if (!e) {
    *err = (fd >= 0 && fd < mk::user::kNotEventfdBelow) ? -EINVAL : -EBADF;
    return nullptr;
  }
  e->refs++;
  return e;
}

void mk_eventfd_ctx_put(void *ctx) {
  if (!ctx)
    return;
  std::lock_guard<std::mutex> g(st().lock);
  mk::user::put_locked(static_cast<SimEventfd *>(ctx));
}

void mk_eventfd_signal(void *ctx) { mk::user::wake(static_cast<SimEventfd *>(ctx), MK_POLLIN); }

void *mk_eventfd_watch_new(void (*fn)(void *, unsigned int), void *arg) {
  void *p = mk_alloc(sizeof(SimWatch));
  if (!p)
    return nullptr;
  return new (p) SimWatch{fn, arg, nullptr};
}

int mk_eventfd_watch_add(void *watch, int fd, void *ctx, unsigned int *events) {
  auto *w = static_cast<SimWatch *>(watch);
  SimEventfd *e;
  {
    std::lock_guard<std::mutex> g(st().lock);
    e = mk::user::lookup(fd);
    if (!e)
      return (fd >= 0 && fd < mk::user::kNotEventfdBelow) ? -EINVAL : -EBADF;
    if (e != ctx)
      return -EBADF;
  }
  std::lock_guard<std::mutex> g(e->lock);
  w->ctx = e;
  e->watches.push_back(w);
  *events = e->count ? MK_POLLIN : 0;
  return 0;
}

void mk_eventfd_watch_free(void *watch) {
  auto *w = static_cast<SimWatch *>(watch);
  if (!w)
    return;
  if (SimEventfd *e = w->ctx) {
    std::lock_guard<std::mutex> g(e->lock);
    for (auto it = e->watches.begin(); it != e->watches.end(); ++it)
      if (*it == w) {
        e->watches.erase(it);
        break;
      }
  }
  w->~SimWatch();
  mk_free(w);
}

void *mk_work_new(void (*fn)(void *), void *arg) {
  void *p = mk_alloc(sizeof(SimWork));
  if (!p)
    return nullptr;
  std::lock_guard<std::mutex> g(st().lock);
  st().live_work++;
  return new (p) SimWork{fn, arg};
}

void mk_work_schedule(void *work) {
  auto *w = static_cast<SimWork *>(work);
  std::lock_guard<std::mutex> g(st().lock);
  if (w->queued)
    return;
  w->queued = true;
  st().queue.push_back(w);
}

void mk_work_flush(void *work) {
  auto *w = static_cast<SimWork *>(work);
  std::unique_lock<std::mutex> g(st().lock);
  if (w->queued) {
    for (auto it = st().queue.begin(); it != st().queue.end(); ++it)
      if (*it == w) {
        st().queue.erase(it);
        break;
      }
    w->queued = false;
    w->running = true;
    g.unlock();
    w->fn(w->arg);
    g.lock();
    w->running = false;
    st().work_done.notify_all();
    return;
  }
  st().work_done.wait(g, [w] { return !w->running; });
}

void mk_work_free(void *work) {
  auto *w = static_cast<SimWork *>(work);
  if (!w)
    return;
  {
    std::unique_lock<std::mutex> g(st().lock);
    if (w->queued) {
      for (auto it = st().queue.begin(); it != st().queue.end(); ++it)
        if (*it == w) {
          st().queue.erase(it);
          break;
        }
      w->queued = false;
    }
    st().work_done.wait(g, [w] { return !w->running; });
    st().live_work--;
  }
  w->~SimWork();
  mk_free(w);
}

}  // extern "C"
