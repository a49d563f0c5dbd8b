/* mgr tests — the client's authkey (spec 2.8) as mgr_connect() and
 * mgr_start() take it: from the options (32 to 1024 bytes, never a length
 * without the bytes), from $MGR_AUTHKEY_FILE, then from $MGR_AUTHKEY (its
 * length checked as the options'), for tcp:// only; each refusal
 * MGR_EINVAL with its reason, before any connection; the right key
 * connects and a wrong one is refused by the manager (MGR_EPERM). */
/* clang-format off */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>
/* clang-format on */

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "client/internal.h"
#include "common/addr.h"
#include "mgr/client.h"
#include "mgr/error.h"

static mgr_client *S; /* a tcp:// manager with KEY */
static char key[41];
static char dir[64];

static void has(const char *msg, const char *want) {
  if (!strstr(msg, want)) fail_msg("'%s' lacks '%s'", msg, want);
}

static void clear_env(void) {
  unsetenv("MGR_AUTHKEY_FILE");
  unsetenv("MGR_AUTHKEY");
}

static int setup(void **state) {
  (void)state;
  clear_env();
  memset(key, 'k', sizeof key - 1);
  key[sizeof key - 1] = '\0';
  snprintf(dir, sizeof dir, "/tmp/mgr-transport.XXXXXX");
  if (!mkdtemp(dir)) return -1;
  mgr_options o;
  mgr_options_init(&o);
  o.address = "tcp://127.0.0.1:0";
  o.authkey = key;
  o.authkey_len = strlen(key);
  return mgr_start(&o, &S) == MGR_OK ? 0 : -1;
}

static int teardown(void **state) {
  (void)state;
  char cmd[128];
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
  int rc = system(cmd);
  return mgr_shutdown(S) == MGR_OK && rc == 0 ? 0 : -1;
}

/* A key in the options of the wrong length, or a length without a key:
 * MGR_EINVAL, nothing connected; mgr_start() refuses them the same way. */
static void test_option_refusals(void **state) {
  (void)state;
  clear_env();
  mgr_options o;
  mgr_options_init(&o);
  char big[1025];
  memset(big, 'b', sizeof big);
  mgr_client *m = NULL;
  o.authkey = big;
  o.authkey_len = 31;
  assert_int_equal(mgr_connect(mgr_address(S), &o, &m), MGR_EINVAL);
  assert_null(m);
  has(mgr_errmsg(NULL), "an authkey has 32 to 1024 bytes, not 31");
  o.authkey_len = 1025;
  assert_int_equal(mgr_connect(mgr_address(S), &o, &m), MGR_EINVAL);
  has(mgr_errmsg(NULL), "not 1025");
  o.address = "tcp://127.0.0.1:0";
  assert_int_equal(mgr_start(&o, &m), MGR_EINVAL);
  assert_null(m);
  has(mgr_errmsg(NULL), "not 1025");
  o.authkey = NULL;
  o.authkey_len = 40;
  assert_int_equal(mgr_connect(mgr_address(S), &o, &m), MGR_EINVAL);
  has(mgr_errmsg(NULL), "authkey_len without authkey");
  /* An address that does not parse. */
  assert_int_equal(mgr_connect("tcp://127.0.0.1", NULL, &m), MGR_EINVAL);
  assert_null(m);
}

/* The environment: $MGR_AUTHKEY_FILE first (empty: not set), then
 * $MGR_AUTHKEY (empty: not set; of the wrong length: refused). */
static void test_environment(void **state) {
  (void)state;
  clear_env();
  mgr_client *m = NULL;
  const char *addr = mgr_address(S);
  assert_int_equal(mgr_connect(addr, NULL, &m), MGR_EINVAL);
  has(mgr_errmsg(NULL), "needs an authkey");
  setenv("MGR_AUTHKEY_FILE", "", 1);
  setenv("MGR_AUTHKEY", "", 1);
  assert_int_equal(mgr_connect(addr, NULL, &m), MGR_EINVAL);
  has(mgr_errmsg(NULL), "needs an authkey");
  setenv("MGR_AUTHKEY", "short", 1);
  assert_int_equal(mgr_connect(addr, NULL, &m), MGR_EINVAL);
  has(mgr_errmsg(NULL), "MGR_AUTHKEY holds 5 bytes");
  char *longk = malloc(1026);
  assert_non_null(longk);
  memset(longk, 'l', 1025);
  longk[1025] = '\0';
  setenv("MGR_AUTHKEY", longk, 1);
  free(longk);
  assert_int_equal(mgr_connect(addr, NULL, &m), MGR_EINVAL);
  has(mgr_errmsg(NULL), "MGR_AUTHKEY holds 1025 bytes");
  assert_null(m);

  /* The right key from $MGR_AUTHKEY (the empty $MGR_AUTHKEY_FILE skipped). */
  setenv("MGR_AUTHKEY", key, 1);
  assert_int_equal(mgr_connect(addr, NULL, &m), MGR_OK);
  assert_int_equal(mgr_ping(m), MGR_OK);
  mgr_close(m);
  /* A key file wins over $MGR_AUTHKEY: a wrong key there is refused by the
   * manager. */
  char path[128];
  snprintf(path, sizeof path, "%s/wrong", dir);
  int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
  assert_true(fd >= 0);
  char wrong[40];
  memset(wrong, 'w', sizeof wrong);
  assert_int_equal(write(fd, wrong, sizeof wrong), (ssize_t)sizeof wrong);
  close(fd);
  setenv("MGR_AUTHKEY_FILE", path, 1);
  m = NULL;
  assert_int_equal(mgr_connect(addr, NULL, &m), MGR_EPERM);
  assert_null(m);
  has(mgr_errmsg(NULL), "authentication failed");
  /* A Unix socket takes no key from the environment: a manager started
   * on one (no key) is reached with these variables set. */
  mgr_client *u = NULL;
  assert_int_equal(mgr_start(NULL, &u), MGR_OK);
  assert_int_equal(mgr_ping(u), MGR_OK);
  assert_int_equal(mgr_shutdown(u), MGR_OK);
  clear_env();
}

/* mgri_transport_key's refusals with no room for their text (err NULL or
 * cap 0): the same code, nothing written (as the transports', test_net). */
static void test_key_no_room(void **state) {
  (void)state;
  clear_env();
  mgri_addr a;
  assert_int_equal(mgri_addr_parse("tcp://127.0.0.1:1", &a, NULL, 0), MGR_OK);
  uint8_t k[1024];
  size_t len;
  char untouched[16];
  mgr_options o;
  for (int nul = 0; nul < 2; nul++) {
    char *e = nul ? NULL : untouched;
    snprintf(untouched, sizeof untouched, "untouched");
    mgr_options_init(&o);
    o.authkey = key;
    o.authkey_len = 31;
    assert_int_equal(mgri_transport_key(&o, &a, k, &len, e, 0), MGR_EINVAL);
    mgr_options_init(&o);
    o.authkey_len = 40;
    assert_int_equal(mgri_transport_key(&o, &a, k, &len, e, 0), MGR_EINVAL);
    mgr_options_init(&o);
    setenv("MGR_AUTHKEY", "short", 1);
    assert_int_equal(mgri_transport_key(&o, &a, k, &len, e, 0), MGR_EINVAL);
    clear_env();
    assert_string_equal(untouched, "untouched");
  }
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_option_refusals),
      cmocka_unit_test(test_environment),
      cmocka_unit_test(test_key_no_room),
  };
  return cmocka_run_group_tests(tests, setup, teardown);
}
