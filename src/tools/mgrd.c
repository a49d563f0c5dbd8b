/* mgrd — runs a manager server in the foreground until SHUTDOWN, SIGTERM or
 * SIGINT. Exit status: 0 clean, 1 runtime error, 2 usage. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/addr.h"
#include "common/limits.h"
#include "mgr/mgr.h"
#include "net/net.h"

/* The defaults printed come from limits.h: the help cannot drift from the
 * code. */
static void usage(FILE *f) {
  fprintf(f,
          "usage: mgrd --listen ADDR... [--authkey-file FILE]\n"
          "            [--tls-cert FILE --tls-key FILE [--tls-ca FILE]]\n"
          "            [--keepalive-idle MS] [--keepalive-interval MS]\n"
          "            [--keepalive-count N] [--max-frame N] [--max-memory N]\n"
          "            [--handshake-timeout MS] [--max-handshakes N]\n"
          "            [--idle-timeout MS] [--slow-ms MS] [--allow-any-uid]\n"
          "            [--no-shm] [--ready-fd FD]\n"
          "       mgrd --help | --version\n"
          "\n"
          "Runs an mgr manager server in the foreground, until a client "
          "sends\n"
          "SHUTDOWN or SIGTERM/SIGINT arrive. Prints 'listening on ADDR' for "
          "each\n"
          "address once it listens.\n"
          "  --listen ADDR           an address (up to %u): a socket path "
          "(unix:PATH\n"
          "                          or PATH; its directory should be "
          "private),\n"
          "                          tcp://HOST:PORT or tls://HOST:PORT (HOST "
          "a name,\n"
          "                          an IPv4 address or [IPv6]; port 0 picks "
          "one)\n"
          "  --address PATH          the same as --listen\n"
          "  --authkey-file FILE     the authkey, %u to %u bytes, from FILE "
          "(mode 0600\n"
          "                          or stricter); else from the file "
          "named by\n"
          "                          $MGR_AUTHKEY_FILE, else $MGR_AUTHKEY. "
          "Required\n"
          "                          for tcp:// and tls://; never on the "
          "command line\n"
          "  --tls-cert FILE         TLS certificate chain (PEM), for tls://\n"
          "  --tls-key FILE          its private key (PEM)\n"
          "  --tls-ca FILE           require client certificates issued by "
          "these CAs\n"
          "  --keepalive-idle MS     TCP: probe a peer silent for MS (default "
          "%u)\n"
          "  --keepalive-interval MS TCP: between probes (default %u)\n"
          "  --keepalive-count N     TCP: close after N unanswered probes "
          "(default %u):\n"
          "                          a dead peer's locks are released within "
          "%u ms\n"
          "  --max-frame N           largest frame accepted or sent, bytes\n"
          "                          (default %u, 64..%u)\n"
          "  --max-memory N          bytes the server may hold: objects, "
          "buffers,\n"
          "                          parked requests (default %uM; K, M, G "
          "suffixes;\n"
          "                          'none' for no limit)\n"
          "  --handshake-timeout MS  a connection must send HELLO (after TLS "
          "and the\n"
          "                          authkey exchange) within MS\n"
          "                          (default %u)\n"
          "  --max-handshakes N      connections in the handshake at once; "
          "the\n"
          "                          oldest is closed for a new one (default "
          "%u)\n"
          "  --idle-timeout MS       close connections silent for MS that "
          "wait\n"
          "                          for nothing (default: never)\n"
          "  --slow-ms MS            log requests slower than MS\n"
          "                          (default %u, 'none' for never; see\n"
          "                          mgrctl stats)\n"
          "  --allow-any-uid         accept clients of any uid (default: own "
          "uid only)\n"
          "  --no-shm                offer no shared-memory transport: "
          "clients on a\n"
          "                          Unix socket keep to the socket (default: "
          "offered)\n"
          "  --ready-fd FD           write one byte to FD, then close it, "
          "once\n"
          "                          listening\n",
          MGRI_LISTEN_MAX, MGRI_AUTHKEY_MIN, MGRI_AUTHKEY_MAX,
          MGRI_KEEPALIVE_IDLE_MS_DEFAULT, MGRI_KEEPALIVE_INTERVAL_MS_DEFAULT,
          MGRI_KEEPALIVE_COUNT_DEFAULT, MGRI_KEEPALIVE_BOUND_MS_DEFAULT,
          MGRI_FRAME_MAX_DEFAULT, MGRI_FRAME_MAX_CEIL,
          (unsigned)(MGRI_MEMORY_MAX_DEFAULT >> 20), MGRI_HANDSHAKE_MS_DEFAULT,
          MGRI_HANDSHAKES_MAX_DEFAULT, MGRI_SLOW_MS_DEFAULT);
}

