/* mgr tests — mgrctl against a real manager: parseable output and exit codes
 * (0 ok, 1 operation error, 2 usage, 3 cannot connect). */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "client_util.h"

#define MGRCTL MGR_BINARY_DIR "/mgrctl"

static mgr_client *M;
static char out[8192];

/* Runs mgrctl with the manager's address and args; captures stdout into
 * out; returns the exit status. */
static int ctl(const char *address, ...) {
  const char *argv[16];
  int n = 0;
  argv[n++] = MGRCTL;
  if (address) {
    argv[n++] = "--address";
    argv[n++] = address;
  }
  va_list ap;
  va_start(ap, address);
  const char *a;
  while ((a = va_arg(ap, const char *)) && n < 15)
    argv[n++] = a;
  va_end(ap);
  argv[n] = NULL;
  int p[2];
  assert_int_equal(pipe(p), 0);
  pid_t pid = fork();
  assert_true(pid >= 0);
  if (pid == 0) {
    dup2(p[1], 1);
    int devnull = open("/dev/null", O_WRONLY);
    if (devnull >= 0) dup2(devnull, 2);
    close(p[0]);
    execv(MGRCTL, (char *const *)argv);
    _exit(127);
  }
  close(p[1]);
  size_t len = 0;
  ssize_t r;
  while ((r = read(p[0], out + len, sizeof out - 1 - len)) > 0)
    len += (size_t)r;
  out[len] = 0;
  close(p[0]);
  return cu_wait(pid);
}

static int setup(void **state) {
  (void)state;
  M = cu_start();
  return M ? 0 : -1;
}

static int teardown(void **state) {
  (void)state;
  return cu_stop(M) == MGR_OK ? 0 : -1;
}

static void test_dict(void **state) {
  (void)state;
  mgr_value pairs[] = {T("a"), I(1)};
  mgr_value init = mgr_map(pairs, 1);
  mgr_proxy *d;
  assert_ok(M, mgr_dict_new(M, &init, &d));
  char id[32];
  snprintf(id, sizeof id, "%llu", (unsigned long long)mgr_proxy_id(d));
  const char *addr = mgr_address(M);

  assert_int_equal(ctl(addr, "ping", NULL), 0);
  assert_int_equal(ctl(addr, "get", id, "a", NULL), 0);
  assert_string_equal(out, "1\n");
  assert_int_equal(ctl(addr, "set", id, "b", "2.5", NULL), 0);
  assert_int_equal(ctl(addr, "incr", id, "a", "41", NULL), 0);
  assert_string_equal(out, "42\n");
  assert_int_equal(ctl(addr, "set", id, "name", "\"x y\"", NULL), 0);
  assert_int_equal(ctl(addr, "dump", id, NULL), 0);
  assert_non_null(strstr(out, "\"a\": 42"));
  assert_non_null(strstr(out, "\"b\": 2.5"));
  assert_non_null(strstr(out, "\"name\": \"x y\""));

  /* What mgrctl did is what the library sees. */
  mgr_value v;
  mgr_value key = T("a");
  assert_ok(M, mgr_dict_get(d, &key, &v));
  assert_int_equal(v.type, MGR_T_INT);
  assert_int_equal(v.u.i, 42);

  assert_int_equal(ctl(addr, "del", id, "b", NULL), 0);
  assert_int_equal(ctl(addr, "get", id, "b", NULL), 1);     /* KeyError */
  assert_int_equal(ctl(addr, "incr", id, "name", NULL), 1); /* TypeError */

  assert_int_equal(ctl(addr, "ls", NULL), 0);
  assert_non_null(strstr(out, id));
  assert_non_null(strstr(out, "dict"));
  assert_int_equal(ctl(addr, "ls", "--json", NULL), 0);
  assert_true(out[0] == '[' || out[0] == '{');
  /* dump: the object as a whole, its bytes counted. */
  assert_int_equal(ctl(addr, "dump", id, NULL), 0);
  assert_non_null(strstr(out, "\"kind\": \"dict\""));
  assert_non_null(strstr(out, "\"bytes\": "));
  assert_null(strstr(out, "\"bytes\": 0,"));
  assert_int_equal(ctl(addr, "dump", "999999", NULL), 1); /* LookupError */
  /* stats: the categories of memory and the limits. */
  assert_int_equal(ctl(addr, "stats", NULL), 0);
  assert_non_null(strstr(out, "\"memory\": {\"limit\": 1073741824"));
  assert_non_null(strstr(out, "\"dict\": {\"count\": 1"));
  assert_non_null(strstr(out, "\"slowlog\": ["));
  assert_int_equal(ctl(addr, "stats", "x", NULL), 2);
  assert_ok(M, mgr_release(d));
}

