/* mgrctl — inspect and poke a running manager from the shell.
 *
 *   mgrctl [--address ADDR] [--authkey-file F] [--tls-ca F] [--tls-cert F
 *          --tls-key F] [--tls-server-name N]
 *          ping | ls [--json] | stats | dump ID
 *          | get ID [KEY|INDEX] | set ID [KEY|INDEX] VALUE
 *          | incr ID [KEY|INDEX] [DELTA] | del ID KEY|INDEX | shutdown
 *
 * A var takes no KEY. Values are JSON-ish literals: ints, floats, "strings",
 * true/false/null, anything else is bare text. Output is JSON (refs as
 * {"$ref": id, "kind": "dict"}, bytes as {"$bytes": "hex"}, a map with a
 * non-text key as {"$map": [[k, v], ...]}). Exit: 0 ok, 1 operation error
 * (error name and message on stderr), 2 usage, 3 cannot connect. */
#include <errno.h>
#include <math.h>
#include <mgr/mgr.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *kind_name(int64_t k) {
  const char *n =
      k >= INT32_MIN && k <= INT32_MAX ? mgr_kind_name((int)k) : NULL;
  return n ? n : "?";
}

static int usage(void) {
  fputs("usage: mgrctl [--address ADDR] [OPTION...] COMMAND\n"
        "  ADDR: a socket path, tcp://HOST:PORT or tls://HOST:PORT "
        "($MGR_ADDRESS)\n"
        "  --authkey-file F           the manager's authkey (tcp:// and "
        "tls://\n"
        "                             default to $MGR_AUTHKEY_FILE, then\n"
        "                             $MGR_AUTHKEY)\n"
        "  --tls-ca F                 CA certificates the manager's must "
        "chain to\n"
        "                             ($MGR_TLS_CA, else the system's)\n"
        "  --tls-cert F --tls-key F   a client certificate "
        "($MGR_TLS_CERT/KEY)\n"
        "  --tls-server-name N        the name the manager's certificate "
        "carries\n"
        "                             (default: ADDR's host)\n"
        "COMMAND:\n"
        "  ping                       one round trip\n"
        "  ls [--json]                objects: id kind name refs\n"
        "  stats                      memory, connections, objects, limits\n"
        "                             refused, slow requests (JSON)\n"
        "  dump ID                    one object: kind, name, refs, bytes,\n"
        "                             owner and contents (JSON)\n"
        "  get ID [KEY|INDEX]         one entry (a var takes no key)\n"
        "  set ID [KEY|INDEX] VALUE   store a value\n"
        "  incr ID [KEY|INDEX] [DELTA]  atomic += (DELTA defaults to 1)\n"
        "  del ID KEY|INDEX           delete an entry\n"
        "  shutdown                   stop the manager\n",
        stderr);
  return 2;
}

/* --- JSON output ---------------------------------------------------------- */

static void json_str(FILE *f, const char *p, size_t n) {
  fputc('"', f);
  for (size_t i = 0; i < n; i++) {
    unsigned char c = (unsigned char)p[i];
    switch (c) {
    case '"':
      fputs("\\\"", f);
      break;
    case '\\':
      fputs("\\\\", f);
      break;
    case '\n':
      fputs("\\n", f);
      break;
    case '\r':
      fputs("\\r", f);
      break;
    case '\t':
      fputs("\\t", f);
      break;
    default:
      if (c < 0x20 || c == 0x7f)
        fprintf(f, "\\u%04x", c);
      else
        fputc(c, f);
    }
  }
  fputc('"', f);
}

