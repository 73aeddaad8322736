/*
 * geoctx.h - per-thread GEOS and PROJ contexts. GEOS is used only through its reentrant
 * (_r) API and PROJ through explicit contexts; each thread gets its own of each, created on
 * first use and destroyed when the thread exits.
 */
#ifndef PATROL_GEOCTX_H
#define PATROL_GEOCTX_H

#include <geos_c.h>
#include <proj.h>

/* This thread's GEOS handle, or NULL when out of memory. Borrowed: do not finish it. */
GEOSContextHandle_t geoctx_geos(void);

/* This thread's PROJ context, or NULL when out of memory. Borrowed: do not destroy it. */
PJ_CONTEXT *geoctx_proj(void);

/*
 * This thread's cached PROJ operations, one slot per user (crs.c), NULL until that user stores
 * a PJ made in geoctx_proj()'s context. geoctx owns what is stored: it is proj_destroy'ed before
 * the context when the thread's contexts are released, so no PJ outlives its context. Returns
 * the slot, or NULL when out of memory. Borrowed.
 */
enum geoctx_pj { GEOCTX_PJ_CGCS2000, GEOCTX_PJ_WEBMERC, GEOCTX_PJ__COUNT };
PJ **geoctx_pj_slot(enum geoctx_pj slot);

/* Releases the calling thread's contexts now (they are also released at thread exit). */
void geoctx_release(void);

#endif
