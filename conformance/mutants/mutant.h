/* mutant.h — which row this build is, for mutant_loop.c, mutant_ref*.c,
 * mutant_backend.c and variant_ref.c: -DMUTANT=name (a row of
 * list_mutants.h) or -DVARIANT=name (list_variants.h: mutant_backend.c's
 * BACKEND variants, variant_ref.c's REF ones).
 * ON(name) is true for that row only; the rows share one enum, so a name
 * used in both lists fails to build. */
#ifndef EVL_MUTANT_H
#define EVL_MUTANT_H
#include <evl/impl.h>

#include "list_mutants.h"
#include "list_variants.h"

#define M_ENUM(name, ...) M_##name,
enum { EVL_MUTANT_LIST(M_ENUM) EVL_VARIANT_LIST(M_ENUM) M_COUNT };
#define M_CAT2(a, b) a##b
#define M_CAT(a, b) M_CAT2(a, b)
#if defined(MUTANT)
#define M_THIS M_CAT(M_, MUTANT)
#elif defined(VARIANT)
#define M_THIS M_CAT(M_, VARIANT)
#else
#error "build with -DMUTANT=name (list_mutants.h) or -DVARIANT=name"
#endif
#define ON(name) (M_THIS == M_##name)

/* mutant_ref.c: the reference core on epoll with this build's bug in its
 * signal, future or executor ops (the parts the sample loop lacks). */
const evl_impl_ops *mutant_ref_plugin(const char *name, const char *desc);
/* Its base ops (the reference core's), and mutant_ref_soon.c's wrappers of
 * call_soon and cancel. */
extern const evl_impl_ops *mutant_ref_base;
int mutant_ref_call_soon(evl_loop *loop, evl_cb cb, void *arg, evl_handle *out);
int mutant_ref_cancel(evl_loop *loop, evl_handle h);
#endif