static void json_value(FILE *f, const mgr_value *v) {
  switch (v->type) {
  case MGR_T_NIL:
    fputs("null", f);
    break;
  case MGR_T_BOOL:
    fputs(v->u.b ? "true" : "false", f);
    break;
  case MGR_T_INT:
    fprintf(f, "%lld", (long long)v->u.i);
    break;
  case MGR_T_FLOAT: {
    double d = v->u.f;
    if (isnan(d)) {
      fputs("NaN", f);
    } else if (isinf(d)) {
      fputs(d > 0 ? "Infinity" : "-Infinity", f);
    } else {
      char buf[40];
      snprintf(buf, sizeof buf, "%.17g", d);
      /* shortest text that reads back the same double */
      for (int prec = 1; prec <= 17; prec++) {
        snprintf(buf, sizeof buf, "%.*g", prec, d);
        if (strtod(buf, NULL) == d) break;
      }
      fputs(buf, f);
      if (!strpbrk(buf, ".eE")) fputs(".0", f);
    }
    break;
  }
  case MGR_T_TEXT:
    json_str(f, v->u.s.ptr, v->u.s.len);
    break;
  case MGR_T_BYTES:
    fputs("{\"$bytes\": \"", f);
    for (size_t i = 0; i < v->u.s.len; i++)
      fprintf(f, "%02x", (unsigned char)v->u.s.ptr[i]);
    fputs("\"}", f);
    break;
  case MGR_T_ARRAY:
    fputc('[', f);
    for (size_t i = 0; i < v->u.a.len; i++) {
      if (i) fputs(", ", f);
      json_value(f, &v->u.a.items[i]);
    }
    fputc(']', f);
    break;
  case MGR_T_MAP: {
    bool text_keys = true;
    for (size_t i = 0; i < v->u.a.len; i++)
      if (v->u.a.items[2 * i].type != MGR_T_TEXT) text_keys = false;
    fputs(text_keys ? "{" : "{\"$map\": [", f);
    for (size_t i = 0; i < v->u.a.len; i++) {
      if (i) fputs(", ", f);
      if (!text_keys) fputc('[', f);
      json_value(f, &v->u.a.items[2 * i]);
      fputs(text_keys ? ": " : ", ", f);
      json_value(f, &v->u.a.items[2 * i + 1]);
      if (!text_keys) fputc(']', f);
    }
    fputs(text_keys ? "}" : "]}", f);
    break;
  }
  case MGR_T_REF:
    fprintf(f, "{\"$ref\": %llu, \"kind\": \"%s\"}",
            (unsigned long long)v->u.ref.id, kind_name(v->u.ref.kind));
    break;
  }
}

/* --- literal parsing -------------------------------------------------------
 * Text values point into argv or into a static buffer (one quoted literal per
 * command at most matters: KEY and VALUE each get their own). */
static char qbuf[2][4096];

static int parse_literal(const char *s, int slot, mgr_value *out) {
  char *end;
  if (!strcmp(s, "true")) return *out = mgr_bool(true), 0;
  if (!strcmp(s, "false")) return *out = mgr_bool(false), 0;
  if (!strcmp(s, "null")) return *out = mgr_nil(), 0;
  if (*s) {
    errno = 0;
    long long i = strtoll(s, &end, 10);
    if (!*end && errno == 0) return *out = mgr_int(i), 0;
    double d = strtod(s, &end);
    if (!*end && strpbrk(s, "0123456789")) return *out = mgr_float(d), 0;
  }
  size_t n = strlen(s);
  if (n >= 2 && s[0] == '"' && s[n - 1] == '"') {
    char *b = qbuf[slot];
    size_t w = 0;
    for (size_t i = 1; i + 1 < n; i++) {
      if (w + 1 >= sizeof qbuf[0]) return -1;
      char c = s[i];
      if (c == '\\' && i + 2 < n) {
        c = s[++i];
        c = c == 'n' ? '\n' : c == 't' ? '\t' : c == 'r' ? '\r' : c;
      }
      b[w++] = c;
    }
    b[w] = 0;
    *out = mgr_textn(b, w);
    return 0;
  }
  *out = mgr_text(s);
  return 0;
}

static int parse_index(const char *s, int64_t *out) {
  char *end;
  errno = 0;
  long long i = strtoll(s, &end, 10);
  if (!*s || *end || errno) return -1;
  *out = i;
  return 0;
}

/* --- commands -------------------------------------------------------------- */

static mgr_client *M;

static int op_error(const char *what, int rc) {
  fprintf(stderr, "mgrctl: %s: %s: %s\n", what, mgr_err_name(rc),
          *mgr_errmsg(M) ? mgr_errmsg(M) : mgr_strerror(rc));
  return 1;
}

