/*
 * api.h - each API file registers its route table here. Adding an area of the API means a
 * new api_<area>.c with its routes and one line in main.c. (OGC API - Features registers
 * through ogcapi.h.)
 */
#ifndef PATROL_API_H
#define PATROL_API_H

#include "err.h"

struct router;

/* /healthz, /readyz, /metrics, /api/openapi.json, /api/v1/me */
enum err api_core_register(struct router *rt);

/* /api/v1/users, /api/v1/tokens, /api/v1/devices (admin) */
enum err api_admin_register(struct router *rt);

/* /api/v1/reports/...: venues, waters and risky roads near schools; inspections missing */
enum err api_reports_register(struct router *rt);

/* /api/v1/osmand, /api/v1/positions, /api/v1/devices/{id}/gpx, /api/v1/positions/latest */
enum err api_ingest_register(struct router *rt);

/* /api/v1/checkins, /api/v1/visits, /api/v1/events(/stream), /api/v1/devices/{id}/track,
 * /api/v1/reports/checkins, /api/v1/reports/presence */
enum err api_checkins_register(struct router *rt);

#endif
