/*
 * crs.c - coordinate system names, conversions to and from WGS84, and metric helpers.
 *
 * EPSG conversions use one normalised (lon/lat) PROJ operation per target per thread, stored
 * in geoctx's slots so they die before the thread's PROJ context. GCJ-02 is written from the
 * published formula: an offset in pseudo-metres, a polynomial plus sines of the position
 * relative to (105E, 35N), turned into degrees with the Krasovsky 1940 ellipsoid's radii of
 * curvature. Its inverse is a fixed-point iteration, since the offset changes slowly.
 */
#include "crs.h"

#include "geoctx.h"
#include "log.h"

#include <geodesic.h>
#include <math.h>
#include <proj.h>
#include <pthread.h>
#include <stddef.h>
#include <strings.h>

/* ---------------------------------------------------------------------------------------- */
/* Names                                                                                     */

struct crs_name {
    const char *name;
    enum crs crs;
    bool lat_first;
};

static const struct crs_name crs_names[] = {
    { "EPSG:4326", CRS_WGS84, false },
    { "CRS84", CRS_WGS84, false },
    { "OGC:CRS84", CRS_WGS84, false },
    { "WGS84", CRS_WGS84, false },
    { "WGS 84", CRS_WGS84, false },
    { "http://www.opengis.net/def/crs/OGC/1.3/CRS84", CRS_WGS84, false },
    { "urn:ogc:def:crs:OGC:1.3:CRS84", CRS_WGS84, false },
    { "urn:ogc:def:crs:OGC::CRS84", CRS_WGS84, false },
    { "http://www.opengis.net/def/crs/EPSG/0/4326", CRS_WGS84, true },
    { "urn:ogc:def:crs:EPSG::4326", CRS_WGS84, true },
    { "EPSG:4490", CRS_CGCS2000, false },
    { "CGCS2000", CRS_CGCS2000, false },
    { "http://www.opengis.net/def/crs/EPSG/0/4490", CRS_CGCS2000, true },
    { "urn:ogc:def:crs:EPSG::4490", CRS_CGCS2000, true },
    { "EPSG:3857", CRS_WEB_MERCATOR, false },
    { "EPSG:900913", CRS_WEB_MERCATOR, false },
    { "http://www.opengis.net/def/crs/EPSG/0/3857", CRS_WEB_MERCATOR, false },
    { "urn:ogc:def:crs:EPSG::3857", CRS_WEB_MERCATOR, false },
    { "gcj02", CRS_GCJ02, false },
    { "gcj-02", CRS_GCJ02, false },
    { "gcj_02", CRS_GCJ02, false },
};

static const char *const crs_uris[CRS__COUNT] = {
    [CRS_WGS84] = "http://www.opengis.net/def/crs/OGC/1.3/CRS84",
    [CRS_CGCS2000] = "http://www.opengis.net/def/crs/EPSG/0/4490",
    [CRS_WEB_MERCATOR] = "http://www.opengis.net/def/crs/EPSG/0/3857",
    [CRS_GCJ02] = "gcj02",
};

/* True when name equals entry, ignoring case; "https://" matches an entry's "http://". */
static bool crs_name_equal(const char *name, const char *entry)
{
    if (strncasecmp(name, "https://", 8) == 0 && strncasecmp(entry, "http://", 7) == 0)
        return strcasecmp(name + 8, entry + 7) == 0;
    return strcasecmp(name, entry) == 0;
}

static const struct crs_name *crs_lookup(const char *name)
{
    if (name == NULL)
        return NULL;
    for (size_t i = 0; i < sizeof(crs_names) / sizeof(crs_names[0]); i++) {
        if (crs_name_equal(name, crs_names[i].name))
            return &crs_names[i];
    }
    return NULL;
}

int crs_parse(const char *name, enum crs *out)
{
    const struct crs_name *n = crs_lookup(name);
    if (n == NULL)
        return -1;
    *out = n->crs;
    return 0;
}

bool crs_axis_lat_first(const char *name)
{
    const struct crs_name *n = crs_lookup(name);
    return n != NULL && n->lat_first;
}

const char *crs_uri(enum crs c)
{
    if ((unsigned)c >= CRS__COUNT)
        return "unknown";
    return crs_uris[c];
}

/* ---------------------------------------------------------------------------------------- */
/* GCJ-02                                                                                    */

#define GCJ_A        6378245.0                /* Krasovsky 1940 semi-major axis, metres */
#define GCJ_EE       0.00669342162296594323   /* its first eccentricity squared */
#define GCJ_PI       3.1415926535897932384626 /* the formula's pi */
#define GCJ_EPS      1e-7                     /* inverse: forward within this many degrees */
#define GCJ_MAX_ITER 30

static bool gcj_in_china(double lon, double lat)
{
    return lon >= 72.004 && lon <= 137.8347 && lat >= 0.8293 && lat <= 55.8271;
}

