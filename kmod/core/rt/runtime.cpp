// SPDX-License-Identifier: GPL-2.0
// The C++ runtime the core needs, and nothing more: allocation over the
// platform's mk_alloc()/mk_free() (kmalloc/kfree in the kernel) and the
// pure-virtual trap. Exceptions, RTTI and thread-safe statics are compiled
// out (-fno-exceptions -fno-rtti -fno-threadsafe-statics), and static
// destructors are not registered (-fno-use-cxa-atexit), so the linker asks
// for nothing else. scripts/check-ko.sh verifies that the module has no
// constructor sections and no unresolved __cxa_* symbols.
#include <minikvm/platform.h>

#include "log.h"
#include "new.h"

// Plain `new`: returns nullptr on failure. Both builds use -fcheck-new, so
// the compiler tests the result before constructing; core code should still
// prefer `new (mk::nothrow)`, which is checked by the language itself.
void *operator new(mk::size_t size) { return mk_alloc(size); }
void *operator new[](mk::size_t size) { return mk_alloc(size); }
void *operator new(mk::size_t size, const mk::nothrow_t &) noexcept { return mk_alloc(size); }
void *operator new[](mk::size_t size, const mk::nothrow_t &) noexcept { return mk_alloc(size); }

void operator delete(void *p) noexcept { mk_free(p); }
void operator delete[](void *p) noexcept { mk_free(p); }
void operator delete(void *p, mk::size_t) noexcept { mk_free(p); }
void operator delete[](void *p, mk::size_t) noexcept { mk_free(p); }
void operator delete(void *p, const mk::nothrow_t &) noexcept { mk_free(p); }
void operator delete[](void *p, const mk::nothrow_t &) noexcept { mk_free(p); }

// Called through a vtable slot whose function is pure: a core bug. Say so
// and keep the machine alive; the caller's result is garbage but no worse.
extern "C" void __cxa_pure_virtual() { mk_err("BUG: pure virtual function called"); }
