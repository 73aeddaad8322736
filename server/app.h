/*
 * app.h - what every handler can reach: the settings, the database pool, the route table,
 * the metrics and the layer generations. One struct app lives for the whole process; it is
 * built in main.c and never changes after the server starts.
 */
#ifndef PATROL_APP_H
#define PATROL_APP_H

struct config;
struct db_pool;
struct router;
struct metrics;
struct layers;
struct engine;

struct app {
    const struct config *cfg;
    struct db_pool *pool;
    struct router *router;
    struct metrics *metrics;
    struct layers *layers;
    /* the check-in engine (engine.h): event stream, metrics; started before HTTP */
    struct engine *engine;
    int schema_expected; /* newest migration this binary knows */
};

#endif
