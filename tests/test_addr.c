/* mgr tests — addresses (spec 2.1): every form parses to what it names and
 * prints back as written; every malformed one is refused with a reason; key
 * files (spec 2.8): the mode, owner and size rules, the trailing newline. */
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
#include <sys/stat.h>
#include <unistd.h>

#include "common/addr.h"
#include "mgr/error.h"
#include "net/net.h"

static void ok(const char *text, int kind, const char *path_or_host,
               unsigned port, bool v6, const char *printed) {
  mgri_addr a;
  char err[256];
  int rc = mgri_addr_parse(text, &a, err, sizeof err);
  if (rc != MGR_OK) fail_msg("'%s' refused: %s", text, err);
  assert_int_equal(a.kind, kind);
  if (kind == MGRI_ADDR_UNIX) {
    assert_string_equal(a.path, path_or_host);
  } else {
    assert_string_equal(a.host, path_or_host);
    assert_int_equal(a.port, port);
    assert_int_equal(a.v6, v6);
  }
  char buf[MGRI_ADDR_TEXT_MAX];
  bool bare = kind == MGRI_ADDR_UNIX && strncmp(text, "unix:", 5);
  assert_int_equal(mgri_addr_format(&a, bare, buf, sizeof buf), MGR_OK);
  assert_string_equal(buf, printed ? printed : text);
}

static void bad(const char *text, const char *why) {
  mgri_addr a;
  char err[256];
  if (mgri_addr_parse(text, &a, err, sizeof err) != MGR_EINVAL)
    fail_msg("'%s' accepted", text);
  if (!strstr(err, why)) fail_msg("'%s': '%s' lacks '%s'", text, err, why);
}

static void test_forms(void **state) {
  (void)state;
  ok("/tmp/d/s", MGRI_ADDR_UNIX, "/tmp/d/s", 0, false, NULL);
  ok("s", MGRI_ADDR_UNIX, "s", 0, false, NULL);
  ok("unix:/tmp/d/s", MGRI_ADDR_UNIX, "/tmp/d/s", 0, false, NULL);
  ok("unix:rel/tcp://x", MGRI_ADDR_UNIX, "rel/tcp://x", 0, false, NULL);
  ok("tcp://127.0.0.1:5000", MGRI_ADDR_TCP, "127.0.0.1", 5000, false, NULL);
  ok("tcp://localhost:0", MGRI_ADDR_TCP, "localhost", 0, false, NULL);
  ok("tcp://my-host.example_1.org:65535", MGRI_ADDR_TCP,
     "my-host.example_1.org", 65535, false, NULL);
  ok("tcp://[::1]:7", MGRI_ADDR_TCP, "::1", 7, true, NULL);
  ok("tls://[fe80::1%eth0]:443", MGRI_ADDR_TLS, "fe80::1%eth0", 443, true,
     NULL);
  ok("tls://0.0.0.0:1", MGRI_ADDR_TLS, "0.0.0.0", 1, false, NULL);
  /* 107 bytes fit sun_path with its NUL; 108 do not. */
  char p[200];
  memset(p, 'a', 107);
  p[107] = '\0';
  ok(p, MGRI_ADDR_UNIX, p, 0, false, NULL);
}

/* Checks spec R-2.1-a (spec/protocol.md; tests/reqs/check_reqs.py). */
static void test_refused(void **state) {
  (void)state;
  bad("", "empty");
  bad("unix:", "empty path");
  bad("udp://1.2.3.4:5", "unknown scheme");
  bad("http://x/y", "unknown scheme");
  bad("tcp://127.0.0.1", "no ':PORT'");
  bad("tcp://127.0.0.1:", "no port");
  bad("tcp://:5000", "no host");
  bad("tcp://h:65536", "above 65535");
  bad("tcp://h:99999999999999999999", "above 65535");
  bad("tcp://h:5x", "not a number");
  bad("tcp://h:-1", "not a number");
  bad("tcp://h:0050", "leading zero");
  bad("tcp://::1:5000", "must be in brackets");
  bad("tcp://[::1:5000", "without ']'");
  bad("tcp://[::1]5000", "no ':PORT' after ']'");
  bad("tcp://a b:1", "cannot be in a host");
  bad("tcp://a/b:1", "cannot be in a host");
  bad("tls://[::1]:", "no port");
  char p[200];
  memset(p, 'a', 108);
  p[108] = '\0';
  bad(p, "longer than 107");
  char h[300] = "tcp://";
  memset(h + 6, 'h', 256);
  strcpy(h + 262, ":1");
  bad(h, "host too long");
}

/* Every class of host character in both cases; no address, no error buffer
 * or one of no size (nothing written there); a print buffer too small. */
static void test_edges(void **state) {
  (void)state;
  ok("tcp://AZ-az_09.Gg.Ff:2", MGRI_ADDR_TCP, "AZ-az_09.Gg.Ff", 2, false, NULL);
  ok("tls://[FE80::A.1%ZONE9]:3", MGRI_ADDR_TLS, "FE80::A.1%ZONE9", 3, true,
     NULL);
  bad("tcp://[::G-1]:1", "cannot be in a host");
  mgri_addr a;
  assert_int_equal(mgri_addr_parse(NULL, &a, NULL, 0), MGR_EINVAL);
  char err[8] = "x";
  assert_int_equal(mgri_addr_parse("", &a, err, 0), MGR_EINVAL);
  assert_string_equal(err, "x");
  assert_int_equal(mgri_addr_parse("udp://x", &a, NULL, sizeof err),
                   MGR_EINVAL);
  assert_int_equal(mgri_addr_parse("tcp://h:1", &a, NULL, 0), MGR_OK);
  char small[8];
  assert_int_equal(mgri_addr_format(&a, false, small, sizeof small),
                   MGR_EINVAL);
  assert_int_equal(mgri_addr_format(&a, false, small, 0), MGR_EINVAL);
}