static void test_list(void **state) {
  (void)state;
  mgr_value items[] = {I(0), I(1), I(2)};
  mgr_value init = mgr_array(items, 3);
  mgr_proxy *l;
  assert_ok(M, mgr_list_new(M, &init, &l));
  char id[32];
  snprintf(id, sizeof id, "%llu", (unsigned long long)mgr_proxy_id(l));
  const char *addr = mgr_address(M);
  assert_int_equal(ctl(addr, "incr", id, "-1", NULL), 0);
  assert_string_equal(out, "3\n");
  assert_int_equal(ctl(addr, "get", id, "5", NULL), 1); /* IndexError */
  assert_int_equal(ctl(addr, "dump", id, NULL), 0);
  assert_non_null(strstr(out, "[0, 1, 3]"));
  assert_ok(M, mgr_release(l));
}

static void test_exit_codes(void **state) {
  (void)state;
  assert_int_equal(ctl(NULL, "ping", NULL), 2);                 /* no address */
  assert_int_equal(ctl(mgr_address(M), "frobnicate", NULL), 2); /* usage */
  assert_int_equal(ctl(mgr_address(M), "get", "999999", "a", NULL), 1);
  assert_int_equal(ctl("/nonexistent/mgr.sock", "ping", NULL), 3);
}

/* What mgrctl prints of every kind of value (JSON with the $bytes, $map
 * and $ref forms, escapes, non-finite floats), the literals it reads (true,
 * false, null, quoted text with escapes), and the refusals of ids, indexes
 * and kinds it cannot address. */