/* An unsigned decimal in [lo, hi] with an optional K/M/G (binary) suffix
 * when suffix is true; false when s is anything else. */
static bool parse_num(const char *s, unsigned long long lo,
                      unsigned long long hi, bool suffix,
                      unsigned long long *out) {
  char *end;
  errno = 0;
  if (!*s || *s == '-' || *s == '+') return false;
  unsigned long long n = strtoull(s, &end, 10);
  if (errno || end == s) return false;
  if (suffix && *end) {
    unsigned shift = *end == 'K' || *end == 'k'   ? 10
                     : *end == 'M' || *end == 'm' ? 20
                     : *end == 'G' || *end == 'g' ? 30
                                                  : 0;
    if (!shift || end[1] || n > (~0ull >> shift)) return false;
    n <<= shift;
    end++;
  }
  if (*end || n < lo || n > hi) return false;
  *out = n;
  return true;
}

typedef struct flag {
  const char *name;
  const char *what; /* the value's description, for errors */
  unsigned long long lo, hi;
  bool suffix;
} flag;

enum {
  F_ADDRESS,
  F_LISTEN,
  F_AUTHKEY_FILE,
  F_TLS_CERT,
  F_TLS_KEY,
  F_TLS_CA,
  F_KA_IDLE,
  F_KA_INTERVAL,
  F_KA_COUNT,
  F_MAX_FRAME,
  F_MAX_MEMORY,
  F_HANDSHAKE,
  F_HANDSHAKES,
  F_IDLE,
  F_SLOW,
  F_READY,
  F_N
};

static const flag flags[F_N] = {
    [F_ADDRESS] = {"--address", "a path", 0, 0, false},
    [F_LISTEN] = {"--listen", "an address", 0, 0, false},
    [F_AUTHKEY_FILE] = {"--authkey-file", "a file", 0, 0, false},
    [F_TLS_CERT] = {"--tls-cert", "a file", 0, 0, false},
    [F_TLS_KEY] = {"--tls-key", "a file", 0, 0, false},
    [F_TLS_CA] = {"--tls-ca", "a file", 0, 0, false},
    [F_KA_IDLE] = {"--keepalive-idle", "1000..86400000 ms", 1000, 86400000,
                   false},
    [F_KA_INTERVAL] = {"--keepalive-interval", "1000..3600000 ms", 1000,
                       3600000, false},
    [F_KA_COUNT] = {"--keepalive-count", "1..127", 1, 127, false},
    [F_MAX_FRAME] = {"--max-frame", "64..67108864", 64, MGRI_FRAME_MAX_CEIL,
                     false},
    [F_MAX_MEMORY] = {"--max-memory", "bytes (K/M/G), at least 1M, or 'none'",
                      1ull << 20, ~0ull, true},
    [F_HANDSHAKE] = {"--handshake-timeout", "1..3600000 ms", 1, 3600000, false},
    [F_HANDSHAKES] = {"--max-handshakes", "1..65536", 1, 65536, false},
    [F_IDLE] = {"--idle-timeout", "0..86400000 ms (0: never)", 0, 86400000,
                false},
    [F_SLOW] = {"--slow-ms", "1..86400000 ms, or 'none'", 1, 86400000, false},
    [F_READY] = {"--ready-fd", "a descriptor 0..65535", 0, 65535, false},
};

