/* mgr packaging check — a consumer built against the INSTALLED package, once
 * through find_package(mgr) and once through pkg-config. It starts a manager,
 * shares a counter and prints the result. */
#include <mgr/mgr.h>
#include <stdio.h>

int main(void) {
  mgr_client *m;
  mgr_proxy *v;
  int64_t now = 0;
  mgr_value zero = mgr_int(0);
  if (mgr_version() != MGR_VERSION_HEX) return 1;
  if (mgr_start(NULL, &m) != MGR_OK) return 2;
  if (mgr_var_new(m, &zero, &v) != MGR_OK) return 3;
  for (int i = 0; i < 3; i++)
    if (mgr_var_incr_int(v, 1, &now) != MGR_OK) return 4;
  mgr_release(v);
  if (mgr_shutdown(m) != MGR_OK) return 5;
  printf("consumer: mgr %s, counter = %lld\n", mgr_version_string(),
         (long long)now);
  return now == 3 ? 0 : 6;
}
