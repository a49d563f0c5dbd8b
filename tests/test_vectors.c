/* mgr tests — runs every vector in the spec/vectors .txt files (format:
 * that directory's README.md): values through the CBOR codec, requests and
 * replies through the message codec, streams through the frame reader (whole,
 * byte by byte, split at every point). Fails when the directory holds none. */
/* clang-format off */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>
/* clang-format on */

#include <ctype.h>
#include <dirent.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mgr/error.h"
#include "proto/proto.h"
#include "util.h"

#define VEC_DIR MGR_SOURCE_DIR "/spec/vectors"

typedef struct vec {
  char file[128];
  int line;
  char name[160];
  char kind[16];
  char *hex; /* concatenated hex lines, malloc'd */
  char expect[64];
  char diag[8], rule[8]; /* only presence is checked */
  char rid[32], op[48], oid[32], nargs[16], status[32], frames[16];
} vec;

typedef struct vecs {
  vec *v;
  size_t n, cap;
} vecs;

static vecs all;

/* ---------------------------------------------------------------- parse -- */

static void trim(char *s) {
  size_t n = strlen(s);
  while (n && isspace((unsigned char)s[n - 1]))
    s[--n] = 0;
  size_t i = 0;
  while (isspace((unsigned char)s[i]))
    i++;
  memmove(s, s + i, n - i + 1);
}

static void set(char *dst, size_t cap, const char *src, const vec *v) {
  if (strlen(src) >= cap)
    fail_msg("%s:%d: value too long: %s", v->file, v->line, src);
  strcpy(dst, src);
}

static void add_hex(vec *v, const char *h) {
  size_t old = v->hex ? strlen(v->hex) : 0, n = strlen(h);
  char *p = realloc(v->hex, old + n + 2);
  assert_non_null(p);
  if (old) p[old++] = ' ';
  memcpy(p + old, h, n + 1);
  v->hex = p;
}

static void push(vec *cur) {
  if (!cur->name[0] && !cur->kind[0] && !cur->hex) return;
  if (all.n == all.cap) {
    all.cap = all.cap ? 2 * all.cap : 64;
    all.v = realloc(all.v, all.cap * sizeof *all.v);
    assert_non_null(all.v);
  }
  all.v[all.n++] = *cur;
}

static void parse_file(const char *path, const char *base) {
  char *text = tu_read_file(path, NULL);
  if (!text) fail_msg("cannot read %s", path);
  vec cur;
  memset(&cur, 0, sizeof cur);
  int lineno = 0;
  /* strtok_r skips empty lines, so walk lines by hand. */
  char *p = text;
  while (*p) {
    char *nl = strchr(p, '\n');
    if (nl) *nl = 0;
    char line[4096];
    lineno++;
    if (strlen(p) >= sizeof line)
      fail_msg("%s:%d: line too long", base, lineno);
    strcpy(line, p);
    p = nl ? nl + 1 : p + strlen(p);
    trim(line);
    if (line[0] == '#') continue;
    if (!line[0]) {
      push(&cur);
      memset(&cur, 0, sizeof cur);
      continue;
    }
    if (!cur.name[0] && !cur.kind[0] && !cur.hex) {
      snprintf(cur.file, sizeof cur.file, "%s", base);
      cur.line = lineno;
    }
    char *colon = strchr(line, ':');
    if (!colon) fail_msg("%s:%d: not a key: value line", base, lineno);
    *colon = 0;
    char *key = line, *val = colon + 1;
    trim(key);
    trim(val);
    if (!strcmp(key, "name"))
      set(cur.name, sizeof cur.name, val, &cur);
    else if (!strcmp(key, "kind"))
      set(cur.kind, sizeof cur.kind, val, &cur);
    else if (!strcmp(key, "hex"))
      add_hex(&cur, val);
    else if (!strcmp(key, "expect"))
      set(cur.expect, sizeof cur.expect, val, &cur);
    else if (!strcmp(key, "diag"))
      strcpy(cur.diag, "y");
    else if (!strcmp(key, "rule"))
      strcpy(cur.rule, "y");
    else if (!strcmp(key, "rid"))
      set(cur.rid, sizeof cur.rid, val, &cur);
    else if (!strcmp(key, "op"))
      set(cur.op, sizeof cur.op, val, &cur);
    else if (!strcmp(key, "oid"))
      set(cur.oid, sizeof cur.oid, val, &cur);
    else if (!strcmp(key, "nargs"))
      set(cur.nargs, sizeof cur.nargs, val, &cur);
    else if (!strcmp(key, "status"))
      set(cur.status, sizeof cur.status, val, &cur);
    else if (!strcmp(key, "frames"))
      set(cur.frames, sizeof cur.frames, val, &cur);
    else if (!strcmp(key, "meaning"))
      continue;
    else
      fail_msg("%s:%d: unknown key '%s'", base, lineno, key);
  }
  push(&cur);
  free(text);
}