static void on_listen(void *ctx, const char *address) {
  (void)ctx;
  printf("listening on %s\n", address);
  fflush(stdout);
}

/* The authkey: --authkey-file, else $MGR_AUTHKEY_FILE, else $MGR_AUTHKEY
 * (never an argument: the command line is world-readable in /proc). 0 ok
 * (*len 0: none), 1 error (printed). */
static int load_key(const char *file, uint8_t key[MGRI_AUTHKEY_MAX],
                    size_t *len) {
  char err[512];
  *len = 0;
  const char *from = file ? "--authkey-file" : "MGR_AUTHKEY_FILE";
  if (!file) file = getenv("MGR_AUTHKEY_FILE");
  if (file && *file) {
    if (mgri_authkey_file(file, key, len, err, sizeof err) != MGR_OK) {
      fprintf(stderr, "mgrd: %s: %s\n", from, err);
      return 1;
    }
    return 0;
  }
  const char *k = getenv("MGR_AUTHKEY");
  if (k && *k) {
    size_t n = strlen(k);
    if (n < MGRI_AUTHKEY_MIN || n > MGRI_AUTHKEY_MAX) {
      fprintf(stderr,
              "mgrd: MGR_AUTHKEY holds %zu bytes; an authkey has %u "
              "to %u\n",
              n, MGRI_AUTHKEY_MIN, MGRI_AUTHKEY_MAX);
      return 1;
    }
    memcpy(key, k, n);
    *len = n;
  }
  return 0;
}

