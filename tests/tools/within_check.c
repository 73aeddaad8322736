/*
 * within_check - the engine's "within the radius" predicate as a filter, for comparing it with
 * PostGIS (tests/integration/test_engine_postgis.py).
 *
 * Reads lines "lon lat plon plat r" (a fix, a patrol point, a radius in metres) on stdin and
 * writes one line per input: "1" or "0" (visits_within), a space, and the engine's distance in
 * metres (%.6f). A malformed line is an error: a message on stderr and exit status 2.
 */
#include "pointindex.h"

#include <stdio.h>
#include <stdlib.h>

int main(void)
{
    char line[512];
    unsigned long no = 0;
    while (fgets(line, sizeof(line), stdin) != NULL) {
        no++;
        double v[5];
        char *p = line, *end;
        for (int i = 0; i < 5; i++) {
            v[i] = strtod(p, &end);
            if (end == p) {
                fprintf(stderr, "within_check: line %lu: expected 5 numbers\n", no);
                return 2;
            }
            p = end;
        }
        struct visits_point pt = { 1, v[2], v[3], v[4], 0, 0 };
        printf("%d %.6f\n", visits_within(&pt, v[0], v[1]) ? 1 : 0,
               visits_distance_m(&pt, v[0], v[1]));
    }
    return ferror(stdin) ? 1 : 0;
}