/* A proxy for object ID (its kind read from the object list). */
static int open_id(const char *arg, mgr_proxy **out) {
  int64_t id;
  if (parse_index(arg, &id) < 0 || id < 1) {
    fprintf(stderr, "mgrctl: bad object id '%s'\n", arg);
    return 2;
  }
  mgr_value objs;
  int rc = mgr_objects(M, &objs);
  if (rc != MGR_OK) return op_error("ls", rc);
  int64_t kind = 0;
  for (size_t i = 0; i < objs.u.a.len; i++) {
    const mgr_value *o = &objs.u.a.items[i];
    if (o->u.a.items[0].u.i == id) kind = o->u.a.items[1].u.i;
  }
  mgr_value_free(&objs);
  if (!kind) {
    fprintf(stderr, "mgrctl: object %lld: MGR_ENOTFOUND: no such object\n",
            (long long)id);
    return 1;
  }
  mgr_value ref = mgr_nil();
  ref.type = MGR_T_REF;
  ref.u.ref.id = (uint64_t)id;
  ref.u.ref.kind = (uint32_t)kind;
  rc = mgr_proxy_from_value(M, &ref, out);
  return rc == MGR_OK ? 0 : op_error("retain", rc);
}

static int print_result(int rc, const char *what, mgr_value *v) {
  if (rc != MGR_OK) return op_error(what, rc);
  json_value(stdout, v);
  fputc('\n', stdout);
  mgr_value_free(v);
  return 0;
}

static int cmd_ls(int argc, char **argv) {
  bool json = argc == 1 && !strcmp(argv[0], "--json");
  if (argc > 1 || (argc == 1 && !json)) return usage();
  mgr_value objs;
  int rc = mgr_objects(M, &objs);
  if (rc != MGR_OK) return op_error("ls", rc);
  if (json) fputc('[', stdout);
  for (size_t i = 0; i < objs.u.a.len; i++) {
    const mgr_value *o = objs.u.a.items[i].u.a.items;
    const mgr_value *name = &o[2];
    if (json) {
      printf("%s{\"id\": %lld, \"kind\": \"%s\", \"name\": ", i ? ", " : "",
             (long long)o[0].u.i, kind_name(o[1].u.i));
      json_value(stdout, name);
      printf(", \"refs\": %lld}", (long long)o[3].u.i);
    } else {
      printf("%lld %s ", (long long)o[0].u.i, kind_name(o[1].u.i));
      if (name->type == MGR_T_TEXT)
        json_str(stdout, name->u.s.ptr, name->u.s.len);
      else
        fputs("-", stdout);
      printf(" %lld\n", (long long)o[3].u.i);
    }
  }
  if (json) fputs("]\n", stdout);
  mgr_value_free(&objs);
  return 0;
}

static int cmd_dump(const char *arg) {
  int64_t id;
  if (parse_index(arg, &id) < 0 || id < 1) {
    fprintf(stderr, "mgrctl: bad object id '%s'\n", arg);
    return 2;
  }
  mgr_value v;
  return print_result(mgr_dump(M, (uint64_t)id, &v), "dump", &v);
}

/* get/set/incr/del on one object; args after the ID. */
static int cmd_entry(const char *cmd, mgr_proxy *p, int argc, char **argv) {
  mgr_kind kind = mgr_proxy_kind(p);
  bool keyed = kind == MGR_K_DICT || kind == MGR_K_LIST;
  if (kind == MGR_K_LOCK || kind == MGR_K_RLOCK) {
    fprintf(stderr, "mgrctl: %s: a lock has no entries (use dump)\n", cmd);
    return 2;
  }
  int nkey = keyed ? 1 : 0;
  int want_min = nkey + (!strcmp(cmd, "set") ? 1 : 0);
  int want_max = want_min + (!strcmp(cmd, "incr") ? 1 : 0);
  if (!strcmp(cmd, "del") && !keyed) return usage();
  if (argc < want_min || argc > want_max) return usage();
  mgr_value key = mgr_nil(), val = mgr_int(1), out = mgr_nil();
  int64_t index = 0;
  if (kind == MGR_K_DICT && parse_literal(argv[0], 0, &key) < 0) return usage();
  if (kind == MGR_K_LIST && parse_index(argv[0], &index) < 0) {
    fprintf(stderr, "mgrctl: bad index '%s'\n", argv[0]);
    return 2;
  }
  if (argc > nkey && parse_literal(argv[nkey], 1, &val) < 0) return usage();
  int rc;
  if (!strcmp(cmd, "get")) {
    rc = kind == MGR_K_DICT   ? mgr_dict_get(p, &key, &out)
         : kind == MGR_K_LIST ? mgr_list_get(p, index, &out)
                              : mgr_var_get(p, &out);
    return print_result(rc, cmd, &out);
  }
  if (!strcmp(cmd, "incr")) {
    rc = kind == MGR_K_DICT   ? mgr_dict_incr(p, &key, &val, NULL, &out)
         : kind == MGR_K_LIST ? mgr_list_incr(p, index, &val, &out)
                              : mgr_var_incr(p, &val, NULL, &out);
    return print_result(rc, cmd, &out);
  }
  if (!strcmp(cmd, "set"))
    rc = kind == MGR_K_DICT   ? mgr_dict_set(p, &key, &val)
         : kind == MGR_K_LIST ? mgr_list_set(p, index, &val)
                              : mgr_var_set(p, &val);
  else
    rc = kind == MGR_K_DICT ? mgr_dict_del(p, &key) : mgr_list_del(p, index);
  if (rc != MGR_OK) return op_error(cmd, rc);
  puts("ok");
  return 0;
}

