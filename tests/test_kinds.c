/* mgr tests — the kind table agrees with the op table and the spec: every
 * op of ops.h has exactly one handler for each kind it applies to (kind 4's
 * ops for kinds 4 and 5), no kind handles another kind's op, every kind
 * fills the interface, and each handler's cost class is the one the spec's
 * cost table (spec/protocol.md 14.2.4) gives its op. */
/* clang-format off */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>
/* clang-format on */

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/kinds.h"
#include "proto/ops.h"
#include "server/dispatch.h"
#include "server/kinds/kinds.h"
#include "server/manager.h"
#include "util.h"

/* The handlers of ops of kind k (0: the manager). */
static size_t handlers_of(uint32_t k, const mgri_handler **out) {
  if (k == 0) {
    *out = mgri_manager_ops;
    return mgri_manager_nops;
  }
  if (!mgri_kinds[k]) { /* test_kind_interface fails it */
    *out = NULL;
    return 0;
  }
  *out = mgri_kinds[k]->ops;
  return mgri_kinds[k]->nops;
}

/* The kind whose ops an object of kind k runs (an RLock runs the Lock's). */
static uint32_t extends_of(uint32_t k) {
  return k && mgri_kinds[k] ? mgri_kinds[k]->extends : 0;
}

/* k's handler for code in its own table (at most once there), else NULL. */
static const mgri_handler *find_own(uint32_t k, uint32_t code) {
  if (k == 0 && code == MGRI_OP_BATCH) return &mgri_batch_op;
  const mgri_handler *h;
  size_t n = handlers_of(k, &h);
  const mgri_handler *found = NULL;
  for (size_t i = 0; i < n; i++)
    if (h[i].code == code) {
      assert_null(found); /* at most once */
      found = &h[i];
    }
  return found;
}

/* The handler an object of kind k runs for code: its own, else the one of
 * the kind it extends (spec 5.2). */
static const mgri_handler *find(uint32_t k, uint32_t code) {
  const mgri_handler *h = find_own(k, code);
  if (!h && extends_of(k)) h = find_own(extends_of(k), code);
  return h;
}

typedef struct ops_ctx {
  size_t n;
} ops_ctx;

static void check_op(void *ctx, const mgri_opinfo *op) {
  ops_ctx *c = ctx;
  c->n++;
  for (uint32_t k = 0; k <= MGRI_KIND_MAX; k++) {
    bool applies =
        k == 0 ? op->kind == 0
               : op->kind == k || (extends_of(k) && op->kind == extends_of(k));
    const mgri_handler *h = find(k, op->code);
    if (applies && !h) fail_msg("kind %u has no handler for %s", k, op->name);
    if (!applies && h)
      fail_msg("kind %u handles %s, an op of kind %u", k, op->name, op->kind);
    if (h) assert_non_null(h->fn);
  }
}

static void test_every_op_handled_once(void **state) {
  (void)state;
  ops_ctx c = {0};
  mgri_op_foreach(check_op, &c);
  assert_true(c.n > 50);
  /* And nothing is handled that the op table does not know. */
  for (uint32_t k = 0; k <= MGRI_KIND_MAX; k++) {
    const mgri_handler *h;
    size_t n = handlers_of(k, &h);
    for (size_t i = 0; i < n; i++) {
      const mgri_opinfo *op = mgri_op_info(h[i].code);
      assert_non_null(op);
      /* A kind's own table holds its own ops only. */
      assert_int_equal(op->kind, k);
    }
  }
}