static void test_values(void **state) {
  (void)state;
  const char *addr = mgr_address(M);
  mgr_proxy *d, *l, *v, *lk, *named;
  assert_ok(M, mgr_dict_new(M, NULL, &d));
  assert_ok(M, mgr_list_new(M, NULL, &l));
  assert_ok(M, mgr_var_new(M, NULL, &v));
  assert_ok(M, mgr_lock_new(M, &lk));
  assert_ok(M, mgr_open(M, "ctl-named", MGR_K_DICT, NULL, true, &named, NULL));
  char did[32], lid[32], vid[32], kid[32];
  snprintf(did, sizeof did, "%llu", (unsigned long long)mgr_proxy_id(d));
  snprintf(lid, sizeof lid, "%llu", (unsigned long long)mgr_proxy_id(l));
  snprintf(vid, sizeof vid, "%llu", (unsigned long long)mgr_proxy_id(v));
  snprintf(kid, sizeof kid, "%llu", (unsigned long long)mgr_proxy_id(lk));

  mgr_value k = T("s"), x = T("q\"b\\c\nd\re\tf\001g\177h");
  assert_ok(M, mgr_dict_set(d, &k, &x));
  assert_int_equal(ctl(addr, "get", did, "s", NULL), 0);
  assert_string_equal(out, "\"q\\\"b\\\\c\\nd\\re\\tf\\u0001g\\u007fh\"\n");
  uint8_t raw[] = {0x00, 0xab, 0xff};
  mgr_value vals[] = {mgr_bool(true),      mgr_bool(false),      mgr_float(NAN),
                      mgr_float(INFINITY), mgr_float(-INFINITY), mgr_float(3.0),
                      mgr_bytes(raw, 3),   mgr_proxy_value(l)};
  const char *want[] = {"true\n",
                        "false\n",
                        "NaN\n",
                        "Infinity\n",
                        "-Infinity\n",
                        "3.0\n",
                        "{\"$bytes\": \"00abff\"}\n",
                        NULL};
  for (size_t i = 0; i < sizeof vals / sizeof vals[0]; i++) {
    assert_ok(M, mgr_var_set(v, &vals[i]));
    assert_int_equal(ctl(addr, "get", vid, NULL), 0);
    if (want[i]) {
      assert_string_equal(out, want[i]);
    } else {
      char ref[64];
      snprintf(ref, sizeof ref, "{\"$ref\": %s, \"kind\": \"list\"}\n", lid);
      assert_string_equal(out, ref);
    }
  }
  /* A map whose keys are not all text: the $map form. */
  mgr_value ik = I(7), iv = T("seven");
  assert_ok(M, mgr_dict_set(d, &ik, &iv));
  assert_int_equal(ctl(addr, "dump", did, NULL), 0);
  assert_non_null(strstr(out, "{\"$map\": ["));
  assert_non_null(strstr(out, "[7, \"seven\"]"));

  /* Literals: true, false, null, a quoted text with escapes, a float. */
  assert_int_equal(ctl(addr, "set", vid, "true", NULL), 0);
  assert_int_equal(ctl(addr, "get", vid, NULL), 0);
  assert_string_equal(out, "true\n");
  assert_int_equal(ctl(addr, "set", vid, "false", NULL), 0);
  assert_int_equal(ctl(addr, "get", vid, NULL), 0);
  assert_string_equal(out, "false\n");
  assert_int_equal(ctl(addr, "set", vid, "null", NULL), 0);
  assert_int_equal(ctl(addr, "get", vid, NULL), 0);
  assert_string_equal(out, "null\n");
  assert_int_equal(ctl(addr, "set", vid, "\"a\\nb\\tc\\rd\\\"e\"", NULL), 0);
  assert_int_equal(ctl(addr, "get", vid, NULL), 0);
  assert_string_equal(out, "\"a\\nb\\tc\\rd\\\"e\"\n");
  assert_int_equal(ctl(addr, "set", vid, "1e3", NULL), 0);
  assert_int_equal(ctl(addr, "get", vid, NULL), 0);
  assert_string_equal(out, "1e+03\n"); /* the shortest that reads back */
  assert_int_equal(ctl(addr, "incr", vid, "0.5", NULL), 0);
  assert_string_equal(out, "1000.5\n");

  /* Refusals: 2 (usage) for what mgrctl cannot address. */
  assert_int_equal(ctl(addr, "get", "x", NULL), 2); /* bad id */
  assert_int_equal(ctl(addr, "get", "0", NULL), 2); /* ids start at 1 */
  assert_int_equal(ctl(addr, "dump", "-1", NULL), 2);
  assert_int_equal(ctl(addr, "get", kid, NULL), 2);      /* a lock */
  assert_int_equal(ctl(addr, "get", lid, "x", NULL), 2); /* a list's index */
  assert_int_equal(ctl(addr, "del", vid, NULL), 2);      /* a var has no key */
  assert_int_equal(ctl(addr, "get", vid, "extra", NULL), 2);
  assert_int_equal(ctl(addr, "set", did, "k", NULL), 2); /* no value */
  assert_int_equal(ctl(addr, "get", lid, "0", NULL), 1); /* IndexError */
  assert_int_equal(ctl(addr, "dump", kid, NULL), 0);
  assert_non_null(strstr(out, "\"kind\": \"lock\""));

  /* ls names the named object, as text and as JSON. */
  assert_int_equal(ctl(addr, "ls", NULL), 0);
  assert_non_null(strstr(out, "ctl-named"));
  assert_int_equal(ctl(addr, "ls", "--json", NULL), 0);
  assert_non_null(strstr(out, "\"ctl-named\""));
  assert_int_equal(ctl(addr, "ls", "--xml", NULL), 2);

  assert_ok(M, mgr_unlink(M, "ctl-named"));
  assert_ok(M, mgr_release(named));
  assert_ok(M, mgr_release(lk));
  assert_ok(M, mgr_release(v));
  assert_ok(M, mgr_release(l));
  assert_ok(M, mgr_release(d));
}

/* The literals' edges: an integer past int64 is a float, a word strtod
 * reads but with no digit ("nan", "inf") is text, a lone or unclosed quote
 * is text as written, a backslash before the closing quote is itself; a
 * quoted literal longer than mgrctl's buffer (4 KiB) is refused (usage),
 * as a key and as a value, and so is a list index past int64 or empty.
 * Then the command line's own refusals: --help (0), an option missing its
 * value, no command, arguments where a command takes none; MGR_ADDRESS in
 * place of --address; set and del on a list, del of a missing key (1), an
 * rlock (no entries: usage). */
