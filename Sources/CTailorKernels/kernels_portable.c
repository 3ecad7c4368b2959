// kernels_portable.c - the portable copy of the kernels: plain C for any CPU (and aarch64).
#include "tailor_kernels.h"
#include "blocks.h"

#define TK_NAME(x) x##_portable
#define TK_HALF(h) tk_f16_to_f32(h)
#include "kernels_impl.inc"

const tk_vtable *tk_vtable_portable(void) { return tk_vtable_impl_portable(); }
