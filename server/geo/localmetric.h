/*
 * localmetric.h - metres around a reference point, from WGS84 longitude/latitude, without PROJ.
 *
 * A flat-earth formula with the WGS84 radii of curvature taken at the *mean* latitude of the two
 * points (to first order in the latitude difference):
 *
 *     x = dlon * N(phi_m) cos(phi_m),   y = dlat * M(phi_m),   phi_m = (lat0 + lat) / 2
 *
 * which is exact to second order; against the geodesic (GeographicLib, what PostGIS geography
 * uses) its distance error is far below 1 mm within 1 km (tests/unit/test_visits.c measures it).
 * Taking the radii at the reference latitude alone would be off by up to ~4 cm at 1 km on a
 * diagonal at 45 degrees. In degrees, per point: x = u (kx0 + kx1 v), y = v (ky0 + ky1 v) with
 * u, v the longitude and latitude differences, so along a straight lon/lat segment x and y are
 * quadratic polynomials in the segment parameter (visits.c relies on this).
 *
 * What it is not: a projection for large areas (use PROJ), nor valid across the antimeridian or
 * within a few degrees of the poles. Pure functions, no state.
 */
#ifndef PATROL_LOCALMETRIC_H
#define PATROL_LOCALMETRIC_H

struct localmetric {
    double lon0, lat0; /* reference point, degrees */
    double kx0, kx1;   /* x = u * (kx0 + kx1 * v), metres; u, v in degrees */
    double ky0, ky1;   /* y = v * (ky0 + ky1 * v) */
};

/* Sets m up around (lon0, lat0), degrees, |lat0| < 90. */
void localmetric_init(struct localmetric *m, double lon0, double lat0);

/*
 * Local coordinates of (lon, lat) in metres east (*x) and north (*y) of the reference, and
 * returns the squared distance x*x + y*y. The one function every distance decision goes
 * through (out of line on purpose: the same rounding wherever it is called).
 */
double localmetric_eval(const struct localmetric *m, double lon, double lat, double *x, double *y);

/* Distance in metres from the reference to (lon, lat). */
double localmetric_dist(const struct localmetric *m, double lon, double lat);

#endif
