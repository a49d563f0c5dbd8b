/* mgr tests — the spec and the code name the same numbers: every MGRI_*
 * limit of src/common/limits.h is in spec/protocol.md's limits table with its
 * value, every op of ops.h and every error of error.h is in the spec with its
 * code. The header and the spec are parsed as text. */
/* clang-format off */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>
/* clang-format on */

#include <ctype.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/limits.h"
#include "mgr/error.h"
#include "proto/ops.h"
#include "util.h"

static char *spec;     /* spec/protocol.md */
static char *limits_h; /* src/common/limits.h */

static int load(void **state) {
  (void)state;
  spec = tu_read_file(MGR_SOURCE_DIR "/spec/protocol.md", NULL);
  limits_h = tu_read_file(MGR_SOURCE_DIR "/src/common/limits.h", NULL);
  return 0;
}

static int unload(void **state) {
  (void)state;
  free(spec);
  free(limits_h);
  return 0;
}

static bool ident_char(char c) { return isalnum((unsigned char)c) || c == '_'; }

/* Whether the line [p, end) holds word as a whole identifier token. */
static bool has_word(const char *p, const char *end, const char *word) {
  size_t n = strlen(word);
  for (const char *q = p; q + n <= end; q++) {
    if (memcmp(q, word, n)) continue;
    if (q > p && ident_char(q[-1])) continue;
    if (q + n < end && ident_char(q[n])) continue;
    return true;
  }
  return false;
}

/* Whether the line [p, end) holds the number x as a whole decimal token
 * (plain digits, as the spec writes them: 1048576, not 1,048,576). */
static bool has_number(const char *p, const char *end, uint64_t x) {
  char d[32];
  snprintf(d, sizeof d, "%llu", (unsigned long long)x);
  size_t n = strlen(d);
  for (const char *q = p; q + n <= end; q++) {
    if (memcmp(q, d, n)) continue;
    if (q > p && (ident_char(q[-1]) || q[-1] == '.')) continue;
    if (q + n < end && (ident_char(q[n]) || q[n] == '.')) continue;
    return true;
  }
  return false;
}

/* Calls fn on each line of text; stops and returns true when it does. */
static bool any_line(const char *text, const char *from, const char *to,
                     bool (*fn)(const char *, const char *, void *),
                     void *ctx) {
  const char *p = from ? from : text;
  const char *stop = to ? to : text + strlen(text);
  while (p < stop) {
    const char *nl = memchr(p, '\n', (size_t)(stop - p));
    const char *end = nl ? nl : stop;
    if (fn(p, end, ctx)) return true;
    p = end + 1;
  }
  return false;
}

/* ------------------------------------------------------------- limits -- */

/* A tiny evaluator for the constant expressions of limits.h: integers with
 * u/l suffixes, ( ), casts to (size_t)/(uint32_t)..., *, <<, +. Returns false
 * for anything else (a function-like macro's parameters). */
typedef struct ev {
  const char *p;
  bool ok;
} ev;

static void skip_ws(ev *e) {
  while (isspace((unsigned char)*e->p))
    e->p++;
}

static uint64_t ev_sum(ev *e);

static uint64_t ev_primary(ev *e) {
  skip_ws(e);
  if (*e->p == '(') {
    /* A cast: "(size_t)" or "(uint32_t)" followed by a primary. */
    const char *q = e->p + 1;
    while (isspace((unsigned char)*q))
      q++;
    if (isalpha((unsigned char)*q)) {
      const char *w = q;
      while (ident_char(*q))
        q++;
      size_t n = (size_t)(q - w);
      while (isspace((unsigned char)*q))
        q++;
      if (*q == ')' && ((n == 6 && !strncmp(w, "size_t", 6)) ||
                        (n == 8 && !strncmp(w, "uint32_t", 8)) ||
                        (n == 8 && !strncmp(w, "uint64_t", 8)) ||
                        (n == 8 && !strncmp(w, "unsigned", 8)))) {
        e->p = q + 1;
        return ev_primary(e);
      }
      e->ok = false;
      return 0;
    }
    e->p++;
    uint64_t v = ev_sum(e);
    skip_ws(e);
    if (*e->p != ')')
      e->ok = false;
    else
      e->p++;
    return v;
  }
  if (!isdigit((unsigned char)*e->p)) {
    e->ok = false;
    return 0;
  }
  char *end;
  uint64_t v = strtoull(e->p, &end, 0);
  e->p = end;
  while (*e->p == 'u' || *e->p == 'U' || *e->p == 'l' || *e->p == 'L')
    e->p++;
  return v;
}

