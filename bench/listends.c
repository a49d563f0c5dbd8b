/* bench — list ends (issue 15): the cost of a pair of list operations at the
 * ends of a shared list of n items, n = 1e3 .. 1e6, one client:
 *   front  l.insert(0, x); l.pop(0)
 *   queue  l.append(x); l.pop(0)       (FIFO: the list stays n long)
 *   back   l.append(x); l.pop()        (the end that was always O(1))
 * mgr through its public API (a list proxy of mgr_start()'s manager), and,
 * with --python, Python's multiprocessing.Manager() list (listends.py) at the
 * same sizes, run in rotation with mgr so both see the same load.
 *
 * usage: bench_listends [--sizes 1000,10000,100000,1000000] [--pairs N]
 *                       [--block B] [--reps R] [--only front,queue,back]
 *                       [--python]
 * Every list is made first (one per size); a repetition of a workload then
 * runs N pairs (default 2000) on each, in blocks of B pairs (default 50) that
 * go round the sizes, so every size sees the same load (this VM's 2 cores
 * are shared) and the ratio between two sizes is taken within one
 * repetition; a size's cost in a repetition is the median over its blocks.
 * Python runs a tenth of the pairs in blocks of a tenth (its front is O(n)).
 * Lines (stdout):
 *   listends,<contender>,<workload>,<n>,<rep>,<us_per_pair>
 * then a summary: the median over the repetitions of the µs per pair for
 * each (contender, workload, n), and the ratio of the largest n to the
 * smallest: the median of the per-repetition ratios, with their min–max. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "mgr/mgr.h"

#define MAXSIZES 8
#define MAXREPS 32
enum { W_FRONT, W_QUEUE, W_BACK, W_N };
static const char *const wnames[W_N] = {"front", "queue", "back"};
enum { C_MGR, C_PY, C_N };
static const char *const cnames[C_N] = {"mgr", "python"};

static double now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static void die(const char *what, mgr_client *m, int e) {
  fprintf(stderr, "bench_listends: %s: %s %s\n", what, mgr_err_name(e),
          m ? mgr_errmsg(m) : "");
  exit(1);
}

/* A list of n ints (0 .. 999 repeated): 1000 in the CREATE, then imul. */
static mgr_proxy *make_list(mgr_client *m, long n) {
  static mgr_value items[1000];
  long k = n < 1000 ? n : 1000;
  for (long i = 0; i < k; i++)
    items[i] = mgr_int(i);
  mgr_value init = mgr_array(items, (size_t)k);
  mgr_proxy *l;
  int e = mgr_list_new(m, &init, &l);
  if (e) die("list_new", m, e);
  if (n > 1000 && (e = mgr_list_imul(l, n / 1000))) die("list_imul", m, e);
  size_t len = 0;
  if ((e = mgr_list_len(l, &len)) ||
      (long)len != (n > 1000 ? n / 1000 * 1000 : n))
    die("list_len", m, e);
  return l;
}

static void pair(mgr_client *m, mgr_proxy *l, int w, long i) {
  /* front and back pop what they put; queue what was first (the list keeps
   * its length either way) */
  mgr_value x = mgr_int(i), out;
  int e = w == W_FRONT ? mgr_list_insert(l, 0, &x) : mgr_list_append(l, &x);
  if (e) die("insert/append", m, e);
  if ((e = mgr_list_pop(l, w == W_BACK ? -1 : 0, &out))) die("pop", m, e);
  if (w != W_QUEUE && (out.type != MGR_T_INT || out.u.i != i))
    die("pop: wrong item", m, 0);
  mgr_value_free(&out);
}

/* One repetition of workload w for every size: the lists already hold their
 * items; blocks of `block` pairs go round the sizes (the first one
 * rotating), so that every size sees the same load over the repetition.
 * us[s] gets the median over the blocks of the µs per pair at size s (a
 * block that another process's burst of work delayed does not move it). */
static int cmpd(const void *a, const void *b);
static double median(double *v, int n);
#define MAXBLOCKS 4096
static void run_mgr(mgr_client *m, mgr_proxy **lists, int nsizes, int w,
                    long pairs, long block, int first, double *us) {
  static double t[MAXSIZES][MAXBLOCKS];
  int nb = 0;
  for (int s = 0; s < nsizes; s++)
    for (long i = 0; i < 50; i++)
      pair(m, lists[s], w, i); /* warm-up */
  for (long done = 0; done < pairs && nb < MAXBLOCKS; done += block, nb++) {
    long b = pairs - done < block ? pairs - done : block;
    for (int j = 0; j < nsizes; j++) {
      int s = (j + first) % nsizes;
      double t0 = now();
      for (long i = 0; i < b; i++)
        pair(m, lists[s], w, done + i);
      t[s][nb] = (now() - t0) * 1e6 / (double)b;
    }
  }
  for (int s = 0; s < nsizes; s++)
    us[s] = median(t[s], nb);
}

