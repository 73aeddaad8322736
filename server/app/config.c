/*
 * config.c - the option table and its parser. Each option is a flag and an environment
 * variable; integers are range-checked and structured values (the town's box) are parsed and
 * checked here, once, at start. No global state: the result is a struct config, from which
 * each subsystem's options are built (config_*); nothing outside app/ includes config.h.
 */
#include "config.h"

#include "db.h"
#include "engine.h"
#include "http.h"
#include "ingest_fix.h"
#include "log.h"
#include "ogcapi.h"
#include "parse.h"

#include <math.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

enum opt_type { OPT_STR, OPT_INT };

struct opt {
    const char *flag;
    const char *env;
    enum opt_type type;
    size_t offset;
    const char *def;
    long min, max;
    const char *help;
};

#define STR(field) OPT_STR, offsetof(struct config, field)
#define INT(field) OPT_INT, offsetof(struct config, field)

static const struct opt opts[] = {
    { "listen", "PATROLD_LISTEN", STR(listen), "127.0.0.1", 0, 0,
      "address to listen on (0.0.0.0 for every interface)" },
    { "port", "PATROLD_PORT", INT(port), "8080", 1, 65535, "HTTP port" },
    { "db", "DATABASE_URL", STR(db), "", 0, 0,
      "PostgreSQL connection string or URL (postgresql://user@host/db)" },
    { "tz", "PATROLD_TZ", STR(tz), "Asia/Shanghai", 0, 0,
      "local time zone for school days, windows and logs" },
    { "log-level", "PATROLD_LOG_LEVEL", STR(log_level), "info", 0, 0,
      "debug, info, warn or error" },
    { "threads", "PATROLD_THREADS", INT(threads), "4", 1, 256, "HTTP worker threads" },
    { "db-pool", "PATROLD_DB_POOL", INT(db_pool), "8", 1, 512, "database connections" },
    { "db-acquire-timeout-ms", "PATROLD_DB_ACQUIRE_TIMEOUT_MS", INT(db_acquire_timeout_ms), "1000",
      1, 600000, "wait this long for a free connection, then answer 503" },
    { "db-wait-s", "PATROLD_DB_WAIT_S", INT(db_wait_s), "30", 0, 3600,
      "at start, wait this long for the database to come up" },
    { "statement-timeout-ms", "PATROLD_STATEMENT_TIMEOUT_MS", INT(statement_timeout_ms), "15000", 1,
      3600000, "PostgreSQL statement_timeout of every connection" },
    { "max-connections", "PATROLD_MAX_CONNECTIONS", INT(max_connections), "1024", 1, 100000,
      "HTTP connections in all" },
    { "max-per-ip", "PATROLD_MAX_PER_IP", INT(max_per_ip), "128", 1, 100000,
      "HTTP connections per client address" },
    { "connection-timeout-s", "PATROLD_CONNECTION_TIMEOUT_S", INT(connection_timeout_s), "30", 1,
      3600, "close idle HTTP connections after this many seconds" },
    { "max-header-bytes", "PATROLD_MAX_HEADER_BYTES", INT(max_header_bytes), "16384", 1024, 1048576,
      "request headers larger than this in all get 431" },
    { "shutdown-grace-s", "PATROLD_SHUTDOWN_GRACE_S", INT(shutdown_grace_s), "10", 0, 600,
      "on SIGTERM, wait this long for in-flight requests" },
    { "migrate", "PATROLD_MIGRATE", INT(migrate), "1", 0, 1,
      "1: apply pending migrations at start; 0: refuse to start if any are pending" },
    { "town-bbox", "PATROLD_TOWN_BBOX", STR(town_bbox), "", 0, 0,
      "minlon,minlat,maxlon,maxlat: edited geometries must lie inside (empty: anywhere)" },
    { "osmand-port", "PATROLD_OSMAND_PORT", INT(osmand_port), "5055", 0, 65535,
      "port of the OsmAnd / Traccar Client listener (0: off; also at /api/v1/osmand)" },
    { "max-accuracy-m", "PATROLD_MAX_ACCURACY_M", INT(max_accuracy_m), "100", 1, 100000,
      "fixes with a worse horizontal accuracy are stored flagged" },
    { "max-speed-kmh", "PATROLD_MAX_SPEED_KMH", INT(max_speed_kmh), "200", 10, 100000,
      "fixes implying a faster jump from their neighbours are stored flagged" },
    { "retention-days", "PATROLD_RETENTION_DAYS", INT(retention_days), "400", 0, 36500,
      "drop positions older than this (whole months; 0: keep forever)" },
    { "maintenance-interval-s", "PATROLD_MAINTENANCE_INTERVAL_S", INT(maintenance_interval_s),
      "3600", 1, 86400, "partition maintenance (create ahead, drop expired) runs this often" },
    { "engine-interval-s", "PATROLD_ENGINE_INTERVAL_S", INT(engine_interval_s), "30", 1, 3600,
      "the check-in engine's periodic pass (pending and missed windows) runs this often" },
    { "recompute-days", "PATROLD_RECOMPUTE_DAYS", INT(recompute_days), "7", 0, 366,
      "after a patrol point, window or zone is edited, recompute this many local days (0: none)" },
};