static uint64_t ev_mul(ev *e) {
  uint64_t v = ev_primary(e);
  for (;;) {
    skip_ws(e);
    if (*e->p == '*') {
      e->p++;
      v *= ev_primary(e);
    } else {
      return v;
    }
  }
}

static uint64_t ev_sum(ev *e) {
  uint64_t v = ev_mul(e);
  for (;;) {
    skip_ws(e);
    if (*e->p == '+') {
      e->p++;
      v += ev_mul(e);
    } else if (e->p[0] == '<' && e->p[1] == '<') {
      e->p += 2;
      v <<= ev_mul(e);
    } else {
      return v;
    }
  }
}

typedef struct limit {
  char name[64];  /* MGRI_FRAME_MAX_DEFAULT, MGRI_OUTBUF_MAX */
  char expr[160]; /* the definition, comment stripped */
  bool func;      /* function-like: MGRI_OUTBUF_MAX(frame_max) */
  bool known;     /* value evaluated */
  uint64_t value;
} limit;

/* Every object-like or function-like #define MGRI_* with a body. */
static size_t parse_limits(limit *out, size_t cap) {
  size_t n = 0;
  char *text = strdup(limits_h);
  assert_non_null(text);
  /* Join continuation lines. */
  for (char *q = text; (q = strstr(q, "\\\n"));) {
    q[0] = ' ';
    q[1] = ' ';
  }
  for (char *line = strtok(text, "\n"); line; line = strtok(NULL, "\n")) {
    char *p = line;
    while (isspace((unsigned char)*p))
      p++;
    if (strncmp(p, "#define", 7)) continue;
    p += 7;
    while (isspace((unsigned char)*p))
      p++;
    if (strncmp(p, "MGRI_", 5)) continue;
    limit l;
    memset(&l, 0, sizeof l);
    size_t k = 0;
    while (ident_char(p[k]) && k + 1 < sizeof l.name) {
      l.name[k] = p[k];
      k++;
    }
    p += k;
    if (*p == '(') {
      l.func = true;
      p = strchr(p, ')');
      assert_non_null(p);
      p++;
    }
    char *c = strstr(p, "/*");
    if (c) *c = 0;
    while (isspace((unsigned char)*p))
      p++;
    size_t m = strlen(p);
    while (m && isspace((unsigned char)p[m - 1]))
      p[--m] = 0;
    if (!m) continue; /* the include guard */
    snprintf(l.expr, sizeof l.expr, "%s", p);
    if (!l.func) {
      ev e = {l.expr, true};
      l.value = ev_sum(&e);
      skip_ws(&e);
      l.known = e.ok && !*e.p;
    }
    assert_true(n < cap);
    out[n++] = l;
  }
  free(text);
  return n;
}

/* The spec's section "Limits": from its heading to the next "## ". */
static void limits_section(const char **from, const char **to) {
  const char *h = strstr(spec, "\n## ");
  *from = NULL;
  while (h) {
    const char *eol = strchr(h + 1, '\n');
    if (eol && strstr(h + 1, "Limits") && strstr(h + 1, "Limits") < eol) {
      *from = eol;
      break;
    }
    h = strstr(h + 1, "\n## ");
  }
  if (!*from) fail_msg("spec/protocol.md has no \"## ... Limits\" section");
  *to = strstr(*from, "\n## ");
  if (!*to) *to = *from + strlen(*from);
}

static bool limit_row(const char *p, const char *end, void *ctx) {
  const limit *l = ctx;
  if (*p != '|' || !has_word(p, end, l->name)) return false;
  if (l->known) return has_number(p, end, l->value);
  /* Not a constant: every integer literal of the definition is in the row
   * (MGRI_OUTBUF_MAX(frame_max) = 4 * frame_max). */
  for (const char *q = l->expr; *q;) {
    if (isdigit((unsigned char)*q) && (q == l->expr || !ident_char(q[-1]))) {
      char *e;
      uint64_t v = strtoull(q, &e, 0);
      if (!has_number(p, end, v)) return false;
      q = e;
    } else {
      q++;
    }
  }
  return true;
}