static void test_kind_interface(void **state) {
  (void)state;
  assert_null(mgri_kinds[0]);
  for (uint32_t k = 1; k <= MGRI_KIND_MAX; k++) {
    const mgri_kind *kd = mgri_kinds[k];
    assert_non_null(kd);
    assert_int_equal(kd->id, k);
    assert_true(kd->state_size > 0);
    assert_non_null(kd->create);
    assert_non_null(kd->destroy);
    assert_non_null(kd->refs);
    assert_non_null(kd->dump);
    assert_non_null(kd->len);
    /* It runs ops: its own, or those of the kind it extends (one level,
     * a kind with ops of its own). */
    assert_true(kd->nops > 0 || kd->extends);
    /* The client's notion (common/kinds.c) is the server's. */
    assert_int_equal(kd->extends, mgri_kind_base(k));
    if (kd->extends) {
      assert_true(kd->extends < k);
      assert_non_null(mgri_kinds[kd->extends]);
      assert_int_equal(mgri_kinds[kd->extends]->extends, 0);
    }
    /* A kind that parks answers its waiters at their deadline. */
    bool parks = false;
    for (size_t i = 0; i < kd->nops; i++)
      if (mgri_op_info(kd->ops[i].code)->flags & MGRI_OPF_B) parks = true;
    if (parks) assert_non_null(kd->expired);
    /* Its names come from THE kind list. */
    assert_string_not_equal(mgri_kind_short(k), "ref");
    assert_string_not_equal(mgri_kind_python(k), "object");
    assert_string_not_equal(mgri_kind_proxy(k), "BaseProxy");
  }
  /* Outside the list (0, past the last): the generic names, as Python's
   * BaseProxy of an unknown object. */
  static const uint32_t outside[] = {0, MGRI_KIND_MAX + 1, UINT32_MAX};
  for (size_t i = 0; i < 3; i++) {
    assert_string_equal(mgri_kind_short(outside[i]), "ref");
    assert_string_equal(mgri_kind_python(outside[i]), "object");
    assert_string_equal(mgri_kind_proxy(outside[i]), "BaseProxy");
  }
  assert_null(mgr_kind_name(0));
  assert_null(mgr_kind_name(MGRI_KIND_MAX + 1));
  assert_null(mgr_kind_name(-1));
}

/* --- the spec's cost table --------------------------------------------------- */

static const char *const classes[] = {"ONE",      "LEN",  "ARGS",
                                      "LEN_ARGS", "SORT", "IMUL",
                                      "OBJECTS",  "END",  "END_ARGS"};
/* In the order of the MGRI_COST_* enum. */
static const int class_ids[] = {
    MGRI_COST_ONE,      MGRI_COST_LEN,  MGRI_COST_ARGS,
    MGRI_COST_LEN_ARGS, MGRI_COST_SORT, MGRI_COST_IMUL,
    MGRI_COST_OBJECTS,  MGRI_COST_END,  MGRI_COST_END_ARGS};

static void test_cost_table_in_spec(void **state) {
  (void)state;
  char *spec = tu_read_file(MGR_SOURCE_DIR "/spec/protocol.md", NULL);
  assert_non_null(spec);
  char *from = strstr(spec, "14.2.4.");
  assert_non_null(from);
  char *to = strstr(from, "14.2.5.");
  assert_non_null(to);
  size_t seen[256] = {0};
  size_t rows = 0;
  for (char *p = from; p < to;) {
    char *nl = memchr(p, '\n', (size_t)(to - p));
    char *end = nl ? nl : to;
    /* "| CLASS | cost | OP, OP, ... |" */
    if (*p == '|') {
      char cls[32] = "";
      int n = 0;
      if (sscanf(p, "| %31[A-Z_] |%n", cls, &n) == 1 && n) {
        int id = -1;
        for (size_t c = 0; c < sizeof classes / sizeof *classes; c++)
          if (!strcmp(cls, classes[c])) id = class_ids[c];
        if (id >= 0) {
          rows++;
          char *ops = memchr(p + n, '|', (size_t)(end - p - n));
          assert_non_null(ops);
          for (char *q = ops + 1; q < end;) {
            while (q < end && !isupper((unsigned char)*q))
              q++;
            char *w = q;
            while (q < end && (isupper((unsigned char)*q) || *q == '_'))
              q++;
            if (q == w) break;
            char name[40];
            snprintf(name, sizeof name, "%.*s", (int)(q - w), w);
            uint32_t code = 0;
            for (uint32_t c = 1; c < 256 && !code; c++)
              if (mgri_op_info(c) && !strcmp(mgri_op_info(c)->name, name))
                code = c;
            if (!code) fail_msg("cost table: no op %s", name);
            seen[code]++;
            const mgri_opinfo *op = mgri_op_info(code);
            for (uint32_t k = 0; k <= MGRI_KIND_MAX; k++) {
              const mgri_handler *h = find(k, code);
              if (h && h->cost != id)
                fail_msg("cost table: %s is %s, its handler says class %d",
                         name, cls, h->cost);
            }
            (void)op;
          }
        }
      }
    }
    p = end + 1;
  }
  assert_int_equal(rows, sizeof classes / sizeof *classes);
  /* Every op appears exactly once. */
  for (uint32_t c = 1; c < 256; c++) {
    const mgri_opinfo *op = mgri_op_info(c);
    if (op && seen[c] != 1)
      fail_msg("cost table: %s appears %zu times", op->name, seen[c]);
  }
  free(spec);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_every_op_handled_once),
      cmocka_unit_test(test_kind_interface),
      cmocka_unit_test(test_cost_table_in_spec),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
