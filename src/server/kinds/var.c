/* mgr — the shared value (manager.Value): one value slot, with atomic
 * increment and compare-and-swap (slot.c). */
#include "mgr/error.h"
#include "server/kind.h"
#include "server/kinds/kinds.h"
#include "server/kinds/slot.h"
#include "server/objects.h"
#include "server/reply.h"
#include "cbor/model.h"

static mgr_value *V(const mgri_obj *o) { return mgri_state(o); }

static int op_get(mgri_octx *x) {
  x->result = *V(x->o);
  x->result_stored = true;
  return MGR_OK;
}

static int op_set(mgri_octx *x) {
  int rc = mgri_sv_check(x, &x->args[0]);
  return rc ? rc : mgri_sv_replace(x, x->o, V(x->o), &x->args[0]);
}

static int op_incr(mgri_octx *x) {
  mgr_value *slot = V(x->o);
  const mgr_value *base = slot;
  mgr_value nv;
  /* A default is type-checked even when unused (spec 11.1). */
  if (x->nargs > 1 && x->args[1].type != MGR_T_INT &&
      x->args[1].type != MGR_T_FLOAT)
    return mgri_fail(x, MGR_ETYPE,
                     "TypeError: default must be a number, not %s",
                     mgri_tname(&x->args[1]));
  if (slot->type == MGR_T_NIL && x->nargs > 1) base = &x->args[1];
  int rc = mgri_num_add(x, base, &x->args[0], &nv);
  if (rc) return rc;
  *slot = nv; /* the old value was nil or a number: nothing to free */
  x->result = nv;
  return MGR_OK;
}

static int op_cas(mgri_octx *x) {
  int rc = mgri_need(x, mgri_sv_need(&x->args[1]));
  if (rc) return rc;
  return mgri_cas_slot(x, x->o, V(x->o), &x->args[0], &x->args[1]);
}

static int var_create(mgri_octx *x, mgri_obj *o, const mgr_value *init) {
  *V(o) = mgr_nil();
  if (!init) return MGR_OK;
  int rc = mgri_need(x, mgri_sv_need(init));
  return rc ? rc : mgri_sv_make_checked(x, o, init, V(o));
}

static void var_destroy(mgri_store *s, mgri_obj *o) {
  mgri_sv_drop(s, o, V(o));
}

static void var_refs(const mgri_obj *o, void (*fn)(void *, uint64_t),
                     void *ctx) {
  mgri_value_refs(V(o), fn, ctx);
}

static int var_dump(mgri_octx *x, mgri_obj *o, mgr_value *out) {
  (void)x;
  *out = *V(o); /* borrowed */
  return MGR_OK;
}

static size_t var_len(const mgri_obj *o) {
  (void)o;
  return 1;
}

static const mgri_handler ops[] = {
    {MGRI_OP_VAR_GET, op_get, MGRI_COST_ONE},
    {MGRI_OP_VAR_SET, op_set, MGRI_COST_ARGS},
    {MGRI_OP_VAR_INCR, op_incr, MGRI_COST_ONE},
    {MGRI_OP_VAR_CAS, op_cas, MGRI_COST_ARGS},
};

const mgri_kind mgri_kind_var = {
    .id = MGR_K_VAR,
    .state_size = sizeof(mgr_value),
    .create = var_create,
    .destroy = var_destroy,
    .refs = var_refs,
    .dump = var_dump,
    .len = var_len,
    .ops = ops,
    .nops = sizeof ops / sizeof ops[0],
};