int main(int argc, char **argv) {
  mgr_server_options opt;
  mgr_server_options_init(&opt);
  const char *addrs[MGRI_LISTEN_MAX];
  size_t naddrs = 0;
  const char *keyfile = NULL;
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i];
    if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
      usage(stdout);
      return 0;
    }
    if (!strcmp(a, "--version")) {
      printf("mgrd %s (protocol %d..%d)\n", mgr_version_string(),
             MGR_PROTOCOL_MIN, MGR_PROTOCOL_MAX);
      return 0;
    }
    if (!strcmp(a, "--allow-any-uid")) {
      opt.allow_any_uid = 1;
      continue;
    }
    if (!strcmp(a, "--no-shm")) {
      opt.no_shm = 1;
      continue;
    }
    const char *eq = strchr(a, '=');
    size_t alen = eq ? (size_t)(eq - a) : strlen(a);
    int f = 0;
    while (f < F_N &&
           !(strlen(flags[f].name) == alen && !strncmp(a, flags[f].name, alen)))
      f++;
    if (f == F_N) {
      fprintf(stderr, "mgrd: unknown argument '%s'\n", a);
      usage(stderr);
      return 2;
    }
    const char *val = eq ? eq + 1 : i + 1 < argc ? argv[++i] : NULL;
    if (!val) {
      fprintf(stderr, "mgrd: %s needs a value\n", flags[f].name);
      return 2;
    }
    if (f == F_ADDRESS || f == F_LISTEN) {
      mgri_addr pa;
      char err[512];
      if (mgri_addr_parse(val, &pa, err, sizeof err) != MGR_OK) {
        fprintf(stderr, "mgrd: %s: %s\n", flags[f].name, err);
        return 2;
      }
      if (naddrs == MGRI_LISTEN_MAX) {
        fprintf(stderr, "mgrd: at most %u addresses\n", MGRI_LISTEN_MAX);
        return 2;
      }
      addrs[naddrs++] = val;
      continue;
    }
    switch (f) {
    case F_AUTHKEY_FILE:
      keyfile = val;
      continue;
    case F_TLS_CERT:
      opt.tls_cert = val;
      continue;
    case F_TLS_KEY:
      opt.tls_key = val;
      continue;
    case F_TLS_CA:
      opt.tls_ca = val;
      continue;
    default:
      break;
    }
    unsigned long long n = 0;
    bool none = (f == F_MAX_MEMORY || f == F_SLOW) && !strcmp(val, "none");
    if (!none &&
        !parse_num(val, flags[f].lo, flags[f].hi, flags[f].suffix, &n)) {
      fprintf(stderr, "mgrd: %s must be %s, not '%s'\n", flags[f].name,
              flags[f].what, val);
      return 2;
    }
    switch (f) {
    case F_MAX_FRAME:
      opt.max_frame = (uint32_t)n;
      break;
    case F_MAX_MEMORY:
      opt.max_memory = none || n > SIZE_MAX ? SIZE_MAX : (size_t)n;
      break;
    case F_HANDSHAKE:
      opt.handshake_timeout_ms = (uint32_t)n;
      break;
    case F_HANDSHAKES:
      opt.max_handshakes = (uint32_t)n;
      break;
    case F_IDLE:
      opt.idle_timeout_ms = (uint32_t)n;
      break;
    case F_SLOW:
      opt.slow_ms = none ? UINT32_MAX : (uint32_t)n;
      break;
    case F_KA_IDLE:
      opt.keepalive_idle_ms = (uint32_t)n;
      break;
    case F_KA_INTERVAL:
      opt.keepalive_interval_ms = (uint32_t)n;
      break;
    case F_KA_COUNT:
      opt.keepalive_count = (uint32_t)n;
      break;
    default:
      opt.ready_fd = (int)n;
      break;
    }
  }
  if (!naddrs) {
    fprintf(stderr, "mgrd: --listen ADDR (or --address PATH) is required\n");
    usage(stderr);
    return 2;
  }
  bool net = false, tls = false;
  for (size_t i = 0; i < naddrs; i++) {
    mgri_addr pa;
    mgri_addr_parse(addrs[i], &pa, NULL, 0);
    net = net || mgri_addr_is_net(&pa);
    tls = tls || pa.kind == MGRI_ADDR_TLS;
  }
  static uint8_t key[MGRI_AUTHKEY_MAX];
  size_t keylen = 0;
  if (load_key(keyfile, key, &keylen)) return 1;
  if (net && !keylen) {
    fprintf(stderr,
            "mgrd: a tcp:// or tls:// address needs an authkey: "
            "--authkey-file FILE (or $MGR_AUTHKEY_FILE, $MGR_AUTHKEY); make "
            "one with: (umask 077; head -c 32 /dev/urandom > FILE)\n");
    return 1;
  }
  if (!tls && (opt.tls_cert || opt.tls_key || opt.tls_ca)) {
    fprintf(stderr, "mgrd: --tls-cert, --tls-key and --tls-ca need a tls:// "
                    "address\n");
    return 2;
  }
  if (tls) { /* load them here for a message that says what is wrong */
    struct ssl_ctx_st *ctx;
    char err[512];
    if (mgri_tls_server_ctx(opt.tls_cert, opt.tls_key, opt.tls_ca, &ctx, err,
                            sizeof err) != MGR_OK) {
      fprintf(stderr, "mgrd: %s\n", err);
      return 1;
    }
    mgri_tls_ctx_free(ctx);
  }
  if (keylen) {
    opt.authkey = key;
    opt.authkey_len = keylen;
  }
  opt.address = addrs[0];
  opt.listen = addrs + 1;
  opt.nlisten = naddrs - 1;
  opt.on_listen = on_listen;
  int rc = mgr_server_run(&opt);
  explicit_bzero(key, sizeof key);
  if (rc != MGR_OK) {
    int e = errno;
    fprintf(stderr, "mgrd: %s%s: %s%s%s\n", opt.address,
            naddrs > 1 ? " ..." : "", mgr_strerror(rc),
            rc == MGR_ESYS ? ": " : "", rc == MGR_ESYS ? strerror(e) : "");
    if (rc == MGR_ESYS && e == EPERM)
      fprintf(stderr, "mgrd: the socket's directory must be owned by you with "
                      "mode 0700 (or run with --allow-any-uid)\n");
    if (rc == MGR_EINVAL)
      fprintf(stderr, "mgrd: a socket path must be shorter than 108 bytes\n");
    return 1;
  }
  return 0;
}