/* The periodic terms shared by both offsets, for u = longitude - 105. */
static double gcj_wave(double u)
{
    return (20.0 * sin(6.0 * u * GCJ_PI) + 20.0 * sin(2.0 * u * GCJ_PI)) * 2.0 / 3.0;
}

/* Northward offset in pseudo-metres at (u, v) = (lon - 105, lat - 35). */
static double gcj_north(double u, double v)
{
    double d = -100.0 + 2.0 * u + 3.0 * v + 0.2 * v * v + 0.1 * u * v + 0.2 * sqrt(fabs(u));
    d += gcj_wave(u);
    d += (20.0 * sin(v * GCJ_PI) + 40.0 * sin(v / 3.0 * GCJ_PI)) * 2.0 / 3.0;
    d += (160.0 * sin(v / 12.0 * GCJ_PI) + 320.0 * sin(v / 30.0 * GCJ_PI)) * 2.0 / 3.0;
    return d;
}

/* Eastward offset in pseudo-metres at (u, v). */
static double gcj_east(double u, double v)
{
    double d = 300.0 + u + 2.0 * v + 0.1 * u * u + 0.1 * u * v + 0.1 * sqrt(fabs(u));
    d += gcj_wave(u);
    d += (20.0 * sin(u * GCJ_PI) + 40.0 * sin(u / 3.0 * GCJ_PI)) * 2.0 / 3.0;
    d += (150.0 * sin(u / 12.0 * GCJ_PI) + 300.0 * sin(u / 30.0 * GCJ_PI)) * 2.0 / 3.0;
    return d;
}

/* The offset (degrees) added to a WGS84 position inside China. */
static void gcj_offset(double lon, double lat, double *dlon, double *dlat)
{
    double u = lon - 105.0, v = lat - 35.0;
    double phi = lat / 180.0 * GCJ_PI;
    double s = sin(phi);
    double w2 = 1.0 - GCJ_EE * s * s;
    double w = sqrt(w2);
    double m = GCJ_A * (1.0 - GCJ_EE) / (w2 * w); /* meridian radius of curvature */
    double n = GCJ_A / w;                         /* prime vertical radius of curvature */
    *dlat = gcj_north(u, v) * 180.0 / (m * GCJ_PI);
    *dlon = gcj_east(u, v) * 180.0 / (n * cos(phi) * GCJ_PI);
}

void crs_gcj02_forward(double lon, double lat, double *glon, double *glat)
{
    if (!gcj_in_china(lon, lat)) {
        *glon = lon;
        *glat = lat;
        return;
    }
    double dlon, dlat;
    gcj_offset(lon, lat, &dlon, &dlat);
    *glon = lon + dlon;
    *glat = lat + dlat;
}

int crs_gcj02_inverse(double glon, double glat, double *lon, double *lat)
{
    *lon = glon;
    *lat = glat;
    if (!gcj_in_china(glon, glat))
        return 0;
    /* x = g - offset(x): the offset's slope is ~1e-4 per degree, so each step gains digits. */
    double x = glon, y = glat, best_x = glon, best_y = glat, best = INFINITY;
    for (int i = 1; i <= GCJ_MAX_ITER; i++) {
        double fx, fy;
        crs_gcj02_forward(x, y, &fx, &fy);
        double ex = fx - glon, ey = fy - glat;
        double e = fmax(fabs(ex), fabs(ey));
        if (e < best) {
            best = e;
            best_x = x;
            best_y = y;
        }
        if (e < GCJ_EPS) {
            *lon = x;
            *lat = y;
            return i;
        }
        x -= ex;
        y -= ey;
    }
    *lon = best_x;
    *lat = best_y;
    return -1;
}

/* ---------------------------------------------------------------------------------------- */
/* PROJ                                                                                      */

/* This thread's lon/lat operation from WGS84 to target, created on first use. */
static PJ *crs_operation(enum geoctx_pj slot, const char *target)
{
    PJ **cached = geoctx_pj_slot(slot);
    if (cached == NULL)
        return NULL;
    if (*cached != NULL)
        return *cached;
    PJ_CONTEXT *ctx = geoctx_proj();
    if (ctx == NULL)
        return NULL;
    PJ *raw = proj_create_crs_to_crs(ctx, "EPSG:4326", target, NULL);
    if (raw == NULL) {
        log_error("crs: no PROJ operation EPSG:4326 -> %s", target);
        return NULL;
    }
    PJ *norm = proj_normalize_for_visualization(ctx, raw);
    proj_destroy(raw);
    if (norm == NULL) {
        log_error("crs: cannot normalise EPSG:4326 -> %s", target);
        return NULL;
    }
    *cached = norm;
    return norm;
}

