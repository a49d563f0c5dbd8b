/* mgr — the op table as data: one entry per op in table order, and an index
 * by code so mgri_op_info is O(1). Both are generated from MGRI_OPS. */
#include "ops.h"

#include <stddef.h>

#include "../common/limits.h"

#define R_ MGRI_OPF_R
#define W_ MGRI_OPF_W
#define B_ MGRI_OPF_B
#define K_ MGRI_OPF_K
#define O_ MGRI_OPF_O
#define BA0_ MGRI_OPF_BARG(0)
#define BA1_ MGRI_OPF_BARG(1)

/* Position of each op in the table (for the code index). */
enum {
#define POS_(name, code, kind, mn, mx, fl, py) POS_##name,
  MGRI_OPS(POS_)
#undef POS_
      NOPS
};

static const mgri_opinfo ops[NOPS] = {
#define INFO_(name, code, kind, mn, mx, fl, py)                                \
  {#name, code, kind, mn, mx, fl, py},
    MGRI_OPS(INFO_)
#undef INFO_
};

/* Codes are small (one byte); -Woverride-init (in -Wextra) catches a code
 * listed twice. Entries hold position + 1 so 0 means "no such op". */
#define CODE_LIMIT 256
static const unsigned char by_code[CODE_LIMIT] = {
#define IDX_(name, code, kind, mn, mx, fl, py) [code] = POS_##name + 1,
    MGRI_OPS(IDX_)
#undef IDX_
};

/* Every code must fit the index, and the index entries (position + 1) must
 * fit a byte. */
#define CHECK_(name, code, kind, mn, mx, fl, py)                               \
  _Static_assert((code) > 0 && (code) < CODE_LIMIT,                            \
                 #name " code out of range");                                  \
  _Static_assert((mn) <= (mx), #name " min_args > max_args");                  \
  _Static_assert((mx) <= MGRI_ARGS_MAX, #name " max_args > MGRI_ARGS_MAX");
MGRI_OPS(CHECK_)
#undef CHECK_
_Static_assert(NOPS < 255, "too many ops for a byte index");

const mgri_opinfo *mgri_op_info(uint64_t code) {
  if (code >= CODE_LIMIT) return NULL;
  unsigned i = by_code[code];
  return i ? &ops[i - 1] : NULL;
}

const char *mgri_op_name(uint64_t code) {
  const mgri_opinfo *op = mgri_op_info(code);
  return op ? op->name : "?";
}

void mgri_op_foreach(void (*fn)(void *ctx, const mgri_opinfo *op), void *ctx) {
  for (size_t i = 0; i < NOPS; i++)
    fn(ctx, &ops[i]);
}
