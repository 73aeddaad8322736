/*
 * ogcapi.h - the town's layers over OGC API - Features: the routes and their options. The
 * layer catalog is layerdef.h.
 */
#ifndef PATROL_OGCAPI_H
#define PATROL_OGCAPI_H

#include <stdbool.h>

#include "err.h"

struct router;

/* Rules of edited features, from the settings (config.c builds it). */
struct ogcapi_options {
    bool has_town_bbox;  /* --town-bbox was set */
    double town_bbox[4]; /* minlon, minlat, maxlon, maxlat: edited geometries must lie inside */
};

/* OGC API - Features: /, /conformance, /collections/... (layers, Part 4 writes) */
enum err api_features_register(struct router *rt);

#endif
