/*
 * geoctx.c - thread-local GEOS and PROJ contexts with destructors on thread exit.
 */
#include "geoctx.h"

#include "log.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

struct geoctx {
    GEOSContextHandle_t geos;
    PJ_CONTEXT *proj;
    PJ *pj[GEOCTX_PJ__COUNT]; /* made in proj; destroyed before it */
};

static pthread_key_t geoctx_key;
static pthread_once_t geoctx_once = PTHREAD_ONCE_INIT;

static void geoctx_destroy(void *p)
{
    struct geoctx *g = p;
    if (g == NULL)
        return;
    if (g->geos != NULL)
        GEOS_finish_r(g->geos);
    for (int i = 0; i < GEOCTX_PJ__COUNT; i++)
        proj_destroy(g->pj[i]);
    if (g->proj != NULL)
        proj_context_destroy(g->proj);
    free(g);
}

static void geoctx_init_key(void)
{
    pthread_key_create(&geoctx_key, geoctx_destroy);
}

static void geos_notice(const char *msg, void *userdata)
{
    (void)userdata;
    log_debug("geos: %s", msg);
}

static void proj_notice(void *userdata, int level, const char *msg)
{
    (void)userdata;
    (void)level;
    log_debug("proj: %s", msg);
}

static struct geoctx *geoctx_get(void)
{
    pthread_once(&geoctx_once, geoctx_init_key);
    struct geoctx *g = pthread_getspecific(geoctx_key);
    if (g != NULL)
        return g;
    g = calloc(1, sizeof(*g));
    if (g == NULL)
        return NULL;
    pthread_setspecific(geoctx_key, g);
    return g;
}

GEOSContextHandle_t geoctx_geos(void)
{
    struct geoctx *g = geoctx_get();
    if (g == NULL)
        return NULL;
    if (g->geos == NULL) {
        g->geos = GEOS_init_r();
        if (g->geos != NULL) {
            /* Errors are read through return values; messages only go to the debug log. */
            GEOSContext_setNoticeMessageHandler_r(g->geos, geos_notice, NULL);
            GEOSContext_setErrorMessageHandler_r(g->geos, geos_notice, NULL);
        }
    }
    return g->geos;
}

PJ_CONTEXT *geoctx_proj(void)
{
    struct geoctx *g = geoctx_get();
    if (g == NULL)
        return NULL;
    if (g->proj == NULL) {
        g->proj = proj_context_create();
        /* PROJ reports refused positions on stderr by default; they are return values here. */
        if (g->proj != NULL)
            proj_log_func(g->proj, NULL, proj_notice);
    }
    return g->proj;
}

PJ **geoctx_pj_slot(enum geoctx_pj slot)
{
    if ((unsigned)slot >= GEOCTX_PJ__COUNT)
        return NULL;
    struct geoctx *g = geoctx_get();
    if (g == NULL)
        return NULL;
    return &g->pj[slot];
}

void geoctx_release(void)
{
    pthread_once(&geoctx_once, geoctx_init_key);
    struct geoctx *g = pthread_getspecific(geoctx_key);
    geoctx_destroy(g);
    pthread_setspecific(geoctx_key, NULL);
}