/* --- key files ----------------------------------------------------------- */

static char dir[64];

static const char *keyfile(const char *name, const void *bytes, size_t n,
                           mode_t mode) {
  static char path[128];
  snprintf(path, sizeof path, "%s/%s", dir, name);
  int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
  assert_true(fd >= 0);
  assert_int_equal(write(fd, bytes, n), (ssize_t)n);
  close(fd);
  assert_int_equal(chmod(path, mode), 0);
  return path;
}

/* Checks spec R-2.8-a (spec/protocol.md; tests/reqs/check_reqs.py). */
static void test_key_files(void **state) {
  (void)state;
  snprintf(dir, sizeof dir, "/tmp/mgr-keys.XXXXXX");
  assert_non_null(mkdtemp(dir));
  uint8_t key[MGRI_AUTHKEY_MAX], want[MGRI_AUTHKEY_MAX + 2];
  for (size_t i = 0; i < sizeof want; i++)
    want[i] = (uint8_t)(i * 7 + 1);
  size_t len = 99;
  char err[512];
  /* Exactly 32 and 1024 bytes; binary bytes as they are. */
  assert_int_equal(mgri_authkey_file(keyfile("k32", want, 32, 0600), key, &len,
                                     err, sizeof err),
                   MGR_OK);
  assert_int_equal(len, 32);
  assert_memory_equal(key, want, 32);
  assert_int_equal(mgri_authkey_file(keyfile("kmax", want, 1024, 0400), key,
                                     &len, err, sizeof err),
                   MGR_OK);
  assert_int_equal(len, 1024);
  /* One trailing LF or CRLF is not part of the key; a second LF is. */
  uint8_t text[40];
  memcpy(text, "0123456789abcdef0123456789abcdef\r\n", 34);
  assert_int_equal(mgri_authkey_file(keyfile("kcrlf", text, 34, 0600), key,
                                     &len, err, sizeof err),
                   MGR_OK);
  assert_int_equal(len, 32);
  assert_memory_equal(key, text, 32);
  memcpy(text, "0123456789abcdef0123456789abcdef\n\n", 34);
  assert_int_equal(mgri_authkey_file(keyfile("klf2", text, 34, 0600), key, &len,
                                     err, sizeof err),
                   MGR_OK);
  assert_int_equal(len, 33);
  /* 31 bytes (32 with the LF), 1025 bytes: refused. */
  memcpy(text, "0123456789abcdef0123456789abcde\n", 32);
  assert_int_equal(mgri_authkey_file(keyfile("kshort", text, 32, 0600), key,
                                     &len, err, sizeof err),
                   MGR_EINVAL);
  assert_non_null(strstr(err, "holds 31 bytes"));
  assert_int_equal(len, 0);
  assert_int_equal(mgri_authkey_file(keyfile("klong", want, 1025, 0600), key,
                                     &len, err, sizeof err),
                   MGR_EINVAL);
  assert_non_null(strstr(err, "more than 1024"));
  /* Group- or world-readable, or writable: refused, saying what to do. */
  static const mode_t modes[] = {0640, 0604, 0620, 0602, 0644, 0660};
  for (size_t i = 0; i < sizeof modes / sizeof modes[0]; i++) {
    const char *p = keyfile("kmode", want, 32, modes[i]);
    assert_int_equal(mgri_authkey_file(p, key, &len, err, sizeof err),
                     MGR_EPERM);
    assert_non_null(strstr(err, "open to group or others"));
    assert_non_null(strstr(err, "chmod 600"));
  }
  /* Not a regular file; missing. */
  assert_int_equal(mgri_authkey_file(dir, key, &len, err, sizeof err),
                   MGR_EPERM);
  assert_non_null(strstr(err, "not a regular file"));
  char missing[128];
  snprintf(missing, sizeof missing, "%s/none", dir);
  assert_int_equal(mgri_authkey_file(missing, key, &len, err, sizeof err),
                   MGR_ESYS);
  /* Another user's file (as root, chown is possible). */
  if (geteuid() == 0) {
    const char *p = keyfile("kother", want, 32, 0600);
    assert_int_equal(chown(p, 65534, 65534), 0);
    assert_int_equal(mgri_authkey_file(p, key, &len, err, sizeof err),
                     MGR_EPERM);
    assert_non_null(strstr(err, "belongs to uid 65534"));
  }
  char cmd[128];
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
  assert_int_equal(system(cmd), 0);
}

/* The keepalive bound: defaults, and the kernel's whole seconds. */
static void test_keepalive_bound(void **state) {
  (void)state;
  mgri_keepalive ka = {0, 0, 0};
  assert_int_equal(mgri_keepalive_bound_ms(&ka),
                   MGRI_KEEPALIVE_BOUND_MS_DEFAULT);
  ka = (mgri_keepalive){1000, 1000, 2};
  assert_int_equal(mgri_keepalive_bound_ms(&ka), 3000);
  ka = (mgri_keepalive){1001, 1, 1};
  assert_int_equal(mgri_keepalive_bound_ms(&ka), 3000);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_forms),           cmocka_unit_test(test_refused),
      cmocka_unit_test(test_edges),           cmocka_unit_test(test_key_files),
      cmocka_unit_test(test_keepalive_bound),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
