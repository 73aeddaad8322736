/*
 * localmetric.c - WGS84 radii of curvature and the mean-latitude flat-earth distance.
 */
#include "localmetric.h"

#include <math.h>

#define WGS84_A 6378137.0
#define WGS84_F (1.0 / 298.257223563)
#define DEG2RAD (3.14159265358979323846 / 180.0)

void localmetric_init(struct localmetric *m, double lon0, double lat0)
{
    const double e2 = WGS84_F * (2.0 - WGS84_F);
    double phi = lat0 * DEG2RAD;
    double s = sin(phi), c = cos(phi);
    double w = 1.0 - e2 * s * s;
    double n = WGS84_A / sqrt(w);                     /* prime vertical radius */
    double mm = WGS84_A * (1.0 - e2) / (w * sqrt(w)); /* meridional radius */
    /* d/dphi of N cos(phi) and of M */
    double dn = n * e2 * s * c / w;
    double dkx = dn * c - n * s;
    double dky = 3.0 * mm * e2 * s * c / w;

    m->lon0 = lon0;
    m->lat0 = lat0;
    /* Radii at phi0 + v/2 to first order; per degree of u and v. */
    m->kx0 = n * c * DEG2RAD;
    m->kx1 = 0.5 * dkx * DEG2RAD * DEG2RAD;
    m->ky0 = mm * DEG2RAD;
    m->ky1 = 0.5 * dky * DEG2RAD * DEG2RAD;
}

double localmetric_eval(const struct localmetric *m, double lon, double lat, double *x, double *y)
{
    double u = lon - m->lon0;
    double v = lat - m->lat0;
    double px = u * (m->kx0 + m->kx1 * v);
    double py = v * (m->ky0 + m->ky1 * v);
    *x = px;
    *y = py;
    return px * px + py * py;
}

double localmetric_dist(const struct localmetric *m, double lon, double lat)
{
    double x, y;
    return sqrt(localmetric_eval(m, lon, lat, &x, &y));
}
