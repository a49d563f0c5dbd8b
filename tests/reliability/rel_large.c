/* mgr reliability — large values without copies, and what the server keeps
 * for them (spec 14.2.3, issue 15):
 *   keep_bound  40 connections each send two large PINGs (a large request
 *               and a large reply each): the second one within
 *               MGRI_KEEP_REQS keeps the connection's buffers, but all kept
 *               bytes together stay within keep_max (memory_max / 8 here),
 *               a connection that sent a single large request keeps
 *               nothing, and after MGRI_KEEP_IDLE_MS without a request
 *               everything is given back (the time it took is measured:
 *               not before the idle time, not long after);
 *   pinned      a large stored value is sent from where it is stored: GETs
 *               whose replies are not read yet, then a SET that replaces
 *               the value, then a GET, all in one write: the first replies
 *               carry the old bytes (its block held for them, counted in
 *               conn_out meanwhile), the last the new; afterwards nothing
 *               stays behind;
 *   adopted     a large VAR_SET's string is read into a block of its own
 *               that becomes the stored value (conn_in holds nothing
 *               afterwards, the object's bytes are the value's); a DICT_SET
 *               of the same shape copies it (read back equal); a large
 *               text with invalid UTF-8 in the middle of its payload is
 *               refused (DECODE) though the decoder never saw the payload
 *               in the frame.
 * Under ASan the forked server checks every block's lifetime too. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>

#include "rel_util.h"

#define NCONN 40
#define BIG 300000 /* a PING's bytes: request and reply over 16 KiB */
#define SLACK ((int64_t)64 << 10)

static rel_server S;

static void fill(char *p, size_t n, int seed) {
  for (size_t i = 0; i < n; i++)
    p[i] = (char)('a' + (i * 7 + (size_t)seed) % 26);
}

static int ping_big(rconn *c, const char *blob) {
  mgri_reply *r = rel_call(c, MGRI_OP_PING, 0, RA(mgr_bytes(blob, BIG)));
  return r && r->status == MGR_OK && r->result.type == MGR_T_BYTES &&
         r->result.u.s.len == BIG && memcmp(r->result.u.s.ptr, blob, BIG) == 0;
}

static void test_keep_bound(void **st) {
  (void)st;
  mgr_server_options o;
  mgr_server_options_init(&o);
  o.max_memory = (size_t)64 << 20; /* keep_max = 8 MiB < 40 x 2 x BIG */
  int64_t keep_max = (int64_t)o.max_memory / 8;
  assert_int_equal(rel_server_start_opts(&S, 0, &o), 0);
  mgr_client *m;
  assert_int_equal(mgr_connect(S.path, NULL, &m), MGR_OK);
  mgr_set_timeout(m, REL_WAIT_MS);
  rel_stats s0, s1, s2, s3;
  assert_int_equal(rel_stats_read(m, &s0), MGR_OK);
  int64_t idle_bound = (int64_t)(NCONN + 1) * 3 * MGRI_IDLE_BUF_MAX +
                       rel_stats_buffers(&s0) + SLACK;

  static char blob[BIG];
  fill(blob, BIG, 1);
  /* One large request each: nothing kept. */
  static rconn *cs[NCONN];
  long ok = 0;
  for (int i = 0; i < NCONN; i++) {
    cs[i] = rel_open(S.path, 0);
    assert_non_null(cs[i]);
    ok += ping_big(cs[i], blob);
  }
  assert_int_equal(ok, NCONN);
  assert_int_equal(rel_stats_read(m, &s1), MGR_OK);
  assert_true(rel_stats_buffers(&s1) <= idle_bound);
  /* A second one each: kept, within keep_max in all (so the first ones
   * are kept, the last ones not). The first is sent after `first`: its
   * idle time cannot start before; the last before `last`. */
  double first = rel_now();
  for (int i = 0; i < NCONN; i++)
    ok += ping_big(cs[i], blob);
  double last = rel_now();
  assert_int_equal(ok, 2 * NCONN);
  assert_int_equal(rel_stats_read(m, &s2), MGR_OK);
  int64_t kept = rel_stats_buffers(&s2);
  assert_true(kept > idle_bound + BIG);       /* the policy keeps */
  assert_true(kept <= idle_bound + keep_max); /* within the bound */
  /* Idle: given back once MGRI_KEEP_IDLE_MS passed (the server's own
   * deadline; STATS only looks, on its own connection). */
  double done = 0;
  while (rel_now() - last < MGRI_KEEP_IDLE_MS / 1000.0 + 10) {
    assert_int_equal(rel_stats_read(m, &s3), MGR_OK);
    if (rel_stats_buffers(&s3) <= idle_bound) {
      done = rel_now();
      break;
    }
    struct timespec ts = {0, 20 * 1000000};
    nanosleep(&ts, NULL); /* polling a timer's effect, not synchronising */
  }
  char extra[256];
  snprintf(extra, sizeof extra,
           "one_each=%lld two_each=%lld keep_max=%lld idle_bound=%lld "
           "given_back_ms_after_first=%.0f after_last=%.0f",
           (long long)rel_stats_buffers(&s1), (long long)kept,
           (long long)keep_max, (long long)idle_bound, (done - first) * 1000,
           (done - last) * 1000);
  rel_report("large_keep_bound", NCONN + 1, 0, 2 * NCONN, 0, extra);
  assert_true(done > 0);
  assert_true(done - first >= MGRI_KEEP_IDLE_MS / 1000.0);
  for (int i = 0; i < NCONN; i++)
    rel_conn_free(cs[i]);
  mgr_close(m);
  assert_int_equal(rel_server_stop(&S), 0);
}