static int cmp_name(const void *a, const void *b) {
  return strcmp(*(char *const *)a, *(char *const *)b);
}

static void load(void) {
  DIR *d = opendir(VEC_DIR);
  if (!d) fail_msg("cannot open %s", VEC_DIR);
  char *names[256];
  size_t nfiles = 0;
  struct dirent *e;
  while ((e = readdir(d)) && nfiles < 256) {
    size_t n = strlen(e->d_name);
    if (n > 4 && !strcmp(e->d_name + n - 4, ".txt"))
      names[nfiles++] = strdup(e->d_name);
  }
  closedir(d);
  qsort(names, nfiles, sizeof *names, cmp_name);
  for (size_t i = 0; i < nfiles; i++) {
    char path[1024];
    snprintf(path, sizeof path, "%s/%s", VEC_DIR, names[i]);
    parse_file(path, names[i]);
    free(names[i]);
  }
}

static int unload(void **state) {
  (void)state;
  for (size_t i = 0; i < all.n; i++)
    free(all.v[i].hex);
  free(all.v);
  memset(&all, 0, sizeof all);
  return 0;
}

/* Every vector is run; each failure is printed, and the test fails at the
 * end with their count. */
static size_t failures;

#define BAD(v, ...)                                                            \
  do {                                                                         \
    printf("FAIL %s (%s:%d): ", (v)->name, (v)->file, (v)->line);              \
    printf(__VA_ARGS__);                                                       \
    printf("\n");                                                              \
    failures++;                                                                \
  } while (0)