static int crs_proj(enum crs c, PJ_DIRECTION dir, double *x, double *y)
{
    PJ *op = c == CRS_CGCS2000 ? crs_operation(GEOCTX_PJ_CGCS2000, "EPSG:4490")
                               : crs_operation(GEOCTX_PJ_WEBMERC, "EPSG:3857");
    if (op == NULL)
        return -1;
    PJ_COORD out = proj_trans(op, dir, proj_coord(*x, *y, 0, 0));
    if (!isfinite(out.xy.x) || !isfinite(out.xy.y))
        return -1;
    *x = out.xy.x;
    *y = out.xy.y;
    return 0;
}

/* Half the equator of the Web Mercator sphere: eastings beyond it are not on the map. */
#define WEBMERC_MAX_X 20037508.342789244

static int crs_convert(enum crs c, bool to_wgs84, double *x, double *y)
{
    if (!isfinite(*x) || !isfinite(*y))
        return -1;
    /* PROJ would wrap such eastings around the world; a client sending them has a bug. */
    if (c == CRS_WEB_MERCATOR && to_wgs84 && fabs(*x) > WEBMERC_MAX_X * (1.0 + 1e-12))
        return -1;
    switch (c) {
    case CRS_WGS84:
        return 0;
    case CRS_CGCS2000:
    case CRS_WEB_MERCATOR:
        return crs_proj(c, to_wgs84 ? PJ_INV : PJ_FWD, x, y);
    case CRS_GCJ02:
        if (to_wgs84)
            crs_gcj02_inverse(*x, *y, x, y);
        else
            crs_gcj02_forward(*x, *y, x, y);
        return 0;
    case CRS__COUNT:
        break;
    }
    return -1;
}

int crs_to_wgs84(enum crs c, double *x, double *y)
{
    return crs_convert(c, true, x, y);
}

int crs_from_wgs84(enum crs c, double *x, double *y)
{
    return crs_convert(c, false, x, y);
}

/* ---------------------------------------------------------------------------------------- */
/* Geometries                                                                                */

struct crs_pair {
    enum crs from, to;
};

static int crs_transform_xy(double *x, double *y, void *userdata)
{
    const struct crs_pair *p = userdata;
    double tx = *x, ty = *y;
    if (crs_to_wgs84(p->from, &tx, &ty) != 0 || crs_from_wgs84(p->to, &tx, &ty) != 0)
        return 0;
    *x = tx;
    *y = ty;
    return 1;
}

GEOSGeometry *crs_transform_geometry(GEOSContextHandle_t h, const GEOSGeometry *in, enum crs from,
                                     enum crs to)
{
    if ((unsigned)from >= CRS__COUNT || (unsigned)to >= CRS__COUNT)
        return NULL;
    if (from == to)
        return GEOSGeom_clone_r(h, in);
    struct crs_pair p = { from, to };
    return GEOSGeom_transformXY_r(h, in, crs_transform_xy, &p);
}

/* ---------------------------------------------------------------------------------------- */
/* Metric                                                                                    */

#define WGS84_A  6378137.0
#define WGS84_F  (1.0 / 298.257223563)
#define WGS84_E2 (WGS84_F * (2.0 - WGS84_F))

void crs_local_metric(double lon0, double lat0, struct local_metric *m)
{
    double phi = lat0 * M_PI / 180.0;
    double s = sin(phi);
    double w2 = 1.0 - WGS84_E2 * s * s;
    double w = sqrt(w2);
    double mr = WGS84_A * (1.0 - WGS84_E2) / (w2 * w); /* meridian radius */
    double nr = WGS84_A / w;                           /* prime vertical radius */
    m->lon0 = lon0;
    m->lat0 = lat0;
    m->my = mr * M_PI / 180.0;
    m->mx = nr * cos(phi) * M_PI / 180.0;
}

double crs_local_distance(const struct local_metric *m, double lon1, double lat1, double lon2,
                          double lat2)
{
    return hypot((lon2 - lon1) * m->mx, (lat2 - lat1) * m->my);
}

void crs_local_to_xy(const struct local_metric *m, double lon, double lat, double *x, double *y)
{
    *x = (lon - m->lon0) * m->mx;
    *y = (lat - m->lat0) * m->my;
}

void crs_local_from_xy(const struct local_metric *m, double x, double y, double *lon, double *lat)
{
    *lon = m->lon0 + x / m->mx;
    *lat = m->lat0 + y / m->my;
}

static struct geod_geodesic crs_geod;
static pthread_once_t crs_geod_once = PTHREAD_ONCE_INIT;

static void crs_geod_init(void)
{
    geod_init(&crs_geod, WGS84_A, WGS84_F);
}

double crs_geodesic_distance(double lon1, double lat1, double lon2, double lat2)
{
    pthread_once(&crs_geod_once, crs_geod_init);
    double s12 = 0.0;
    geod_inverse(&crs_geod, lat1, lon1, lat2, lon2, &s12, NULL, NULL);
    return s12;
}