static void test_pinned(void **st) {
  (void)st;
  assert_int_equal(rel_server_start(&S, 0), 0);
  mgr_client *m;
  assert_int_equal(mgr_connect(S.path, NULL, &m), MGR_OK);
  mgr_set_timeout(m, REL_WAIT_MS);
  static char a[500000], b[500000];
  fill(a, sizeof a, 1);
  fill(b, sizeof b, 2);
  rconn *c = rel_open(S.path, 0);
  assert_non_null(c);
  mgr_value init = mgr_bytes(a, sizeof a);
  uint64_t v = rel_create(c, MGR_K_VAR, &init);
  assert_true(v > 0);
  rel_stats s0, s1, s2;
  assert_int_equal(rel_stats_read(m, &s0), MGR_OK);
  /* Four GETs (more than the socket takes at once), the SET, a GET. */
  mgri_buf w;
  mgri_buf_init(&w, 0);
  for (uint64_t i = 1; i <= 4; i++)
    assert_int_equal(rel_encode(&w, 100 + i, MGRI_OP_VAR_GET, v, RA0), MGR_OK);
  assert_int_equal(
      rel_encode(&w, 105, MGRI_OP_VAR_SET, v, RA(mgr_bytes(b, sizeof b))),
      MGR_OK);
  assert_int_equal(rel_encode(&w, 106, MGRI_OP_VAR_GET, v, RA0), MGR_OK);
  assert_int_equal(rel_write_all(c->fd, w.data, w.len), 0);
  mgri_buf_fini(&w);
  /* The SET has run (a call on another connection comes after it: one
   * loop, requests in order of arrival once read), the old value's block
   * waits for the unsent replies. */
  assert_int_equal(mgr_ping(m), MGR_OK);
  assert_int_equal(rel_stats_read(m, &s1), MGR_OK);
  int ok = 0;
  for (int i = 1; i <= 6; i++) {
    assert_int_equal(rel_next_reply(c, REL_WAIT_MS), 1);
    assert_int_equal(c->rep.rid, 100 + (uint64_t)i);
    assert_int_equal(c->rep.status, MGR_OK);
    if (i == 5) {
      ok += c->rep.result.type == MGR_T_NIL;
      continue;
    }
    const char *want = i < 5 ? a : b;
    ok += c->rep.result.type == MGR_T_BYTES &&
          c->rep.result.u.s.len == sizeof a &&
          memcmp(c->rep.result.u.s.ptr, want, sizeof a) == 0;
  }
  assert_int_equal(rel_stats_read(m, &s2), MGR_OK);
  char extra[200];
  snprintf(extra, sizeof extra,
           "conn_out_before=%lld conn_out_pending=%lld conn_out_after=%lld "
           "objects_before=%lld objects_after=%lld",
           (long long)s0.conn_out, (long long)s1.conn_out,
           (long long)s2.conn_out, (long long)s0.objects,
           (long long)s2.objects);
  rel_report("large_pinned", 2, 0, 6, 6 - ok, extra);
  assert_int_equal(ok, 6);
  /* Not sent yet: the replaced block is the replies', counted as output
   * (whether the SET copied in place or not, one of the two values is
   * outside the object). */
  assert_true(s1.conn_out >= (int64_t)sizeof a ||
              s1.objects >= s0.objects + (int64_t)sizeof a);
  /* Everything sent: the object holds one value; the connection may keep
   * its output buffer (it moved large values), and once it is closed
   * nothing is left in conn_out (the pinned block went with the last
   * reply that referred to it). */
  assert_true(s2.objects <= s0.objects + SLACK);
  assert_true(s2.conn_out <= s0.conn_out + (int64_t)sizeof a + SLACK);
  rel_conn_free(c);
  rel_stats s3;
  double t0 = rel_now();
  do
    assert_int_equal(rel_stats_read(m, &s3), MGR_OK);
  /* Its close is seen, and its buffers freed: a connection dropped in
   * one turn of the loop is freed at the end of that turn, so a STATS
   * read in the same turn may see it gone from `open` but its buffers
   * still counted. */
  while ((s3.open > 1 || s3.conn_out > s0.conn_out + SLACK) &&
         rel_now() - t0 < 10);
  assert_int_equal(s3.open, 1);
  assert_true(s3.conn_out <= s0.conn_out + SLACK);
  mgr_close(m);
  assert_int_equal(rel_server_stop(&S), 0);
}