/* "MGR_EDECODE @12" -> code and offset; "ok" -> 0. False if malformed. */
static bool parse_expect(const vec *v, int *code, uint64_t *off) {
  *code = 0;
  *off = 0;
  if (!strcmp(v->expect, "ok")) return true;
  char name[48];
  unsigned long long o;
  if (sscanf(v->expect, "%47s @%llu", name, &o) != 2) {
    BAD(v, "bad expect '%s'", v->expect);
    return false;
  }
  *off = o;
#define X_(nm, value, py, text)                                                \
  if (!strcmp(name, "MGR_" #nm)) *code = value;
  MGR_ERRORS(X_)
#undef X_
  if (*code == 0) {
    BAD(v, "unknown error name '%s'", name);
    return false;
  }
  return true;
}

/* A decimal field, or false (and a failure) when it is not one. */
static bool num(const vec *v, const char *s, uint64_t *out) {
  char *end;
  *out = strtoull(s, &end, 0);
  if (!*s || *end) {
    BAD(v, "not a number: '%s'", s);
    return false;
  }
  return true;
}

static void field(const vec *v, const char *key, const char *want,
                  uint64_t got) {
  uint64_t x;
  if (!want[0] || !num(v, want, &x)) return;
  if (x != got)
    BAD(v, "%s is %llu, want %llu", key, (unsigned long long)got,
        (unsigned long long)x);
}

/* ------------------------------------------------------------- checking -- */

static void check_bytes(const vec *v, const mgri_buf *b, size_t skip,
                        const uint8_t *p, size_t n) {
  if (b->len - skip == n && !memcmp(b->data + skip, p, n)) return;
  BAD(v, "re-encoded to %zu bytes, not the vector's %zu:", b->len - skip, n);
  for (size_t i = skip; i < b->len; i++)
    printf(" %02x", b->data[i]);
  printf("\n");
}

static bool check_err(const vec *v, int rc, const mgri_decode_error *e,
                      int code, uint64_t off) {
  if (rc == code && (!code || e->offset == off)) return true;
  BAD(v, "got %s @%zu (%s), want %s", mgr_err_name(rc), e->offset,
      e->what ? e->what : "-", v->expect);
  return false;
}

static void run_value(const vec *v, const uint8_t *p, size_t n, int code,
                      uint64_t off, mgri_arena *a, mgri_buf *b) {
  mgr_value val;
  mgri_decode_error e = {0, 0, NULL};
  int rc = mgri_cbor_decode(p, n, NULL, a, &val, &e);
  if (!check_err(v, rc, &e, code, off) || rc) return;
  if ((rc = mgri_cbor_value(b, &val)) != MGR_OK)
    BAD(v, "re-encoding fails: %s", mgr_err_name(rc));
  else
    check_bytes(v, b, 0, p, n);
}

static void run_request(const vec *v, const uint8_t *p, size_t n, int code,
                        uint64_t off, mgri_arena *a, mgri_buf *b) {
  mgri_request r;
  mgri_decode_error e = {0, 0, NULL};
  int rc = mgri_request_decode(p, n, NULL, a, &r, &e);
  if (!check_err(v, rc, &e, code, off)) return;
  if (rc) {
    /* The rid the server's error reply echoes (spec 3.5), if given. */
    field(v, "rid", v->rid, r.rid);
    return;
  }
  field(v, "rid", v->rid, r.rid);
  if (v->op[0]) {
    if (isdigit((unsigned char)v->op[0])) {
      field(v, "op", v->op, r.op);
    } else {
      const mgri_opinfo *op = mgri_op_info(r.op);
      if (!op || strcmp(op->name, v->op))
        BAD(v, "op %llu is %s, want %s", (unsigned long long)r.op,
            mgri_op_name(r.op), v->op);
    }
  }
  field(v, "oid", v->oid, r.oid);
  field(v, "nargs", v->nargs, r.nargs);
  if ((rc = mgri_request_encode(b, &r, 0)) != MGR_OK)
    BAD(v, "re-encoding fails: %s", mgr_err_name(rc));
  else
    check_bytes(v, b, MGRI_FRAME_HEADER, p, n);
}

static void run_reply(const vec *v, const uint8_t *p, size_t n, int code,
                      uint64_t off, mgri_arena *a, mgri_buf *b) {
  mgri_reply r;
  mgri_decode_error e = {0, 0, NULL};
  int rc = mgri_reply_decode(p, n, NULL, a, &r, &e);
  if (!check_err(v, rc, &e, code, off) || rc) return;
  field(v, "rid", v->rid, r.rid);
  if (v->status[0] && strcmp(mgr_err_name(r.status), v->status))
    BAD(v, "status %s, want %s", mgr_err_name(r.status), v->status);
  /* A reply with an unknown code decodes as MGR_EUNKNOWN, which cannot be
   * sent (spec 6.2: not re-encodable). */
  if (r.status == MGR_EUNKNOWN) return;
  if ((rc = mgri_reply_encode(b, &r, 0)) != MGR_OK)
    BAD(v, "re-encoding fails: %s", mgr_err_name(rc));
  else
    check_bytes(v, b, MGRI_FRAME_HEADER, p, n);
}

/* Feeds p in the pieces cut at cuts[], taking frames as they come; returns
 * the number of whole frames and the error (0 if none) with its offset. */
static size_t feed_stream(const uint8_t *p, size_t n, const size_t *cuts,
                          size_t ncuts, int *err, uint64_t *off) {
  mgri_reader r;
  mgri_reader_init(&r, MGRI_FRAME_MAX_DEFAULT); /* spec 16 */
  size_t frames = 0, prev = 0;
  *err = 0;
  for (size_t c = 0; c <= ncuts && !*err; c++) {
    size_t end = c < ncuts ? cuts[c] : n;
    int rc = mgri_reader_feed(&r, p + prev, end - prev);
    assert_true(rc == MGR_OK || rc == r.err);
    prev = end;
    const uint8_t *body;
    size_t len;
    while ((rc = mgri_reader_next(&r, &body, &len)) == 1)
      frames++;
    if (rc < 0) {
      *err = rc;
      *off = r.err_offset;
      assert_non_null(strstr(r.errmsg, "offset"));
    }
  }
  mgri_reader_fini(&r);
  return frames;
}

static void run_frame(const vec *v, const uint8_t *p, size_t n, int code,
                      uint64_t off) {
  int err;
  uint64_t at = 0, want = UINT64_MAX;
  if (v->frames[0] && !num(v, v->frames, &want)) return;
  size_t *cuts = malloc((n + 1) * sizeof *cuts);
  assert_non_null(cuts);
  /* Whole, byte by byte, then split at every single point. */
  for (size_t mode = 0; mode < n + 3; mode++) {
    size_t nc = 0;
    char how[48];
    if (mode == 0) {
      snprintf(how, sizeof how, "whole");
    } else if (mode == 1) {
      snprintf(how, sizeof how, "byte by byte");
      for (size_t i = 1; i < n; i++)
        cuts[nc++] = i;
    } else {
      snprintf(how, sizeof how, "split at %zu", mode - 2);
      cuts[nc++] = mode - 2;
    }
    size_t got = feed_stream(p, n, cuts, nc, &err, &at);
    if (err != code || (code && at != off) ||
        (want != UINT64_MAX && got != want)) {
      BAD(v, "%s: %zu frames, %s @%llu; want %s, frames %s", how, got,
          mgr_err_name(err), (unsigned long long)at, v->expect,
          v->frames[0] ? v->frames : "-");
      break;
    }
  }
  free(cuts);
}

static void test_vectors(void **state) {
  (void)state;
  load();
  if (all.n == 0) fail_msg("no vectors in %s", VEC_DIR);
  size_t counts[4] = {0}, rejects = 0;
  failures = 0;
  mgri_arena a;
  mgri_buf b;
  mgri_arena_init(&a, 0);
  mgri_buf_init(&b, 0);
  for (size_t i = 0; i < all.n; i++) {
    const vec *v = &all.v[i];
    if (!v->name[0]) {
      BAD(v, "a vector without a name");
      continue;
    }
    if (!v->kind[0] || !v->hex || !v->expect[0]) {
      BAD(v, "kind, hex and expect are required");
      continue;
    }
    for (size_t j = 0; j < i; j++)
      if (!strcmp(all.v[j].name, v->name))
        BAD(v, "name already used at %s:%d", all.v[j].file, all.v[j].line);
    int code;
    uint64_t off;
    if (!parse_expect(v, &code, &off)) continue;
    if (code && !v->rule[0]) BAD(v, "a rejection needs a rule");
    if (!code && strcmp(v->kind, "frame") && !v->diag[0])
      BAD(v, "an accepted item needs a diag");
    if (code) rejects++;
    uint8_t *p;
    size_t n = tu_unhex(v->hex, &p);
    if (n == (size_t)-1) {
      BAD(v, "bad hex");
      continue;
    }
    mgri_arena_reset(&a);
    mgri_buf_clear(&b);
    if (!strcmp(v->kind, "value")) {
      counts[0]++;
      run_value(v, p, n, code, off, &a, &b);
    } else if (!strcmp(v->kind, "request")) {
      counts[1]++;
      run_request(v, p, n, code, off, &a, &b);
    } else if (!strcmp(v->kind, "reply")) {
      counts[2]++;
      run_reply(v, p, n, code, off, &a, &b);
    } else if (!strcmp(v->kind, "frame")) {
      counts[3]++;
      run_frame(v, p, n, code, off);
    } else {
      BAD(v, "unknown kind '%s'", v->kind);
    }
    free(p);
  }
  mgri_buf_fini(&b);
  mgri_arena_fini(&a);
  printf("# %zu vectors: %zu value, %zu request, %zu reply, %zu frame; %zu "
         "rejections; %zu failures\n",
         all.n, counts[0], counts[1], counts[2], counts[3], rejects, failures);
  if (failures) fail_msg("%zu vector failures", failures);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_vectors),
  };
  return cmocka_run_group_tests(tests, NULL, unload);
}
