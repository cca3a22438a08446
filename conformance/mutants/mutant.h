/* mutant.h — which row of list_mutants.h this build is (-DMUTANT=name),
 * for mutant_loop.c and mutant_ref.c. */
#ifndef EVL_MUTANT_H
#define EVL_MUTANT_H
#include <evl/impl.h>

#include "list_mutants.h"

#ifndef MUTANT
#error "build with -DMUTANT=name, a row of list_mutants.h"
#endif

#define M_ENUM(name, ...) M_##name,
enum { EVL_MUTANT_LIST(M_ENUM) M_COUNT };
#define M_CAT2(a, b) a##b
#define M_CAT(a, b) M_CAT2(a, b)
#define M_THIS M_CAT(M_, MUTANT)
#define ON(name) (M_THIS == M_##name)

/* mutant_ref.c: the reference core on epoll with this build's bug in its
 * signal, future or executor ops (the parts the sample loop lacks). */
const evl_impl_ops *mutant_ref_plugin(const char *name, const char *desc);
#endif