static void test_adopted(void **st) {
  (void)st;
  assert_int_equal(rel_server_start(&S, 0), 0);
  mgr_client *m;
  assert_int_equal(mgr_connect(S.path, NULL, &m), MGR_OK);
  mgr_set_timeout(m, REL_WAIT_MS);
  rconn *c = rel_open(S.path, 0);
  assert_non_null(c);
  mgr_value nil = mgr_nil();
  uint64_t v = rel_create(c, MGR_K_VAR, &nil);
  uint64_t d = rel_create(c, MGR_K_DICT, NULL);
  assert_true(v > 0 && d > 0);
  static char t[400000];
  fill(t, sizeof t, 3);
  rel_stats s0, s1;
  assert_int_equal(rel_stats_read(m, &s0), MGR_OK);
  mgri_reply *r = rel_call(c, MGRI_OP_VAR_SET, v, RA(mgr_textn(t, sizeof t)));
  assert_non_null(r);
  assert_int_equal(r->status, MGR_OK);
  r = rel_call(c, MGRI_OP_DICT_SET, d,
               RA(mgr_text("k"), mgr_textn(t, sizeof t)));
  assert_non_null(r);
  assert_int_equal(r->status, MGR_OK);
  assert_int_equal(rel_stats_read(m, &s1), MGR_OK);
  r = rel_call(c, MGRI_OP_VAR_GET, v, RA0);
  assert_true(r && r->status == MGR_OK && r->result.type == MGR_T_TEXT &&
              r->result.u.s.len == sizeof t &&
              memcmp(r->result.u.s.ptr, t, sizeof t) == 0);
  r = rel_call(c, MGRI_OP_DICT_GET, d, RA(mgr_text("k")));
  assert_true(r && r->status == MGR_OK && r->result.type == MGR_T_TEXT &&
              r->result.u.s.len == sizeof t &&
              memcmp(r->result.u.s.ptr, t, sizeof t) == 0);
  /* Invalid UTF-8 deep inside a large text: the frame, cut around its
   * payload, is refused all the same, and the connection closed. */
  t[250000] = (char)0xff;
  mgri_buf w;
  mgri_buf_init(&w, 0);
  /* Encoded as bytes, then the major type flipped to text by hand (the
   * encoder refuses invalid text). */
  assert_int_equal(
      rel_encode(&w, 9, MGRI_OP_VAR_SET, v, RA(mgr_bytes(t, sizeof t))),
      MGR_OK);
  uint8_t *h = memchr(w.data + 4, 0x5a, 16);
  assert_non_null(h);
  *h = 0x7a;
  assert_int_equal(rel_write_all(c->fd, w.data, w.len), 0);
  mgri_buf_fini(&w);
  assert_int_equal(rel_next_reply(c, REL_WAIT_MS), 1);
  int bad = c->rep.status;
  rel_stats s2;
  assert_int_equal(rel_stats_read(m, &s2), MGR_OK);
  char extra[200];
  snprintf(extra, sizeof extra,
           "objects_growth=%lld conn_in=%lld conn_in_after_bad=%lld bad=%s",
           (long long)(s1.objects - s0.objects), (long long)s1.conn_in,
           (long long)s2.conn_in, mgr_err_name(bad));
  rel_report("large_adopted", 2, 1, 5, 0, extra);
  assert_int_equal(bad, MGR_EDECODE);
  /* Two copies of the text are stored (var and dict), nothing kept in
   * conn_in once the requests were served. */
  assert_true(s1.objects - s0.objects >= 2 * (int64_t)sizeof t);
  assert_true(s1.objects - s0.objects <= 2 * (int64_t)sizeof t + SLACK);
  assert_true(s1.conn_in <= s0.conn_in + 2 * MGRI_IDLE_BUF_MAX);
  assert_true(s2.conn_in <= s0.conn_in + 2 * MGRI_IDLE_BUF_MAX);
  rel_conn_free(c);
  mgr_close(m);
  assert_int_equal(rel_server_stop(&S), 0);
}

int main(void) {
  signal(SIGPIPE, SIG_IGN);
  alarm(110);
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_keep_bound),
      cmocka_unit_test(test_pinned),
      cmocka_unit_test(test_adopted),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