#define NOPTS (sizeof(opts) / sizeof(opts[0]))

static int set_opt(struct config *cfg, const struct opt *o, const char *val, const char *src,
                   FILE *err)
{
    char *base = (char *)cfg + o->offset;
    if (o->type == OPT_STR) {
        char **slot = (char **)(void *)base;
        char *copy = strdup(val);
        if (copy == NULL) {
            fprintf(err, "patrold: out of memory\n");
            return -1;
        }
        free(*slot);
        *slot = copy;
        return 0;
    }
    long v;
    if (parse_long(val, o->min, o->max, &v) != ERR_OK) {
        fprintf(err, "patrold: %s: '%s' is not an integer in %ld..%ld\n", src, val, o->min, o->max);
        return -1;
    }
    *(long *)(void *)base = v;
    return 0;
}

void config_usage(FILE *out)
{
    fprintf(out, "Options (each also read from its environment variable; a flag wins):\n");
    for (size_t i = 0; i < NOPTS; i++) {
        const struct opt *o = &opts[i];
        fprintf(out, "  --%-24s %-30s %s", o->flag, o->env, o->help);
        if (o->def[0] != '\0')
            fprintf(out, " [default: %s]", o->def);
        fputc('\n', out);
    }
    fprintf(out, "  --%-24s %-30s %s\n", "help", "", "print this help and exit");
    fprintf(out, "  --%-24s %-30s %s\n", "version", "", "print the version and exit");
}

static const struct opt *find_opt(const char *name, size_t len)
{
    for (size_t i = 0; i < NOPTS; i++)
        if (strlen(opts[i].flag) == len && strncmp(opts[i].flag, name, len) == 0)
            return &opts[i];
    return NULL;
}

/*
 * --town-bbox: empty, or four finite numbers "minlon,minlat,maxlon,maxlat" with longitudes in
 * -180..180, latitudes in -90..90 and each minimum below its maximum.
 */
static int parse_bbox(struct config *cfg, FILE *err)
{
    const char *s = cfg->town_bbox;
    cfg->has_town_bbox = 0;
    if (s == NULL || s[0] == '\0')
        return 0;
    static const char *const what =
        "is not minlon,minlat,maxlon,maxlat (degrees, e.g. 113.1,29.2,113.6,29.5)";
    double v[4];
    size_t n;
    const char *bad;
    if (parse_double_list(s, v, 4, &n, &bad) != ERR_OK || n != 4) {
        /* A piece in its place (followed by a comma unless it is the fourth) that is no number
         * is named; any other fault is one of shape. */
        size_t len = bad != NULL ? strcspn(bad, ",") : 0;
        if (bad != NULL && (n < 3) == (bad[len] == ','))
            fprintf(err, "patrold: --town-bbox '%s': '%.*s' is not a number; it %s\n", s, (int)len,
                    bad, what);
        else
            fprintf(err, "patrold: --town-bbox '%s' %s\n", s, what);
        return -1;
    }
    if (v[0] < -180 || v[2] > 180 || v[1] < -90 || v[3] > 90 || !(v[0] < v[2]) || !(v[1] < v[3])) {
        fprintf(err,
                "patrold: --town-bbox '%s': longitudes must lie in -180..180 and latitudes in "
                "-90..90, each minimum below its maximum\n",
                s);
        return -1;
    }
    memcpy(cfg->town_bbox_deg, v, sizeof(v));
    cfg->has_town_bbox = 1;
    return 0;
}

