/*
 * app.h - what every handler can reach: the database pool, the route table, the metrics, the
 * layer generations, the engine and the options of the subsystems the handlers drive. One
 * struct app lives for the whole process; it is built in main.c (the options by config.c)
 * and never changes after the server starts. Handlers never see struct config.
 */
#ifndef PATROL_APP_H
#define PATROL_APP_H

struct db_pool;
struct router;
struct metrics;
struct layers;
struct engine;
struct ingest_limits;
struct ogcapi_options;

struct app {
    struct db_pool *pool;
    struct router *router;
    struct metrics *metrics;
    struct layers *layers;
    /* the check-in engine (engine.h): event stream, metrics; started before HTTP */
    struct engine *engine;
    int schema_expected;                       /* newest migration this binary knows */
    const struct ingest_limits *ingest_limits; /* ingest.h: checks of every uploaded fix */
    const struct ogcapi_options *ogcapi;       /* ogcapi.h: rules of edited features */
};

#endif