/* The same by listends.py (one line per size: "<n> <us_per_pair>"). */
static int run_py(const long *sizes, int nsizes, int w, long pairs, long block,
                  int first, double *us) {
  char cmd[1024];
  int k =
      snprintf(cmd, sizeof cmd, "/usr/bin/python3 %s/listends.py %s %ld %ld %d",
               BENCH_SOURCE_DIR, wnames[w], pairs, block, first);
  for (int s = 0; s < nsizes; s++)
    k += snprintf(cmd + k, sizeof cmd - (size_t)k, " %ld", sizes[s]);
  FILE *f = popen(cmd, "r");
  if (!f) return -1;
  char line[256];
  int got = 0;
  while (fgets(line, sizeof line, f)) {
    char *p;
    long n = strtol(line, &p, 10);
    double v = strtod(p, NULL);
    for (int s = 0; s < nsizes; s++)
      if (sizes[s] == n) us[s] = v, got++;
  }
  if (pclose(f) != 0 || got != nsizes) return -1;
  return 0;
}

static int cmpd(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return (x > y) - (x < y);
}
static double median(double *v, int n) {
  qsort(v, (size_t)n, sizeof *v, cmpd);
  return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

int main(int argc, char **argv) {
  long sizes[MAXSIZES] = {1000, 10000, 100000, 1000000};
  int nsizes = 4, reps = 5;
  long pairs = 2000, block = 50;
  bool python = false, on[W_N] = {true, true, true};
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
    if (!strcmp(a, "--python")) {
      python = true;
    } else if (!strcmp(a, "--sizes") && v) {
      nsizes = 0;
      for (char *p = (char *)v; *p && nsizes < MAXSIZES; p++) {
        sizes[nsizes++] = strtol(p, &p, 10);
        if (!*p) break;
      }
      i++;
    } else if (!strcmp(a, "--pairs") && v) {
      pairs = atol(v), i++;
    } else if (!strcmp(a, "--block") && v) {
      block = atol(v), i++;
    } else if (!strcmp(a, "--reps") && v) {
      reps = atoi(v), i++;
    } else if (!strcmp(a, "--only") && v) {
      for (int w = 0; w < W_N; w++)
        on[w] = strstr(v, wnames[w]) != NULL;
      i++;
    } else {
      fprintf(stderr,
              "usage: %s [--sizes N,N..] [--pairs N] [--block B] [--reps R] "
              "[--only front,queue,back] [--python]\n",
              argv[0]);
      return 2;
    }
  }
  if (reps < 1 || reps > MAXREPS || pairs < 1 || block < 1 || nsizes < 1)
    return 2;
  mgr_client *m;
  int e = mgr_start(NULL, &m);
  if (e) die("mgr_start", NULL, e);
  mgr_proxy *lists[MAXSIZES];
  for (int s = 0; s < nsizes; s++)
    lists[s] = make_list(m, sizes[s]);
  static double us[C_N][W_N][MAXSIZES][MAXREPS];
  int k = 0;
  for (int r = 0; r < reps; r++) {
    fprintf(stderr, "== repetition %d/%d\n", r + 1, reps);
    for (int w = 0; w < W_N; w++) {
      if (!on[w]) continue;
      /* mgr and Python back to back, the order alternating. Python's front
       * is O(n): a tenth of the pairs, in blocks of a tenth. */
      k++;
      for (int j = 0; j < C_N; j++) {
        int c = (j + k) % C_N;
        double v[MAXSIZES];
        if (c == C_MGR) {
          run_mgr(m, lists, nsizes, w, pairs, block, k % nsizes, v);
        } else {
          if (!python) continue;
          long pp = pairs / 10 > 0 ? pairs / 10 : 1,
               pb = block / 10 > 0 ? block / 10 : 1;
          if (run_py(sizes, nsizes, w, pp, pb, k % nsizes, v)) {
            fprintf(stderr, "bench_listends: listends.py failed\n");
            return 1;
          }
        }
        for (int s = 0; s < nsizes; s++) {
          us[c][w][s][r] = v[s];
          printf("listends,%s,%s,%ld,%d,%.2f\n", cnames[c], wnames[w], sizes[s],
                 r + 1, v[s]);
        }
        fflush(stdout);
      }
    }
  }
  for (int s = 0; s < nsizes; s++)
    mgr_release(lists[s]);
  printf("\n%-7s %-6s", "who", "ends");
  for (int s = 0; s < nsizes; s++)
    printf(" %9ld", sizes[s]);
  printf("   (median us per pair)  n=%ld/n=%ld: median [min-max]\n",
         sizes[nsizes - 1], sizes[0]);
  for (int c = 0; c < C_N; c++) {
    if (c == C_PY && !python) continue;
    for (int w = 0; w < W_N; w++) {
      if (!on[w]) continue;
      printf("%-7s %-6s", cnames[c], wnames[w]);
      for (int s = 0; s < nsizes; s++) {
        double v[MAXREPS];
        memcpy(v, us[c][w][s], sizeof(double) * (size_t)reps);
        printf(" %9.1f", median(v, reps));
      }
      double ratio[MAXREPS];
      for (int r = 0; r < reps; r++)
        ratio[r] = us[c][w][nsizes - 1][r] / us[c][w][0][r];
      double med = median(ratio, reps); /* sorts ratio */
      printf("   %.2fx [%.2f-%.2f]\n", med, ratio[0], ratio[reps - 1]);
    }
  }
  mgr_shutdown(m);
  return 0;
}
