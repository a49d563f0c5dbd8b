/* mgr reliability 5 — a client that never reads its replies. It pipelines
 * PINGs carrying 64 KiB each (each reply as large) with non-blocking writes,
 * up to 200 MB, until its writes stay blocked (the server stopped reading it
 * once its unsent replies passed MGRI_OUTBUF_MAX). The server's RSS stays
 * bounded meanwhile, another client is unaffected, and when the client
 * finally reads, every request it sent is answered, in order. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>

#include "rel_util.h"

#define PAYLOAD (64u << 10)
#define WANT_BYTES (200ull << 20)
#define STALL_MS                                                               \
  1500 /* writes blocked this long = the server stopped reading */

static rel_server S;

static void test_noread(void **st) {
  (void)st;
  assert_int_equal(rel_server_start(&S, 0), 0);
  mgr_client *m;
  assert_int_equal(mgr_connect(S.path, NULL, &m), MGR_OK);
  mgr_set_timeout(m, 5000);
  mgr_proxy *v;
  mgr_value zero = mgr_int(0);
  assert_int_equal(mgr_var_new(m, &zero, &v), MGR_OK);
  long rss0 = rel_rss_kb(S.pid);

  rconn *c = rel_open(S.path, 0);
  assert_non_null(c);
  assert_int_equal(fcntl(c->fd, F_SETFL, fcntl(c->fd, F_GETFL) | O_NONBLOCK),
                   0);
  uint8_t *payload = malloc(PAYLOAD);
  assert_non_null(payload);
  for (size_t i = 0; i < PAYLOAD; i++)
    payload[i] = (uint8_t)(i * 7);

  mgri_buf fr;
  mgri_buf_init(&fr, 0);
  uint64_t frames = 0; /* whole frames written */
  size_t off = 0;      /* bytes of the current frame written */
  unsigned long long written = 0;
  int stalled = 0;
  double t0 = rel_now();
  while (written < WANT_BYTES) {
    if (off == 0) {
      mgri_buf_fini(&fr);
      mgri_buf_init(&fr, 0);
      assert_int_equal(rel_encode(&fr, frames + 1, MGRI_OP_PING, 0,
                                  RA(mgr_bytes(payload, PAYLOAD))),
                       MGR_OK);
    }
    ssize_t w = send(c->fd, fr.data + off, fr.len - off, MSG_NOSIGNAL);
    if (w < 0 && errno == EINTR) continue;
    if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
      struct pollfd pf = {.fd = c->fd, .events = POLLOUT};
      int pr = poll(&pf, 1, STALL_MS);
      if (pr == 0) {
        stalled = 1;
        break;
      }
      continue;
    }
    if (w <= 0) fail_msg("write: %s", strerror(errno));
    off += (size_t)w;
    written += (unsigned long long)w;
    if (off == fr.len) {
      frames++;
      off = 0;
    }
  }
  double t_write = rel_now() - t0;
  long rss_stalled = rel_rss_kb(S.pid);

  /* Another client is unaffected while the first one is stalled. */
  long good = 0;
  for (int i = 0; i < 500; i++) {
    int64_t got;
    int rc = mgr_var_incr_int(v, 1, &got);
    if (rc != MGR_OK) fail_msg("good client call %d: %s", i, mgr_err_name(rc));
    assert_int_equal(got, i + 1);
    good++;
  }
  long rss_after_good = rel_rss_kb(S.pid);

  /* Now read everything: each request is answered, in order, intact; the
   * frame cut short by the stall is completed as the server drains. */
  uint64_t total = frames + (off ? 1 : 0), replies = 0, bad = 0;
  while (replies < total) {
    struct pollfd pf = {.fd = c->fd, .events = POLLIN | (off ? POLLOUT : 0)};
    int pr = poll(&pf, 1, REL_WAIT_MS);
    if (pr < 0 && errno == EINTR) continue;
    if (pr == 0)
      fail_msg("drain stalled at %llu/%llu replies",
               (unsigned long long)replies, (unsigned long long)total);
    if (off && (pf.revents & POLLOUT)) {
      ssize_t w = send(c->fd, fr.data + off, fr.len - off, MSG_NOSIGNAL);
      if (w > 0) {
        off += (size_t)w;
        written += (unsigned long long)w;
        if (off == fr.len) off = 0;
      }
    }
    if (pf.revents & (POLLIN | POLLHUP)) {
      int r = rel_next_reply(c, REL_WAIT_MS);
      if (r != 1) fail_msg("reply %llu: %d", (unsigned long long)replies, r);
      replies++;
      if (c->rep.rid != replies || c->rep.status != MGR_OK ||
          c->rep.result.type != MGR_T_BYTES ||
          c->rep.result.u.s.len != PAYLOAD ||
          memcmp(c->rep.result.u.s.ptr, payload, PAYLOAD) != 0)
        bad++;
    }
  }
  long rss_end = rel_rss_kb(S.pid);
  long bound_kb = REL_ASAN ? 96 * 1024 : 32 * 1024;
  char extra[300];
  snprintf(extra, sizeof extra,
           "bytes_written=%llu requests=%llu stalled=%d write_seconds=%.2f "
           "good_ops=%ld "
           "bad_replies=%llu rss_kb=%ld->%ld->%ld->%ld bound_kb=%ld",
           written, (unsigned long long)total, stalled, t_write, good,
           (unsigned long long)bad, rss0, rss_stalled, rss_after_good, rss_end,
           bound_kb);
  rel_report("noread", 2, 1, (long)(total + (uint64_t)good),
             (long)(total - replies), extra);
  assert_true(stalled);
  assert_true(written < WANT_BYTES);
  assert_int_equal(bad, 0);
  assert_true(rss_stalled - rss0 < bound_kb);
  assert_true(rss_after_good - rss0 < bound_kb);
  mgri_buf_fini(&fr);
  free(payload);
  rel_conn_free(c);
  mgr_release(v);
  mgr_close(m);
  assert_int_equal(rel_server_stop(&S), 0);
}

int main(void) {
  signal(SIGPIPE, SIG_IGN);
  alarm(110);
  const struct CMUnitTest tests[] = {cmocka_unit_test(test_noread)};
  return cmocka_run_group_tests_name("reliability_noread", tests, NULL, NULL);
}