static void test_literal_edges(void **state) {
  (void)state;
  const char *addr = mgr_address(M);
  mgr_proxy *d, *l, *v, *rl;
  mgr_value items[] = {I(0), I(1), I(2)};
  mgr_value init = mgr_array(items, 3);
  assert_ok(M, mgr_dict_new(M, NULL, &d));
  assert_ok(M, mgr_list_new(M, &init, &l));
  assert_ok(M, mgr_var_new(M, NULL, &v));
  assert_ok(M, mgr_rlock_new(M, &rl));
  char did[32], lid[32], vid[32], rid[32];
  snprintf(did, sizeof did, "%llu", (unsigned long long)mgr_proxy_id(d));
  snprintf(lid, sizeof lid, "%llu", (unsigned long long)mgr_proxy_id(l));
  snprintf(vid, sizeof vid, "%llu", (unsigned long long)mgr_proxy_id(v));
  snprintf(rid, sizeof rid, "%llu", (unsigned long long)mgr_proxy_id(rl));

  static const struct {
    const char *lit, *printed;
  } lits[] = {
      {"99999999999999999999", "1e+20\n"},
      {"nan", "\"nan\"\n"},
      {"inf", "\"inf\"\n"},
      {"\"", "\"\\\"\"\n"},
      {"\"abc", "\"\\\"abc\"\n"},
      {"\"\"", "\"\"\n"},
      {"", "\"\"\n"}, /* the empty word: empty text */
      {"\"ab\\\"", "\"ab\\\\\"\n"},
  };
  for (size_t i = 0; i < sizeof lits / sizeof lits[0]; i++) {
    assert_int_equal(ctl(addr, "set", vid, lits[i].lit, NULL), 0);
    assert_int_equal(ctl(addr, "get", vid, NULL), 0);
    if (strcmp(out, lits[i].printed))
      fail_msg("%s: printed %s, not %s", lits[i].lit, out, lits[i].printed);
  }
  static char longq[5000];
  longq[0] = '"';
  memset(longq + 1, 'q', sizeof longq - 3);
  longq[sizeof longq - 2] = '"';
  assert_int_equal(ctl(addr, "set", vid, longq, NULL), 2);
  assert_int_equal(ctl(addr, "set", did, longq, "1", NULL), 2);
  assert_int_equal(ctl(addr, "set", did, "k", longq, NULL), 2);
  assert_int_equal(ctl(addr, "get", vid, NULL), 0);
  assert_string_equal(out, "\"ab\\\\\"\n"); /* unchanged */
  assert_int_equal(ctl(addr, "get", lid, "99999999999999999999", NULL), 2);
  assert_int_equal(ctl(addr, "get", lid, "", NULL), 2);

  /* The command line. */
  assert_int_equal(ctl(NULL, "--help", NULL), 0);
  assert_int_equal(ctl(NULL, "--address", NULL), 2); /* no value */
  assert_int_equal(ctl(addr, NULL), 2);              /* no command */
  assert_int_equal(ctl(addr, "ping", "x", NULL), 2);
  assert_int_equal(ctl(addr, "ls", "--json", "x", NULL), 2);
  assert_int_equal(ctl(addr, "dump", NULL), 2);
  assert_int_equal(ctl(addr, "get", NULL), 2);
  assert_int_equal(ctl(addr, "--addressx", "ping", NULL), 2); /* no option */
  assert_int_equal(ctl(addr, "-x", "ping", NULL), 2);
  assert_int_equal(ctl(addr, "dump", "abc", NULL), 2);
  assert_int_equal(setenv("MGR_ADDRESS", addr, 1), 0);
  assert_int_equal(ctl(NULL, "ping", NULL), 0);
  assert_true(strncmp(out, "pong ", 5) == 0);
  assert_int_equal(unsetenv("MGR_ADDRESS"), 0);

  /* set and del on a list; del of a missing key; an rlock. */
  assert_int_equal(ctl(addr, "set", lid, "1", "\"one\"", NULL), 0);
  assert_int_equal(ctl(addr, "del", lid, "0", NULL), 0);
  assert_int_equal(ctl(addr, "dump", lid, NULL), 0);
  assert_non_null(strstr(out, "[\"one\", 2]"));
  assert_int_equal(ctl(addr, "del", did, "missing", NULL), 1); /* KeyError */
  assert_int_equal(ctl(addr, "get", rid, NULL), 2);
  assert_int_equal(ctl(addr, "999999", NULL), 2); /* not a command */
  assert_int_equal(ctl(addr, "get", "999999", NULL), 1);

  assert_ok(M, mgr_release(rl));
  assert_ok(M, mgr_release(v));
  assert_ok(M, mgr_release(l));
  assert_ok(M, mgr_release(d));
}