int config_parse(struct config *cfg, int argc, char **argv, int *cmd_index, FILE *out, FILE *err)
{
    memset(cfg, 0, sizeof(*cfg));
    for (size_t i = 0; i < NOPTS; i++) {
        const char *env = getenv(opts[i].env);
        if (set_opt(cfg, &opts[i], opts[i].def, "default", err) != 0)
            return -1;
        if (env != NULL && set_opt(cfg, &opts[i], env, opts[i].env, err) != 0)
            return -1;
    }

    int i = 1;
    for (; i < argc; i++) {
        const char *arg = argv[i];
        if (strncmp(arg, "--", 2) != 0)
            break;
        if (strcmp(arg, "--") == 0) {
            i++;
            break;
        }
        if (strcmp(arg, "--help") == 0 || strcmp(arg, "-h") == 0)
            return 1;
        if (strcmp(arg, "--version") == 0) {
            fprintf(out, "patrold %s\n", PATROLGIS_VERSION);
            return 2;
        }
        const char *name = arg + 2;
        const char *eq = strchr(name, '=');
        size_t len = eq ? (size_t)(eq - name) : strlen(name);
        const struct opt *o = find_opt(name, len);
        if (o == NULL) {
            fprintf(err, "patrold: unknown option '%s' (see --help)\n", arg);
            return -1;
        }
        const char *val;
        if (eq != NULL) {
            val = eq + 1;
        } else if (i + 1 < argc) {
            val = argv[++i];
        } else {
            fprintf(err, "patrold: option --%s needs a value\n", o->flag);
            return -1;
        }
        if (set_opt(cfg, o, val, arg, err) != 0)
            return -1;
    }
    if (log_level_parse(cfg->log_level) < 0) {
        fprintf(err, "patrold: log level '%s' is not debug, info, warn or error\n", cfg->log_level);
        return -1;
    }
    if (parse_bbox(cfg, err) != 0)
        return -1;
    *cmd_index = i;
    return 0;
}

void config_free(struct config *cfg)
{
    for (size_t i = 0; i < NOPTS; i++) {
        if (opts[i].type == OPT_STR) {
            char **slot = (char **)(void *)((char *)cfg + opts[i].offset);
            free(*slot);
            *slot = NULL;
        }
    }
}

void config_db_settings(const struct config *cfg, struct db_settings *s)
{
    *s = (struct db_settings){ .conninfo = cfg->db,
                               .tz = cfg->tz,
                               .statement_timeout_ms = cfg->statement_timeout_ms,
                               .acquire_timeout_ms = cfg->db_acquire_timeout_ms,
                               .size = cfg->db_pool };
}

void config_http_options(const struct config *cfg, struct http_options *o)
{
    *o = (struct http_options){ .listen = cfg->listen,
                                .port = cfg->port,
                                .threads = cfg->threads,
                                .max_connections = cfg->max_connections,
                                .max_per_ip = cfg->max_per_ip,
                                .connection_timeout_s = cfg->connection_timeout_s,
                                .max_header_bytes = cfg->max_header_bytes };
}

void config_ingest_limits(const struct config *cfg, struct ingest_limits *l)
{
    *l = (struct ingest_limits){ .max_accuracy_m = (double)cfg->max_accuracy_m,
                                 .max_speed_kmh = (double)cfg->max_speed_kmh,
                                 .retention_days = cfg->retention_days };
}

void config_ogcapi_options(const struct config *cfg, struct ogcapi_options *o)
{
    *o = (struct ogcapi_options){ .has_town_bbox = cfg->has_town_bbox != 0 };
    memcpy(o->town_bbox, cfg->town_bbox_deg, sizeof(o->town_bbox));
}

void config_engine_options(const struct config *cfg, struct engine_config *ec)
{
    *ec = (struct engine_config){ .interval_s = cfg->engine_interval_s,
                                  .recompute_days = cfg->recompute_days,
                                  .poll_ms = 5000 };
}
