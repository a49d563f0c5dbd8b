/* mgr tests — src/server/reply.c and the kind names it gives: an error
 * message cut at the reply's message size ends on a whole code point, a
 * shortened repr too, Python's name of every value type, LIMIT counted by
 * its reason, a scratch result larger than a frame refused before
 * allocating, a reply without a message takes the error's own text. Pure:
 * a store and its harness, no sockets. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "cbor/model.h"
#include "common/kinds.h"
#include "server/reply.h"
#include "server_util.h"

static mgri_octx octx(void) {
  mgri_octx x;
  memset(&x, 0, sizeof x);
  x.s = H.s;
  x.c = C;
  return x;
}

/* A message of `pad` ASCII bytes then the character ch (repeated) cut at
 * the message buffer's size: the text kept is the longest prefix that ends
 * on a whole code point, still valid UTF-8. */
static void cut_at(size_t pad, const char *ch) {
  mgri_octx x = octx();
  char big[2 * sizeof x.msg];
  memset(big, 'a', pad);
  size_t n = pad, w = strlen(ch);
  while (n + w < sizeof big) {
    memcpy(big + n, ch, w);
    n += w;
  }
  big[n] = '\0';
  assert_int_equal(mgri_fail(&x, MGR_EVALUE, "%s", big), MGR_EVALUE);
  size_t kept = strlen(x.msg);
  assert_true(mgri_utf8_valid(x.msg, kept));
  assert_memory_equal(x.msg, big, kept);
  /* Nothing whole was dropped: the next character would not have fit. */
  assert_true(kept <= sizeof x.msg - 1);
  assert_true(kept + (kept < pad ? 1 : w) > sizeof x.msg - 1);
}

static void test_fail_cut(void **st) {
  (void)st;
  static const char *const chars[] = {"\xc3\xa9", "\xe2\x82\xac",
                                      "\xf0\x9f\x98\x80"};
  /* Every offset of the cut inside every width of code point. */
  for (size_t c = 0; c < 3; c++)
    for (size_t pad = 300; pad < 320; pad++)
      cut_at(pad, chars[c]);
  /* A message that fits is kept whole. */
  mgri_octx x = octx();
  mgri_fail(&x, MGR_EKEY, "KeyError: %s", "\xe2\x82\xac");
  assert_string_equal(x.msg, "KeyError: \xe2\x82\xac");
}

/* LIMIT: the message, cut as any other, and its reason counted for STATS;
 * a reason out of range is not counted anywhere. */
static void test_limit_counts(void **st) {
  (void)st;
  mgri_octx x = octx();
  uint64_t before[MGRI_WHY_N];
  memcpy(before, H.s->st.refused, sizeof before);
  char big[400];
  memset(big, 'z', sizeof big - 1);
  big[sizeof big - 1] = '\0';
  assert_int_equal(mgri_limit(&x, MGRI_WHY_SIZE, "%s", big), MGR_ELIMIT);
  assert_int_equal(strlen(x.msg), sizeof x.msg - 1);
  assert_int_equal(H.s->st.refused[MGRI_WHY_SIZE], before[MGRI_WHY_SIZE] + 1);
  assert_int_equal(mgri_limit(&x, -1, "none"), MGR_ELIMIT);
  assert_int_equal(mgri_limit(&x, MGRI_WHY_N, "none"), MGR_ELIMIT);
  assert_string_equal(x.msg, "none");
  for (int i = 0; i < MGRI_WHY_N; i++)
    assert_int_equal(H.s->st.refused[i],
                     before[i] + (i == MGRI_WHY_SIZE ? 1 : 0));
}

/* More values than the reply frame could carry: LIMIT (reply) at once,
 * nothing allocated; a result that fits is scratch memory. */
static void test_scratch_bound(void **st) {
  (void)st;
  mgri_octx x = octx();
  size_t max = H.s->cfg.limits.frame_max;
  uint64_t before = H.s->st.refused[MGRI_WHY_REPLY];
  size_t held = H.s->scratch.used;
  assert_null(mgri_scratch(&x, max + 1));
  assert_non_null(strstr(x.msg, "exceeds the frame limit"));
  assert_int_equal(H.s->st.refused[MGRI_WHY_REPLY], before + 1);
  assert_int_equal(H.s->scratch.used, held);
  mgr_value *v = mgri_scratch(&x, 3);
  assert_non_null(v);
  v[2] = mgr_int(7); /* ASan: the three are there */
}

/* Python's type name of each value, a ref's by its kind's proxy, and
 * "object" for a type no value has. */
