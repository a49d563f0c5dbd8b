/* mgr fuzz target — differential: our decoder against libcbor (Debian's
 * libcbor 0.8) and against profile.c, an independent lenient reader of the
 * profile. For every input:
 *  - ours accepts => libcbor accepts the whole input with an equal value
 *    (ints, floats incl. half by bits, text, bytes, arrays, maps in order,
 *    tag 28007 refs) and profile.c finds no rule broken;
 *  - libcbor accepts, ours rejects => the code is MGR_EDECODE/MGR_ETOOBIG and
 *    the reason names a rule profile.c sees broken in the input, at the very
 *    offset ours reports for rules tied to one head;
 *  - profile.c finds the input not well-formed => ours rejects (libcbor is
 *    then not called: it pre-allocates from declared counts). */
#include <cbor.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cbor/cbor.h"
#include "fuzz.h"
#include "model.h"
#include "mgr/error.h"
#include "profile.h"

#define ITEMS_MAX 4096

/* libcbor's item equals our value: same CBOR types, same order. */
static bool same(const cbor_item_t *c, const mgr_value *v) {
  switch (cbor_typeof(c)) {
  case CBOR_TYPE_UINT:
    return v->type == MGR_T_INT && v->u.i >= 0 &&
           (uint64_t)v->u.i == cbor_get_int(c);
  case CBOR_TYPE_NEGINT:
    return v->type == MGR_T_INT && v->u.i < 0 &&
           (uint64_t)(-1 - v->u.i) == cbor_get_int(c);
  case CBOR_TYPE_BYTESTRING:
    return v->type == MGR_T_BYTES && cbor_bytestring_is_definite(c) &&
           cbor_bytestring_length(c) == v->u.s.len &&
           (v->u.s.len == 0 ||
            memcmp(cbor_bytestring_handle(c), v->u.s.ptr, v->u.s.len) == 0);
  case CBOR_TYPE_STRING:
    return v->type == MGR_T_TEXT && cbor_string_is_definite(c) &&
           cbor_string_length(c) == v->u.s.len &&
           (v->u.s.len == 0 ||
            memcmp(cbor_string_handle(c), v->u.s.ptr, v->u.s.len) == 0);
  case CBOR_TYPE_ARRAY: {
    if (v->type != MGR_T_ARRAY || !cbor_array_is_definite(c) ||
        cbor_array_size(c) != v->u.a.len)
      return false;
    cbor_item_t **it = cbor_array_handle(c);
    for (size_t i = 0; i < v->u.a.len; i++)
      if (!same(it[i], &v->u.a.items[i])) return false;
    return true;
  }
  case CBOR_TYPE_MAP: {
    if (v->type != MGR_T_MAP || !cbor_map_is_definite(c) ||
        cbor_map_size(c) != v->u.a.len)
      return false;
    struct cbor_pair *pr = cbor_map_handle(c);
    for (size_t i = 0; i < v->u.a.len; i++)
      if (!same(pr[i].key, &v->u.a.items[2 * i]) ||
          !same(pr[i].value, &v->u.a.items[2 * i + 1]))
        return false;
    return true;
  }
  case CBOR_TYPE_TAG: {
    if (v->type != MGR_T_REF || cbor_tag_value(c) != 28007) return false;
    cbor_item_t *a = cbor_tag_item(c);
    bool ok = cbor_typeof(a) == CBOR_TYPE_ARRAY && cbor_array_size(a) == 2 &&
              cbor_typeof(cbor_array_handle(a)[0]) == CBOR_TYPE_UINT &&
              cbor_typeof(cbor_array_handle(a)[1]) == CBOR_TYPE_UINT &&
              cbor_get_int(cbor_array_handle(a)[0]) == v->u.ref.kind &&
              cbor_get_int(cbor_array_handle(a)[1]) == v->u.ref.id;
    cbor_decref(&a);
    return ok;
  }
  case CBOR_TYPE_FLOAT_CTRL:
    if (cbor_float_get_width(c) == CBOR_FLOAT_0) {
      if (cbor_is_bool(c))
        return v->type == MGR_T_BOOL && v->u.b == cbor_get_bool(c);
      if (cbor_is_null(c)) return v->type == MGR_T_NIL;
      return false;
    } else {
      double d = cbor_float_get_float(c);
      if (v->type != MGR_T_FLOAT) return false;
      if (isnan(d) || isnan(v->u.f)) return isnan(d) && isnan(v->u.f);
      return memcmp(&d, &v->u.f, sizeof d) == 0;
    }
  }
  return false;
}

