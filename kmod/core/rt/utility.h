// SPDX-License-Identifier: GPL-2.0
// The few <utility>/<type_traits> pieces the core needs, freestanding.
#pragma once

namespace mk {

template <class T> struct remove_reference { using type = T; };
template <class T> struct remove_reference<T &> { using type = T; };
template <class T> struct remove_reference<T &&> { using type = T; };
template <class T> using remove_reference_t = typename remove_reference<T>::type;

template <class T> constexpr remove_reference_t<T> &&move(T &&t) noexcept {
  return static_cast<remove_reference_t<T> &&>(t);
}
template <class T> constexpr T &&forward(remove_reference_t<T> &t) noexcept {
  return static_cast<T &&>(t);
}
template <class T> constexpr T &&forward(remove_reference_t<T> &&t) noexcept {
  return static_cast<T &&>(t);
}
template <class T> constexpr void swap(T &a, T &b) noexcept {
  T tmp = move(a);
  a = move(b);
  b = move(tmp);
}
template <class T> constexpr const T &min(const T &a, const T &b) { return b < a ? b : a; }
template <class T> constexpr const T &max(const T &a, const T &b) { return a < b ? b : a; }

template <class T, __SIZE_TYPE__ N> constexpr __SIZE_TYPE__ array_size(const T (&)[N]) { return N; }

}  // namespace mk
