/*
 * mvt_decode.h - a small, strict decoder of MVT geometry command streams for the tests of
 * server/tiles/mvt.c (test_mvt.c and fuzz_mvt.c): written from the spec (4.3), independent of
 * the encoder. It checks the well-formedness the encoder promises and gives the absolute
 * points of each part. Not a general reader: it refuses what our encoder never writes (a
 * repeated point, a ring of zero area) as well as what the spec forbids.
 */
#ifndef PATROL_TEST_MVT_DECODE_H
#define PATROL_TEST_MVT_DECODE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

__extension__ typedef __int128 mvtd_wide;

#define MVTD_MAX_POINTS 4096
#define MVTD_MAX_PARTS  512

struct mvtd {
    int64_t x[MVTD_MAX_POINTS], y[MVTD_MAX_POINTS];
    size_t npoints;
    size_t part_start[MVTD_MAX_PARTS + 1]; /* part p is points part_start[p]..[p+1]-1 */
    size_t nparts;
    int area_sign[MVTD_MAX_PARTS]; /* polygons: sign of the surveyor's area (+1 exterior) */
    const char *why;               /* what was wrong, when mvtd_decode returned false */
};

static inline int64_t mvtd_unzigzag(uint32_t v)
{
    return (int64_t)(v >> 1) ^ -(int64_t)(v & 1);
}

static inline int mvtd_ring_sign(const struct mvtd *d, size_t p)
{
    size_t a = d->part_start[p], b = d->part_start[p + 1];
    mvtd_wide s = 0;
    for (size_t i = a; i < b; i++) {
        size_t j = i + 1 < b ? i + 1 : a;
        s += (mvtd_wide)d->x[i] * d->y[j] - (mvtd_wide)d->x[j] * d->y[i];
    }
    return s > 0 ? 1 : s < 0 ? -1 : 0;
}

/* Decodes geometry g of a feature of type (1 point, 2 line, 3 polygon) into d; false with
 * d->why when it is not well formed. */
static inline bool mvtd_decode(const uint32_t *g, size_t n, int type, struct mvtd *d)
{
    int64_t cx = 0, cy = 0;
    size_t i = 0;
    d->npoints = d->nparts = 0;
    d->why = NULL;
    if (n == 0)
        return d->why = "no geometry", false;
    while (i < n) {
        uint32_t id = g[i] & 7, count = g[i] >> 3;
        i++;
        if (id != 1)
            return d->why = "a part does not start with MoveTo", false;
        if (type != 1 && count != 1)
            return d->why = "MoveTo count is not 1 in a line or polygon", false;
        if (count == 0)
            return d->why = "MoveTo count 0", false;
        if (type == 1 && d->nparts > 0)
            return d->why = "second MoveTo in a point feature", false;
        if (d->nparts >= MVTD_MAX_PARTS)
            return d->why = "too many parts for the test decoder", false;
        d->part_start[d->nparts] = d->npoints;
        uint32_t line_count = 0;
        for (int cmd = 0; cmd < 2; cmd++) {
            if (cmd == 1) {
                if (type == 1)
                    break;
                if (i >= n || (g[i] & 7) != 2)
                    return d->why = "MoveTo not followed by LineTo", false;
                count = line_count = g[i] >> 3;
                i++;
                if (count == 0)
                    return d->why = "LineTo count 0", false;
            }
            if (count > (n - i) / 2)
                return d->why = "parameters run out", false;
            for (uint32_t k = 0; k < count; k++) {
                int64_t nx = cx + mvtd_unzigzag(g[i]), ny = cy + mvtd_unzigzag(g[i + 1]);
                i += 2;
                if (nx < INT32_MIN || nx > INT32_MAX || ny < INT32_MIN || ny > INT32_MAX)
                    return d->why = "a point outside int32", false;
                if (cmd == 1 && nx == cx && ny == cy)
                    return d->why = "a repeated point", false;
                if (d->npoints >= MVTD_MAX_POINTS)
                    return d->why = "too many points for the test decoder", false;
                d->x[d->npoints] = cx = nx;
                d->y[d->npoints] = cy = ny;
                d->npoints++;
            }
        }
        if (type == 3) {
            if (line_count < 2)
                return d->why = "a ring with fewer than 3 points", false;
            if (i >= n || g[i] != ((1u << 3) | 7))
                return d->why = "a ring without ClosePath(1)", false;
            i++;
            if (d->x[d->npoints - 1] == d->x[d->part_start[d->nparts]] &&
                d->y[d->npoints - 1] == d->y[d->part_start[d->nparts]])
                return d->why = "a ring repeats its first point", false;
        }
        d->nparts++;
        d->part_start[d->nparts] = d->npoints;
        if (type == 3) {
            int s = mvtd_ring_sign(d, d->nparts - 1);
            d->area_sign[d->nparts - 1] = s;
            if (s == 0)
                return d->why = "a ring of zero area", false;
            if (d->nparts == 1 && s < 0)
                return d->why = "the first ring is not an exterior", false;
        }
    }
    return true;
}

#endif
