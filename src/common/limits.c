/* mgr — the default limits (the numbers themselves live in limits.h). */
#include "common/limits.h"

void mgri_limits_default(mgri_limits *lim) {
  lim->frame_max = MGRI_FRAME_MAX_DEFAULT;
  lim->depth_max = MGRI_DEPTH_MAX;
  lim->items_max = MGRI_ITEMS_MAX_DEFAULT;
  lim->borrow_min = 0;
}