/* "--name VALUE" or "--name=VALUE" at argv[*i]: the value, or NULL. */
static const char *opt_value(int argc, char **argv, int *i, const char *name) {
  size_t n = strlen(name);
  if (strncmp(argv[*i], name, n)) return NULL;
  if (argv[*i][n] == '=') return argv[*i] + n + 1;
  if (argv[*i][n] == '\0' && *i + 1 < argc) return argv[++*i];
  return NULL;
}

int main(int argc, char **argv) {
  const char *address = NULL;
  mgr_options o;
  mgr_options_init(&o);
  int i = 1;
  for (; i < argc && argv[i][0] == '-' && argv[i][1] == '-'; i++) {
    const char *v;
    if ((v = opt_value(argc, argv, &i, "--address"))) {
      address = v;
    } else if ((v = opt_value(argc, argv, &i, "--authkey-file"))) {
      o.authkey_file = v;
    } else if ((v = opt_value(argc, argv, &i, "--tls-ca"))) {
      o.tls_ca = v;
    } else if ((v = opt_value(argc, argv, &i, "--tls-cert"))) {
      o.tls_cert = v;
    } else if ((v = opt_value(argc, argv, &i, "--tls-key"))) {
      o.tls_key = v;
    } else if ((v = opt_value(argc, argv, &i, "--tls-server-name"))) {
      o.tls_server_name = v;
    } else if (!strcmp(argv[i], "--help")) {
      usage();
      return 0;
    } else {
      break; /* a command's option (ls --json) */
    }
  }
  if (!address) address = getenv("MGR_ADDRESS");
  if (!address || i >= argc) return usage();
  const char *cmd = argv[i++];
  int nargs = argc - i;
  char **args = argv + i;
  static const char *const cmds[] = {"ping", "ls",   "stats", "dump",    "get",
                                     "set",  "incr", "del",   "shutdown"};
  bool known = false;
  for (size_t k = 0; k < sizeof cmds / sizeof cmds[0]; k++)
    if (!strcmp(cmd, cmds[k])) known = true;
  if (!known) return usage();

  int rc = mgr_connect(address, &o, &M);
  if (rc != MGR_OK) {
    fprintf(stderr, "mgrctl: cannot connect to %s: %s: %s\n", address,
            mgr_err_name(rc), mgr_errmsg(NULL));
    return 3;
  }
  int status;
  if (!strcmp(cmd, "ping")) {
    status = nargs ? usage() : (rc = mgr_ping(M)) ? op_error("ping", rc) : 0;
    if (!status) printf("pong %lld\n", (long long)mgr_server_pid(M));
  } else if (!strcmp(cmd, "ls")) {
    status = cmd_ls(nargs, args);
  } else if (!strcmp(cmd, "stats")) {
    mgr_value v;
    status = nargs ? usage() : print_result(mgr_stats(M, &v), "stats", &v);
  } else if (!strcmp(cmd, "dump")) {
    status = nargs == 1 ? cmd_dump(args[0]) : usage();
  } else if (!strcmp(cmd, "shutdown")) {
    if (nargs) {
      mgr_close(M);
      return usage();
    }
    rc = mgr_shutdown(M);
    if (rc != MGR_OK) {
      fprintf(stderr, "mgrctl: shutdown: %s\n", mgr_err_name(rc));
      return 1;
    }
    puts("ok");
    return 0;
  } else {
    mgr_proxy *p = NULL;
    if (nargs < 1) {
      status = usage();
    } else if ((status = open_id(args[0], &p)) == 0) {
      status = cmd_entry(cmd, p, nargs - 1, args + 1);
      mgr_release(p);
    }
  }
  mgr_close(M);
  return status;
}
