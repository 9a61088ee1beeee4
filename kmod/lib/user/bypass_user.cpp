// SPDX-License-Identifier: GPL-2.0
// The platform ABI's "irq bypass" section for host unit tests: an
// in-process irq-bypass manager (token matching as virt/lib/irqbypass.c)
// and a recorder standing in for irq_set_vcpu_affinity().
#include <minikvm/core.h>
#include <minikvm/platform.h>

#include <cerrno>
#include <cstdlib>
#include <mutex>

#include "bypass_user.h"

namespace mk::user::bypass {
namespace {

struct Consumer {
  void *token;
  void *client;
  bool connected;
};
struct Producer {
  void *token;
  unsigned int irq;
};

// Held around the callbacks into the core, as the kernel's manager holds
// its mutex around add_producer/del_producer.
std::recursive_mutex lock;
HostVector<Consumer *> consumer_list;
HostVector<Producer> producer_list;
HostVector<AffinityCall> call_log;
int posted_err, remapped_err, register_err;
bool posting_test;

Producer *producer_of(void *token) {
  for (auto &p : producer_list)
    if (p.token == token)
      return &p;
  return nullptr;
}

}  // namespace

HostVector<AffinityCall> &calls() { return call_log; }
void fail_posted(int err) { posted_err = err; }
void fail_remapped(int err) { remapped_err = err; }
void fail_register(int err) { register_err = err; }
void set_posting_test(bool on) { posting_test = on; }

long consumers() {
  std::lock_guard<std::recursive_mutex> g(lock);
  return static_cast<long>(consumer_list.size());
}

int register_producer(void *token, unsigned int irq) {
  std::lock_guard<std::recursive_mutex> g(lock);
  if (producer_of(token))
    return -EBUSY;
  producer_list.push_back({token, irq});
  for (Consumer *c : consumer_list)
    if (c->token == token && !c->connected) {
      c->connected = true;
      mk_core_bypass_add_producer(c->client, irq);
    }
  return 0;
}

void unregister_producer(void *token) {
  std::lock_guard<std::recursive_mutex> g(lock);
  Producer *p = producer_of(token);
  if (!p)
    return;
  unsigned int irq = p->irq;
  producer_list.erase(producer_list.begin() + (p - producer_list.data()));
  for (Consumer *c : consumer_list)
    if (c->token == token && c->connected) {
      c->connected = false;
      mk_core_bypass_del_producer(c->client, irq);
    }
}

void reset() {
  std::lock_guard<std::recursive_mutex> g(lock);
  if (!consumer_list.empty())
    std::abort();  // a consumer outlived its test: the core leaked an irqfd
  producer_list.clear();
  call_log.clear();
  posted_err = remapped_err = register_err = 0;
  posting_test = false;
}

}  // namespace mk::user::bypass

using namespace mk::user::bypass;

extern "C" void *mk_bypass_consumer_new(void *token, void *client) {
  std::lock_guard<std::recursive_mutex> g(lock);
  if (!token || !client)
    return nullptr;
  if (register_err) {
    mk_log(MK_LOG_INFO, "irq bypass consumer registration failed: %d", register_err);
    return nullptr;
  }
  for (Consumer *c : consumer_list)
    if (c->token == token)
      return nullptr;  // irq_bypass_register_consumer: -EBUSY
  // Host memory (std::malloc), outside the core's mk_alloc_live() count,
  // as the kernel glue's allocation is the glue's, not the core's.
  auto *c = static_cast<Consumer *>(std::malloc(sizeof(Consumer)));
  if (!c)
    return nullptr;
  *c = {token, client, false};
  consumer_list.push_back(c);
  if (Producer *p = producer_of(token)) {
    c->connected = true;
    mk_core_bypass_add_producer(client, p->irq);
  }
  return c;
}

extern "C" void mk_bypass_consumer_free(void *h) {
  if (!h)
    return;
  std::lock_guard<std::recursive_mutex> g(lock);
  auto *c = static_cast<Consumer *>(h);
  for (size_t i = 0; i < consumer_list.size(); i++) {
    if (consumer_list[i] != c)
      continue;
    if (c->connected) {
      Producer *p = producer_of(c->token);
      c->connected = false;
      mk_core_bypass_del_producer(c->client, p ? p->irq : 0);
    }
    consumer_list.erase(consumer_list.begin() + static_cast<long>(i));
    break;
  }
  std::free(c);
}

extern "C" int mk_irq_set_vcpu_affinity(unsigned int host_irq, unsigned long long pi_desc_pa,
                                        unsigned int vector, int posted) {
  std::lock_guard<std::recursive_mutex> g(lock);
  call_log.push_back({host_irq, posted != 0, pi_desc_pa, vector});
  return posted ? posted_err : remapped_err;
}

extern "C" int mk_irte_posting_test(void) { return posting_test; }
