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

/* Releases the calling thread's contexts now (they are also released at thread exit). */
void geoctx_release(void);

#endif
