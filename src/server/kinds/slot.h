/* mgr — the rules of a value slot that several kinds share (spec 11): the
 * numbers of atomic increment and compare-and-swap, so that no kind calls
 * another kind. */
#ifndef MGRI_SERVER_SLOT_H
#define MGRI_SERVER_SLOT_H

#include "server/core.h"

/* *out = cur + delta by the rules of spec 11.1: int + int checked for
 * overflow, any float makes a float, bool is not a number here. MGR_OK, or
 * TYPE / OVERFLOW (message set). */
int mgri_num_add(mgri_octx *x, const mgr_value *cur, const mgr_value *delta,
                 mgr_value *out);
/* Compare-and-swap of a value slot held by o (spec 11.2): x->result becomes
 * [swapped, current]. */
int mgri_cas_slot(mgri_octx *x, mgri_obj *o, mgr_value *slot,
                  const mgr_value *expected, const mgr_value *desired);
/* x->result = [swapped, current] (in scratch). */
int mgri_cas_result(mgri_octx *x, bool swapped, const mgr_value *current);

#endif
