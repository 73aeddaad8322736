/*
 * config.h - patrold's settings: defaults, then environment variables, then command-line flags
 * (a flag wins over its variable). One table in config.c lists every option; --help prints it.
 *
 * Each subsystem gets its own options struct, built here (config_*): nothing outside app/
 * includes this file. Not here: per-route limits (router.h) and per-layer rules (layerdef).
 */
#ifndef PATROL_CONFIG_H
#define PATROL_CONFIG_H

#include <stdio.h>

struct config {
    char *listen;    /* address to bind, e.g. "127.0.0.1" or "0.0.0.0" */
    long port;       /* main HTTP port */
    char *db;        /* libpq connection string or URL ("" = libpq defaults) */
    char *tz;        /* local time zone for days, windows and logs */
    char *log_level; /* debug | info | warn | error */
    long threads;    /* HTTP worker threads */
    long db_pool;    /* database connections */
    long db_acquire_timeout_ms;
    long db_wait_s; /* how long start-up waits for the database */
    long statement_timeout_ms;
    long max_connections;      /* HTTP connections in all */
    long max_per_ip;           /* HTTP connections per client address */
    long connection_timeout_s; /* idle HTTP connection timeout */
    long max_header_bytes;     /* total request header bytes before 431 */
    long shutdown_grace_s;     /* how long SIGTERM waits for in-flight requests */
    long migrate;              /* 1: apply pending migrations at start; 0: refuse if pending */
    char *town_bbox;           /* "minlon,minlat,maxlon,maxlat" geometries must lie in; "" none */
    int has_town_bbox;         /* town_bbox was set; then town_bbox_deg holds its numbers */
    double town_bbox_deg[4];
    long osmand_port;    /* OsmAnd / Traccar Client listener; 0 = off */
    long max_accuracy_m; /* fixes with worse accuracy are stored flagged */
    long max_speed_kmh;  /* implied speed above this between fixes: flagged */
    long retention_days; /* positions partitions older than this are dropped; 0 = keep */
    /* partition maintenance runs at start and then every this many seconds */
    long maintenance_interval_s;
    long engine_interval_s; /* the check-in engine's periodic pass (missed windows) */
    long recompute_days;    /* local days recomputed after a layer edit (today included) */
};

/*
 * Fills cfg from defaults, the environment and argv. Parsing stops at the first non-option
 * argument, whose index is stored in *cmd_index (argc when there is none). On a bad value,
 * writes a message to err and returns -1; returns 1 on --help (the caller prints usage) and
 * 2 on --version (printed to out); otherwise 0. Strings in cfg are new: free with config_free.
 */
int config_parse(struct config *cfg, int argc, char **argv, int *cmd_index, FILE *out, FILE *err);

/* Prints the option table (flag, variable, default, description). */
void config_usage(FILE *out);

void config_free(struct config *cfg);

struct db_settings;
struct engine_config;
struct http_options;
struct ingest_limits;
struct ogcapi_options;

/* Each subsystem's options from cfg (strings borrowed from cfg; the rest left zero). */
void config_db_settings(const struct config *cfg, struct db_settings *s);
void config_http_options(const struct config *cfg, struct http_options *o);
void config_ingest_limits(const struct config *cfg, struct ingest_limits *l);
void config_ogcapi_options(const struct config *cfg, struct ogcapi_options *o);
void config_engine_options(const struct config *cfg, struct engine_config *ec);

#endif