/* mgrctl's own options, each spelling (--opt=value and --opt value): a
 * TLS manager that also wants a client certificate, reached with the key
 * file, the CA, the client's certificate and key and the name to check all
 * given on the command line; then `shutdown`: refused with an argument
 * (usage, the manager still up), else "ok", and the manager exits 0. */
static void test_options_shutdown(void **state) {
  (void)state;
  const char *had_key = getenv("MGR_AUTHKEY_FILE");
  const char *dir = cu_secrets_dir(true);
  char key[128], ca[128], cert[128], pkey[128], ccert[128], ckey[128];
  snprintf(key, sizeof key, "--authkey-file=%s/authkey", dir);
  snprintf(ca, sizeof ca, "%s/tls/ca.pem", dir);
  snprintf(cert, sizeof cert, "%s/tls/server.pem", dir);
  snprintf(pkey, sizeof pkey, "%s/tls/server.key", dir);
  snprintf(ccert, sizeof ccert, "--tls-cert=%s/tls/client.pem", dir);
  snprintf(ckey, sizeof ckey, "%s/tls/client.key", dir);
  struct stat sb;
  if (stat(ca, &sb) != 0) { /* the tcp transport made the key only */
    char cmd[256];
    snprintf(cmd, sizeof cmd, "%s/tests/tls-certs '%s/tls' >/dev/null",
             MGR_SOURCE_DIR, dir);
    assert_int_equal(system(cmd), 0);
  }
  int p[2];
  assert_int_equal(pipe(p), 0);
  fflush(NULL);
  pid_t pid = fork();
  assert_true(pid >= 0);
  if (pid == 0) {
    close(p[0]);
    prctl(PR_SET_PDEATHSIG, SIGTERM);
    mgr_server_options so;
    mgr_server_options_init(&so);
    so.address = "tls://127.0.0.1:0";
    so.authkey_file = key + strlen("--authkey-file=");
    so.tls_cert = cert;
    so.tls_key = pkey;
    so.tls_ca = ca; /* clients must show a certificate of this CA */
    so.ready_fd = p[1];
    _exit(mgr_server_run(&so) == MGR_OK ? 0 : 1);
  }
  close(p[1]);
  char ready[512];
  size_t got = 0;
  ssize_t r;
  while (got < sizeof ready - 1 &&
         ((r = read(p[0], ready + got, sizeof ready - 1 - got)) > 0 ||
          (r < 0 && errno == EINTR)))
    if (r > 0) got += (size_t)r;
  close(p[0]);
  ready[got] = '\0';
  char *nl = strchr(ready, '\n');
  assert_true(got >= 2 && ready[0] == 1 && nl);
  *nl = '\0';
  const char *addr = ready + 1;
  char want[64];
  snprintf(want, sizeof want, "pong %lld\n", (long long)pid);
  assert_int_equal(ctl(addr, key, "--tls-ca", ca, ccert, "--tls-key", ckey,
                       "--tls-server-name", "localhost", "ping", NULL),
                   0);
  assert_string_equal(out, want);
  /* No client certificate: the manager refuses the connection (3). */
  assert_int_equal(ctl(addr, key, "--tls-ca", ca, "ping", NULL), 3);
  assert_int_equal(ctl(addr, key, "--tls-ca", ca, ccert, "--tls-key", ckey,
                       "shutdown", "now", NULL),
                   2);
  assert_int_equal(
      ctl(addr, key, "--tls-ca", ca, ccert, "--tls-key", ckey, "ping", NULL),
      0);
  assert_int_equal(ctl(addr, key, "--tls-ca", ca, ccert, "--tls-key", ckey,
                       "shutdown", NULL),
                   0);
  assert_string_equal(out, "ok\n");
  assert_int_equal(cu_wait(pid), 0);
  if (!had_key) { /* the unix transport: as it was */
    unsetenv("MGR_AUTHKEY_FILE");
    unsetenv("MGR_TLS_CA");
  }
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_dict),
      cmocka_unit_test(test_list),
      cmocka_unit_test(test_exit_codes),
      cmocka_unit_test(test_values),
      cmocka_unit_test(test_literal_edges),
      cmocka_unit_test(test_options_shutdown),
  };
  return cmocka_run_group_tests(tests, setup, teardown);
}