static void test_type_names(void **st) {
  (void)st;
  static const struct {
    mgr_value v;
    const char *name;
  } rows[] = {
      {{.type = MGR_T_NIL}, "NoneType"}, {{.type = MGR_T_BOOL}, "bool"},
      {{.type = MGR_T_INT}, "int"},      {{.type = MGR_T_FLOAT}, "float"},
      {{.type = MGR_T_TEXT}, "str"},     {{.type = MGR_T_BYTES}, "bytes"},
      {{.type = MGR_T_ARRAY}, "list"},   {{.type = MGR_T_MAP}, "dict"},
  };
  for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++)
    assert_string_equal(mgri_tname(&rows[i].v), rows[i].name);
  mgr_value r = {.type = MGR_T_REF};
  r.u.ref.kind = MGRI_KIND_DICT_ID;
  assert_string_equal(mgri_tname(&r), "DictProxy");
  r.u.ref.kind = 0; /* a ref of no kind this server has */
  assert_string_equal(mgri_tname(&r), "BaseProxy");
  mgr_value odd = {.type = (mgr_type)99};
  assert_string_equal(mgri_tname(&odd), "object");
  assert_string_equal(mgri_kind_name(MGRI_KIND_LOCK_ID), "Lock");
  assert_string_equal(mgri_kind_name(0), "object");
  assert_string_equal(mgri_kind_name(MGRI_KIND_MAX + 1), "object");
}

/* The public mgr_kind_name: NULL for any number that is no kind, as
 * documented; the short names the internal tables give otherwise. */
static void test_kind_names(void **st) {
  (void)st;
  assert_null(mgr_kind_name(0));
  assert_null(mgr_kind_name(-1));
  assert_null(mgr_kind_name(MGRI_KIND_MAX + 1));
  for (int k = 1; k <= (int)MGRI_KIND_MAX; k++) {
    assert_non_null(mgr_kind_name(k));
    assert_string_equal(mgr_kind_name(k), mgri_kind_short((uint32_t)k));
  }
  assert_string_equal(mgri_kind_short(0), "ref");
  assert_string_equal(mgri_kind_short(MGRI_KIND_MAX + 1), "ref");
  assert_string_equal(mgri_kind_python(MGRI_KIND_MAX + 1), "object");
  assert_string_equal(mgri_kind_proxy(MGRI_KIND_MAX + 1), "BaseProxy");
  assert_int_equal(mgri_kind_base(MGRI_KIND_RLOCK_ID), MGRI_KIND_LOCK_ID);
  assert_int_equal(mgri_kind_base(MGRI_KIND_DICT_ID), 0);
}

/* A repr longer than the buffer: cut at a code point and "..." appended,
 * within cap; a buffer under 4 bytes gets what mgr_value_repr wrote. */
static void test_repr_short(void **st) {
  (void)st;
  mgr_value s = mgr_text("\xe2\x82\xac\xe2\x82\xac\xe2\x82\xac\xe2\x82\xac");
  char buf[64];
  /* Its repr is 14 bytes: a quote, four 3-byte characters, a quote. */
  assert_string_equal(mgri_repr(&s, buf, 15),
                      "'\xe2\x82\xac\xe2\x82\xac\xe2\x82\xac\xe2\x82\xac'");
  for (size_t cap = 4; cap <= 14; cap++) {
    memset(buf, 0x55, sizeof buf);
    const char *r = mgri_repr(&s, buf, cap);
    assert_ptr_equal(r, buf);
    size_t n = strlen(r);
    assert_true(n < cap);
    assert_true(n >= 3);
    assert_string_equal(r + n - 3, "...");
    assert_true(mgri_utf8_valid(r, n));
    assert_int_equal((unsigned char)buf[cap], 0x55); /* nothing past cap */
  }
  char small[3];
  mgri_repr(&s, small, sizeof small);
  assert_true(memchr(small, '\0', sizeof small) != NULL);
  mgr_value i = mgr_int(12);
  assert_string_equal(mgri_repr(&i, buf, sizeof buf), "12");
}

/* A reply without a message carries its error's text; an OK reply without
 * a result carries None; a store without a reply callback delivers
 * nothing. */
static void test_emit(void **st) {
  (void)st;
  mgri_h_clear(&H);
  assert_true(mgri_emit(H.s, C, 9, MGR_EKEY, NULL, NULL, false));
  assert_true(mgri_emit(H.s, C, 10, MGR_EKEY, NULL, "", false));
  assert_true(mgri_emit(H.s, C, 11, MGR_OK, NULL, NULL, true));
  assert_int_equal(H.nrep, 3);
  assert_int_equal(H.rep[0].rid, 9);
  assert_string_equal(H.rep[0].msg, mgr_strerror(MGR_EKEY));
  assert_string_equal(H.rep[1].msg, mgr_strerror(MGR_EKEY));
  assert_int_equal(H.rep[2].status, MGR_OK);
  assert_int_equal(H.rep[2].result.type, MGR_T_NIL);
  assert_false(H.s->emit_stored);
  mgri_reply_fn keep = H.s->cfg.reply;
  H.s->cfg.reply = NULL;
  assert_false(mgri_emit(H.s, C, 12, MGR_OK, NULL, NULL, false));
  H.s->cfg.reply = keep;
  assert_int_equal(H.nrep, 3);
  mgri_h_clear(&H);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_fail_cut),      cmocka_unit_test(test_limit_counts),
      cmocka_unit_test(test_scratch_bound), cmocka_unit_test(test_type_names),
      cmocka_unit_test(test_kind_names),    cmocka_unit_test(test_repr_short),
      cmocka_unit_test(test_emit),
  };
  return cmocka_run_group_tests(tests, su_setup, su_teardown);
}