static void test_limits_table(void **state) {
  (void)state;
  assert_non_null(limits_h);
  if (!spec) fail_msg("spec/protocol.md is missing");
  limit ls[64];
  size_t n = parse_limits(ls, 64);
  assert_true(n >= 10);
  const char *from, *to;
  limits_section(&from, &to);
  size_t bad = 0;
  for (size_t i = 0; i < n; i++) {
    if (!any_line(spec, from, to, limit_row, &ls[i])) {
      if (ls[i].known)
        printf("# limits table: no row with %s = %llu\n", ls[i].name,
               (unsigned long long)ls[i].value);
      else
        printf("# limits table: no row with %s (%s)\n", ls[i].name, ls[i].expr);
      bad++;
    }
  }
  /* The evaluator agrees with the compiler. */
  for (size_t i = 0; i < n; i++) {
#define CHECK_(NAME)                                                           \
  if (!strcmp(ls[i].name, #NAME)) {                                            \
    assert_true(ls[i].known);                                                  \
    assert_int_equal(ls[i].value, (uint64_t)(NAME));                           \
  }
    CHECK_(MGRI_FRAME_HEADER)
    CHECK_(MGRI_FRAME_MAX_DEFAULT)
    CHECK_(MGRI_FRAME_MAX_CEIL)
    CHECK_(MGRI_DEPTH_MAX)
    CHECK_(MGRI_ITEMS_MAX_DEFAULT)
    CHECK_(MGRI_ARGS_MAX)
#undef CHECK_
  }
  assert_int_equal(bad, 0);
}

/* ---------------------------------------------------------- ops, errors -- */

typedef struct named {
  const char *names[3]; /* any of these spellings */
  uint64_t code;
} named;

/* The i-th cell of a table row, trimmed and without backticks, into buf. */
static bool cell(const char *p, const char *end, int i, char *buf, size_t cap) {
  if (*p != '|') return false;
  for (; i > 0; i--) {
    p = memchr(p + 1, '|', (size_t)(end - p - 1));
    if (!p) return false;
  }
  const char *q = memchr(p + 1, '|', (size_t)(end - p - 1));
  if (!q) return false;
  const char *a = p + 1, *b = q;
  while (a < b && (isspace((unsigned char)*a) || *a == '`'))
    a++;
  while (b > a && (isspace((unsigned char)b[-1]) || b[-1] == '`'))
    b--;
  size_t n = (size_t)(b - a);
  if (n >= cap) return false;
  memcpy(buf, a, n);
  buf[n] = 0;
  return true;
}

/* A table row "| code | name | ...": the first cell is the code in decimal,
 * the second one of the names. */
static bool named_row(const char *p, const char *end, void *ctx) {
  const named *x = ctx;
  char c0[32], c1[64], want[32];
  if (!cell(p, end, 0, c0, sizeof c0) || !cell(p, end, 1, c1, sizeof c1))
    return false;
  snprintf(want, sizeof want, "%llu", (unsigned long long)x->code);
  if (strcmp(c0, want)) return false;
  for (int i = 0; i < 3 && x->names[i]; i++)
    if (!strcmp(c1, x->names[i])) return true;
  return false;
}

typedef struct op_check {
  size_t n, bad;
} op_check;

static void check_op(void *ctx, const mgri_opinfo *op) {
  op_check *c = ctx;
  named x = {{op->name, NULL, NULL}, op->code};
  c->n++;
  /* A table row (a line starting with '|'): "| 16 | DICT_GET | ...". */
  if (!any_line(spec, NULL, NULL, named_row, &x)) {
    printf("# spec: no line with op %s and code %u\n", op->name, op->code);
    c->bad++;
  }
}

static void test_ops_in_spec(void **state) {
  (void)state;
  if (!spec) fail_msg("spec/protocol.md is missing");
  op_check c = {0, 0};
  mgri_op_foreach(check_op, &c);
  assert_true(c.n > 40);
  assert_int_equal(c.bad, 0);
}

static void test_errors_in_spec(void **state) {
  (void)state;
  if (!spec) fail_msg("spec/protocol.md is missing");
  size_t n = 0, bad = 0;
  /* A table row with "EKEY", "MGR_EKEY" or "KEY" (spec section 1) and 40. */
#define X_(name, value, py, text)                                              \
  {                                                                            \
    const char *full = "MGR_" #name, *bare = #name;                            \
    const char *short_ = bare[0] == 'E' && bare[1] ? bare + 1 : bare;          \
    named x = {{bare, full, short_}, (uint64_t)(-(value))};                    \
    n++;                                                                       \
    if (!any_line(spec, NULL, NULL, named_row, &x)) {                          \
      printf("# spec: no line with error %s and code %d\n", full, -(value));   \
      bad++;                                                                   \
    }                                                                          \
  }
  MGR_ERRORS(X_)
#undef X_
  assert_true(n > 20);
  assert_int_equal(bad, 0);
}

/* The numbers the README and CONTRIBUTING quote are limits.h's. */
static void test_docs_numbers(void **state) {
  (void)state;
  char *readme = tu_read_file(MGR_SOURCE_DIR "/README.md", NULL);
  char *contrib = tu_read_file(MGR_SOURCE_DIR "/CONTRIBUTING.md", NULL);
  assert_non_null(readme);
  assert_non_null(contrib);
  char want[64];
  assert_int_equal(MGRI_MEMORY_MAX_DEFAULT % (1u << 30), 0);
  snprintf(want, sizeof want, "(%u GiB by default",
           MGRI_MEMORY_MAX_DEFAULT >> 30);
  if (!strstr(readme, want)) fail_msg("README.md lacks '%s'", want);
  assert_int_equal(MGRI_IDLE_BUF_MAX % 1024, 0);
  snprintf(want, sizeof want, "above %u KiB", MGRI_IDLE_BUF_MAX >> 10);
  if (!strstr(readme, want)) fail_msg("README.md lacks '%s'", want);
  snprintf(want, sizeof want, "within %u s",
           MGRI_KEEPALIVE_BOUND_MS_DEFAULT / 1000);
  if (!strstr(readme, want)) fail_msg("README.md lacks '%s'", want);
  snprintf(want, sizeof want, "at most %u KiB across requests",
           MGRI_IDLE_BUF_MAX >> 10);
  if (!strstr(contrib, want)) fail_msg("CONTRIBUTING.md lacks '%s'", want);
  char *man = tu_read_file(MGR_SOURCE_DIR "/man/mgrd.1", NULL);
  assert_non_null(man);
  snprintf(want, sizeof want, "above %u KiB", MGRI_IDLE_BUF_MAX >> 10);
  if (!strstr(man, want)) fail_msg("man/mgrd.1 lacks '%s'", want);
  snprintf(want, sizeof want, "(default %u)", MGRI_HANDSHAKES_MAX_DEFAULT);
  if (!strstr(man, want)) fail_msg("man/mgrd.1 lacks '%s'", want);
  snprintf(want, sizeof want, "(default %u)", MGRI_HANDSHAKE_MS_DEFAULT);
  if (!strstr(man, want)) fail_msg("man/mgrd.1 lacks '%s'", want);
  snprintf(want, sizeof want, "(default %u;", MGRI_SLOW_MS_DEFAULT);
  if (!strstr(man, want)) fail_msg("man/mgrd.1 lacks '%s'", want);
  const unsigned ka[] = {MGRI_KEEPALIVE_IDLE_MS_DEFAULT,
                         MGRI_KEEPALIVE_INTERVAL_MS_DEFAULT,
                         MGRI_KEEPALIVE_COUNT_DEFAULT};
  for (size_t i = 0; i < 3; i++) {
    snprintf(want, sizeof want, "(default %u)", ka[i]);
    if (!strstr(man, want)) fail_msg("man/mgrd.1 lacks '%s'", want);
  }
  assert_int_equal(MGRI_KEEPALIVE_BOUND_MS_DEFAULT % 1000, 0);
  snprintf(want, sizeof want, "within %u seconds",
           MGRI_KEEPALIVE_BOUND_MS_DEFAULT / 1000);
  if (!strstr(man, want)) fail_msg("man/mgrd.1 lacks '%s'", want);
  /* The bound is what the three make (spec 2.7). */
  assert_int_equal(MGRI_KEEPALIVE_BOUND_MS_DEFAULT,
                   MGRI_KEEPALIVE_IDLE_MS_DEFAULT +
                       MGRI_KEEPALIVE_INTERVAL_MS_DEFAULT *
                           MGRI_KEEPALIVE_COUNT_DEFAULT);
  free(man);
  free(readme);
  free(contrib);

  /* The public headers. Each limit or default they quote is written here
   * from limits.h and must appear in its header, read with line breaks and
   * comment leaders (" * ") folded into single spaces. Conversely every
   * number a header writes before a unit of size or count (KiB, MiB, GiB,
   * levels, arguments, operations, ids, connections, milliseconds) or as
   * "default (N" must lie inside one of these phrases: a number added to a
   * header without a check here fails. */
  assert_int_equal(MGRI_FRAME_MAX_DEFAULT % (1u << 20), 0);
  assert_int_equal(MGRI_FRAME_MAX_CEIL % (1u << 20), 0);
  struct {
    const char *header;
    char want[64];
  } ph[32];
  size_t nph = 0;
#define DOC_PHRASE(h, ...)                                                     \
  do {                                                                         \
    assert_true(nph < sizeof ph / sizeof ph[0]);                               \
    ph[nph].header = (h);                                                      \
    snprintf(ph[nph].want, sizeof ph[nph].want, __VA_ARGS__);                  \
    nph++;                                                                     \
  } while (0)
  DOC_PHRASE("client.h", "0 for the default (%u MiB)",
             MGRI_FRAME_MAX_DEFAULT >> 20);
  DOC_PHRASE("client.h", "above %u MiB", MGRI_FRAME_MAX_CEIL >> 20);
  DOC_PHRASE("client.h", "0 for the default (%u GiB)",
             MGRI_MEMORY_MAX_DEFAULT >> 30);
  /* A request's argument sits at depth 3 (request > args > argument), a
   * batched one at depth 6 (spec 9.6.4); the top-level item is depth 1. */
  DOC_PHRASE("client.h", "may nest at most %u levels", MGRI_DEPTH_MAX - 3 + 1);
  DOC_PHRASE("client.h", "nested deeper than %u levels",
             MGRI_DEPTH_MAX - 6 + 1);
  DOC_PHRASE("client.h", "more than %u arguments", MGRI_ARGS_MAX);
  DOC_PHRASE("client.h", "more than %u operations", MGRI_BATCH_MAX);
  DOC_PHRASE("client.h", "longer than %u bytes", MGRI_NAME_MAX);
  DOC_PHRASE("server.h", "0 for the default (%u MiB)",
             MGRI_FRAME_MAX_DEFAULT >> 20);
  DOC_PHRASE("server.h", "At most %u MiB", MGRI_FRAME_MAX_CEIL >> 20);
  DOC_PHRASE("server.h", "0 for the default (%u GiB)",
             MGRI_MEMORY_MAX_DEFAULT >> 30);
  DOC_PHRASE("server.h", "0 for the default (%u)", MGRI_HANDSHAKE_MS_DEFAULT);
  DOC_PHRASE("server.h", "0 for the default (%u)", MGRI_HANDSHAKES_MAX_DEFAULT);
  DOC_PHRASE("server.h", "0 for the default (%u)", MGRI_SLOW_MS_DEFAULT);
  /* TCP keepalive (spec 2.7), in both options structs. */
  DOC_PHRASE("server.h", "0 for the default (%u)",
             MGRI_KEEPALIVE_IDLE_MS_DEFAULT);
  DOC_PHRASE("server.h", "0 for the default (%u)",
             MGRI_KEEPALIVE_INTERVAL_MS_DEFAULT);
  DOC_PHRASE("server.h", "0 for the default (%u)",
             MGRI_KEEPALIVE_COUNT_DEFAULT);
  DOC_PHRASE("server.h", "within %u milliseconds",
             MGRI_KEEPALIVE_BOUND_MS_DEFAULT);
  DOC_PHRASE("client.h", "0 for the default (%u)",
             MGRI_KEEPALIVE_IDLE_MS_DEFAULT);
  DOC_PHRASE("client.h", "0 for the default (%u)",
             MGRI_KEEPALIVE_INTERVAL_MS_DEFAULT);
  DOC_PHRASE("client.h", "0 for the default (%u)",
             MGRI_KEEPALIVE_COUNT_DEFAULT);
#undef DOC_PHRASE
  static const char *const headers[] = {"client.h", "error.h", "mgr.h",
                                        "server.h", "value.h", "version.h"};
  static const char *const units[] = {"KiB",    "MiB",         "GiB",
                                      "levels", "arguments",   "operations",
                                      "ids",    "connections", "milliseconds"};
  for (size_t h = 0; h < sizeof headers / sizeof headers[0]; h++) {
    char path[256];
    snprintf(path, sizeof path, "%s/include/mgr/%s", MGR_SOURCE_DIR,
             headers[h]);
    char *raw = tu_read_file(path, NULL);
    assert_non_null(raw);
    /* Fold: each line break with the next line's indentation and comment
     * leader, and every run of blanks, becomes one space. */
    size_t rn = strlen(raw), n = 0;
    char *t = malloc(rn + 1);
    assert_non_null(t);
    for (size_t i = 0; i < rn; i++) {
      char c = raw[i];
      if (c == '\n') {
        while (i + 1 < rn && (raw[i + 1] == ' ' || raw[i + 1] == '\t'))
          i++;
        if (i + 1 < rn && raw[i + 1] == '*' &&
            !(i + 2 < rn && raw[i + 2] == '/'))
          i++;
        c = ' ';
      }
      if (isspace((unsigned char)c)) {
        if (n && t[n - 1] == ' ') continue;
        c = ' ';
      }
      t[n++] = c;
    }
    t[n] = '\0';
    /* The covered spans: every occurrence of this header's phrases. */
    size_t span[64][2], nspan = 0;
    for (size_t k = 0; k < nph; k++) {
      if (strcmp(ph[k].header, headers[h])) continue;
      size_t len = strlen(ph[k].want);
      bool found = false;
      for (const char *q = strstr(t, ph[k].want); q;
           q = strstr(q + 1, ph[k].want)) {
        found = true;
        assert_true(nspan < sizeof span / sizeof span[0]);
        span[nspan][0] = (size_t)(q - t);
        span[nspan][1] = (size_t)(q - t) + len;
        nspan++;
      }
      if (!found)
        fail_msg("include/mgr/%s lacks '%s' (from limits.h)", headers[h],
                 ph[k].want);
    }
    for (size_t i = 0; i < n; i++) {
      if (!isdigit((unsigned char)t[i])) continue;
      if (i > 0 && (ident_char(t[i - 1]) || t[i - 1] == '.')) continue;
      size_t e = i;
      while (e < n && isdigit((unsigned char)t[e]))
        e++;
      if (e < n && (ident_char(t[e]) || (t[e] == '.' && e + 1 < n &&
                                         isdigit((unsigned char)t[e + 1])))) {
        i = e;
        continue;
      }
      bool quoted = i >= 9 && !strncmp(t + i - 9, "default (", 9);
      size_t w = e < n && t[e] == ' ' ? e + 1 : e;
      for (size_t u = 0; !quoted && u < sizeof units / sizeof units[0]; u++) {
        size_t ul = strlen(units[u]);
        quoted = !strncmp(t + w, units[u], ul) && !ident_char(t[w + ul]);
      }
      bool covered = false;
      for (size_t s = 0; s < nspan && !covered; s++)
        covered = span[s][0] <= i && i < span[s][1];
      if (quoted && !covered) {
        size_t from = i > 16 ? i - 16 : 0, len = n - from < 40 ? n - from : 40;
        fail_msg("include/mgr/%s quotes a number, '...%.*s...', that "
                 "test_docs_numbers does not check against limits.h",
                 headers[h], (int)len, t + from);
      }
      i = e;
    }
    free(t);
    free(raw);
  }
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_docs_numbers),
      cmocka_unit_test(test_limits_table),
      cmocka_unit_test(test_ops_in_spec),
      cmocka_unit_test(test_errors_in_spec),
  };
  return cmocka_run_group_tests(tests, load, unload);
}