static void report(const char *msg, const mgri_decode_error *e,
                   const prof_result *pr) {
  fprintf(stderr,
          "fuzz_diff: %s; ours: code %d at %zu: %s; profile.c sees:", msg,
          e->code, e->offset, e->what ? e->what : "(null)");
  for (size_t i = 0; i < pr->nhits; i++)
    fprintf(stderr, " %s@%zu", prof_cat_name(pr->hits[i].cat), pr->hits[i].off);
  fprintf(stderr, "\n");
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  mgri_limits lim;
  mgri_limits_default(&lim);
  lim.items_max = ITEMS_MAX;
  mgri_arena a;
  mgri_arena_init(&a, 8u << 20);
  mgr_value v;
  mgri_decode_error err = {0, 0, NULL};
  int rc = mgri_cbor_decode(data, size, &lim, &a, &v, &err);

  static prof_result pr; /* big */
  prof_read(data, size, ITEMS_MAX, &pr);
  if (pr.overflow) goto out; /* no verdict from the model */

  if (!pr.wellformed) {
    if (rc == MGR_OK)
      report("ours accepts CBOR that is not well-formed", &err, &pr);
    FUZZ_CHECK(rc != MGR_OK);
    goto out;
  }

  struct cbor_load_result res;
  cbor_item_t *item = cbor_load(data, size, &res);
  bool theirs = item && res.error.code == CBOR_ERR_NONE && res.read == size;

  if (rc == MGR_OK) {
    if (pr.cats)
      report("ours accepts input that breaks the profile", &err, &pr);
    FUZZ_CHECK(pr.cats == 0);
    FUZZ_CHECK(model_same(&pr.value, &v));
    if (!theirs)
      fprintf(stderr,
              "fuzz_diff: libcbor rejects (error %d, read %zu of %zu)\n",
              (int)res.error.code, res.read, size);
    FUZZ_CHECK(theirs);
    FUZZ_CHECK(same(item, &v));
  } else if (rc != MGR_ENOMEM) {
    FUZZ_CHECK(rc == MGR_EDECODE || rc == MGR_ETOOBIG);
    FUZZ_CHECK(err.code == rc && err.what != NULL && err.offset <= size);
    prof_cat c = prof_cat_of(err.what);
    bool ok = c != P_NCATS && (pr.cats & (1u << c));
    /* Rules about one head or one key: it must be the one ours names. */
    if (ok && c != P_ITEMS && c != P_TRAILING && c != P_DEPTH)
      ok = prof_hit_at(&pr, c, err.offset);
    if (ok && c == P_DEPTH)
      ok = rc == MGR_ETOOBIG && prof_hit_at(&pr, c, err.offset);
    if (ok && c == P_ITEMS) ok = rc == MGR_ETOOBIG;
    if (!ok) report("our reason is not a rule the input breaks", &err, &pr);
    FUZZ_CHECK(ok);
    /* libcbor takes a well-formed item as far as it goes. */
    if (!(pr.cats & (1u << P_TRAILING)) && !theirs &&
        getenv("MGR_FUZZ_VERBOSE"))
      fprintf(stderr,
              "fuzz_diff: note: libcbor rejects well-formed input "
              "(error %d)\n",
              (int)res.error.code);
  }
  if (item) cbor_decref(&item);
out:
  mgri_arena_fini(&a);
  return 0;
}
