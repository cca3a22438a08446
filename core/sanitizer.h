/* sanitizer.h — which sanitizer this translation unit is built with, for
 * gcc (__SANITIZE_*__) and clang (__has_feature) alike: EVL__ASAN, EVL__TSAN.
 * Internal: the task switch, the proactor's operation cache, the embedded
 * Python's allocator and the libuv wrappers each adapt to one of them. */
#ifndef EVL_SANITIZER_H
#define EVL_SANITIZER_H

#if defined(__has_feature)
#if __has_feature(address_sanitizer)
#define EVL__ASAN 1
#endif
#if __has_feature(thread_sanitizer)
#define EVL__TSAN 1
#endif
#endif
#if defined(__SANITIZE_ADDRESS__) && !defined(EVL__ASAN)
#define EVL__ASAN 1
#endif
#if defined(__SANITIZE_THREAD__) && !defined(EVL__TSAN)
#define EVL__TSAN 1
#endif

#endif
