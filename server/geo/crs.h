/*
 * crs.h - the coordinate systems patrold speaks, and metres on the ground.
 *
 * Everything is stored in WGS84 (lon/lat degrees). Clients may send or ask for CGCS2000
 * (EPSG:4490), Web Mercator (EPSG:3857) or GCJ-02 (the offset "Mars" coordinates of Chinese
 * web maps). EPSG systems go through PROJ with one cached operation per thread (kept in
 * geoctx); GCJ-02 through the public Krasovsky-ellipsoid offset formula and an iterated
 * inverse. Axis order is always x = east (lon or easting), y = north (lat or northing),
 * whatever the EPSG definition says; see crs_axis_lat_first for OGC API requests.
 *
 * Also the metric helpers the geofence and routing code use: metres per degree at a latitude
 * (for fast local planar distances) and the exact geodesic distance on WGS84 (for reference).
 * This file knows nothing of HTTP or the database.
 */
#ifndef PATROL_CRS_H
#define PATROL_CRS_H

#include <geos_c.h>
#include <stdbool.h>

enum crs {
    CRS_WGS84 = 0,    /* EPSG:4326 / OGC CRS84, lon/lat degrees: the default and the store */
    CRS_CGCS2000,     /* EPSG:4490, lon/lat degrees (China Geodetic Coordinate System 2000) */
    CRS_WEB_MERCATOR, /* EPSG:3857, metres */
    CRS_GCJ02,        /* GCJ-02, lon/lat degrees offset by the public formula inside China */
    CRS__COUNT
};

/*
 * Parses a CRS name as clients send it: "EPSG:4326", "http://www.opengis.net/def/crs/OGC/1.3/
 * CRS84", "http://www.opengis.net/def/crs/EPSG/0/4490", "urn:ogc:def:crs:EPSG::3857",
 * "gcj02"/"GCJ-02", "wgs84", "cgcs2000"... (case-insensitive; https URIs accepted too).
 * Returns 0 with *out set, or -1 (NULL or unknown name; *out untouched).
 */
int crs_parse(const char *name, enum crs *out);

/*
 * True when name (a form crs_parse accepts) is an EPSG URI or URN of a geographic CRS, whose
 * authoritative axis order is latitude first. OGC API - Features Part 2 requires coordinates
 * in that order when a client asks for such a CRS, so the HTTP layer swaps x and y around
 * the functions below. Short forms ("EPSG:4326", as in our ingest API), CRS84, GCJ-02 and
 * EPSG:3857 are lon/lat (east/north).
 */
bool crs_axis_lat_first(const char *name);

/* The OGC URI of a CRS (for Content-Crs headers), "gcj02" for GCJ-02. Static; never NULL. */
const char *crs_uri(enum crs c);

/*
 * Converts one position in place from crs c to WGS84 / from WGS84 to crs c. Returns 0, or -1
 * when c is unknown, an input is not finite, PROJ has no context or operation (out of memory)
 * or refuses the position (a latitude past ±90 into Web Mercator), or a Web Mercator easting
 * is past ±20037508.34 m (PROJ would wrap it); *x and *y are then unchanged. Thread-safe: PROJ
 * objects are per thread. GCJ-02 is the identity outside China's rough box (lon 72.004 to
 * 137.8347, lat 0.8293 to 55.8271); its inverse iterates to within 1e-7 degrees (about 1 cm;
 * on the box's very edge, where the offset jumps, the best estimate is kept).
 */
int crs_to_wgs84(enum crs c, double *x, double *y);
int crs_from_wgs84(enum crs c, double *x, double *y);

/*
 * The GCJ-02 formula itself on lon/lat degrees: forward (WGS84 -> GCJ-02) and the iterated
 * inverse. Pure functions; crs_to_wgs84/crs_from_wgs84 call them for CRS_GCJ02. The inverse
 * returns the number of iterations used (0 outside China), or -1 when it did not converge
 * within 30 iterations (possible only on the box's edge, where the offset jumps); the best
 * estimate is stored either way.
 */
void crs_gcj02_forward(double lon, double lat, double *glon, double *glat);
int crs_gcj02_inverse(double glon, double glat, double *lon, double *lat);

/*
 * A new geometry: in with every coordinate converted from crs `from` to crs `to` (through
 * WGS84; a clone when they are the same), or NULL when a position cannot be converted or GEOS
 * fails. in is borrowed; the result is new (GEOSGeom_destroy_r). Z values are kept untouched.
 */
GEOSGeometry *crs_transform_geometry(GEOSContextHandle_t h, const GEOSGeometry *in, enum crs from,
                                     enum crs to);

/*
 * Metres per degree around (lon0, lat0) on the WGS84 ellipsoid: x from the prime vertical
 * radius of curvature N cos(lat), y from the meridian radius M. Good for planar distances up
 * to a few kilometres (error below 0.1 % at 5 km in China's latitudes).
 */
struct local_metric {
    double lon0, lat0; /* the origin, degrees */
    double mx, my;     /* metres per degree of longitude / latitude at lat0 */
};

void crs_local_metric(double lon0, double lat0, struct local_metric *m);

/* Planar distance in metres between two lon/lat positions under metric m. */
double crs_local_distance(const struct local_metric *m, double lon1, double lat1, double lon2,
                          double lat2);

/* Projects lon/lat to metres east/north of m's origin, and back. */
void crs_local_to_xy(const struct local_metric *m, double lon, double lat, double *x, double *y);
void crs_local_from_xy(const struct local_metric *m, double x, double y, double *lon, double *lat);

/*
 * Geodesic distance in metres between two lon/lat WGS84 positions (Karney's algorithm, PROJ's
 * geodesic.h). Exact to nanometres; slower than the local metric. Thread-safe.
 */
double crs_geodesic_distance(double lon1, double lat1, double lon2, double lat2);

#endif
