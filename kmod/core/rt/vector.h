// SPDX-License-Identifier: GPL-2.0
// A growable array whose growth can fail: push_back()/reserve()/resize()
// return false and leave the vector as it was when memory runs out.
#pragma once

#include "new.h"
#include "types.h"
#include "utility.h"

extern "C" void *mk_alloc(unsigned long size);
extern "C" void mk_free(void *p);

namespace mk {

template <class T> class Vector {
 public:
  Vector() = default;
  Vector(const Vector &) = delete;
  Vector &operator=(const Vector &) = delete;
  Vector(Vector &&o) noexcept : data_(o.data_), size_(o.size_), cap_(o.cap_) {
    o.data_ = nullptr;
    o.size_ = o.cap_ = 0;
  }
  Vector &operator=(Vector &&o) noexcept {
    if (this != &o) {
      clear_and_free();
      data_ = o.data_;
      size_ = o.size_;
      cap_ = o.cap_;
      o.data_ = nullptr;
      o.size_ = o.cap_ = 0;
    }
    return *this;
  }
  ~Vector() { clear_and_free(); }

  size_t size() const { return size_; }
  size_t capacity() const { return cap_; }
  bool empty() const { return size_ == 0; }
  T *begin() { return data_; }
  T *end() { return data_ + size_; }
  const T *begin() const { return data_; }
  const T *end() const { return data_ + size_; }
  T &operator[](size_t i) { return data_[i]; }
  const T &operator[](size_t i) const { return data_[i]; }
  T &back() { return data_[size_ - 1]; }

  [[nodiscard]] bool reserve(size_t n) {
    if (n <= cap_)
      return true;
    // Refuse sizes whose byte count would overflow.
    if (n > static_cast<size_t>(-1) / sizeof(T))
      return false;
    T *fresh = static_cast<T *>(mk_alloc(n * sizeof(T)));
    if (!fresh)
      return false;
    for (size_t i = 0; i < size_; i++) {
      new (&fresh[i]) T(move(data_[i]));
      data_[i].~T();
    }
    mk_free(data_);
    data_ = fresh;
    cap_ = n;
    return true;
  }

  [[nodiscard]] bool push_back(const T &v) { return emplace_back(v); }
  [[nodiscard]] bool push_back(T &&v) { return emplace_back(move(v)); }

  template <class... Args> [[nodiscard]] bool emplace_back(Args &&...args) {
    if (size_ == cap_ && !reserve(cap_ ? cap_ * 2 : 4))
      return false;
    new (&data_[size_]) T(forward<Args>(args)...);
    size_++;
    return true;
  }

  // New elements are value-initialised.
  [[nodiscard]] bool resize(size_t n) {
    if (!reserve(n))
      return false;
    while (size_ > n)
      data_[--size_].~T();
    while (size_ < n)
      new (&data_[size_++]) T();
    return true;
  }

  void pop_back() { data_[--size_].~T(); }

  // Removes element i, keeping order.
  void erase(size_t i) {
    for (size_t j = i; j + 1 < size_; j++)
      data_[j] = move(data_[j + 1]);
    pop_back();
  }

  void clear() {
    while (size_)
      pop_back();
  }

 private:
  void clear_and_free() {
    clear();
    mk_free(data_);
    data_ = nullptr;
    cap_ = 0;
  }

  T *data_ = nullptr;
  size_t size_ = 0;
  size_t cap_ = 0;
};

}  // namespace mk
