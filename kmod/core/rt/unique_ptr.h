// SPDX-License-Identifier: GPL-2.0
// Single ownership of a heap object made with `new (mk::nothrow)`.
#pragma once

#include "new.h"
#include "utility.h"

namespace mk {

template <class T> class UniquePtr {
 public:
  UniquePtr() = default;
  explicit UniquePtr(T *p) : p_(p) {}
  UniquePtr(const UniquePtr &) = delete;
  UniquePtr &operator=(const UniquePtr &) = delete;
  UniquePtr(UniquePtr &&o) noexcept : p_(o.release()) {}
  UniquePtr &operator=(UniquePtr &&o) noexcept {
    reset(o.release());
    return *this;
  }
  ~UniquePtr() { reset(); }

  T *get() const { return p_; }
  T *operator->() const { return p_; }
  T &operator*() const { return *p_; }
  explicit operator bool() const { return p_ != nullptr; }
  T *release() {
    T *p = p_;
    p_ = nullptr;
    return p;
  }
  void reset(T *p = nullptr) {
    T *old = p_;
    p_ = p;
    delete old;
  }

 private:
  T *p_ = nullptr;
};

// make_unique that reports failure as an empty pointer instead of throwing.
template <class T, class... Args> UniquePtr<T> make_unique(Args &&...args) {
  return UniquePtr<T>(new (nothrow) T(forward<Args>(args)...));
}

}  // namespace mk
