/*
 * main.c - patrold's start and stop order. Start: settings, time zone, logging, wait for the
 * database, migrations, pool, routes, metrics, NOTIFY listener, the check-in engine, HTTP, the
 * OsmAnd port, the maintenance thread. Stop (SIGTERM/SIGINT): the OsmAnd port and HTTP first
 * (finishing in-flight requests, ending event streams), then maintenance, the engine, the
 * listener, the pool and the rest.
 * Operator commands (migrate, user, token, device) are in cli.c.
 */
#include "access.h"
#include "api.h"
#include "app.h"
#include "cli.h"
#include "config.h"
#include "db.h"
#include "engine.h"
#include "http.h"
#include "ingest_fix.h"
#include "layers.h"
#include "log.h"
#include "maintenance.h"
#include "metrics.h"
#include "migrate.h"
#include "ogcapi.h"
#include "router.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static void usage(FILE *out)
{
    fprintf(out, "Usage: patrold [options] [command [arguments]]\n"
                 "patrolgis server: school perimeters, patrol points and check-ins, hazards,\n"
                 "vector tiles and routing over PostgreSQL + PostGIS.\n\n");
    cli_usage(out);
    fputc('\n', out);
    config_usage(out);
}

/* glibc falls back to UTC for an unknown zone without a word; refuse it instead. */
static int tz_valid(const char *tz)
{
    char path[512];
    if (strcmp(tz, "UTC") == 0)
        return 1;
    if (tz[0] == '\0' || tz[0] == '/' || strstr(tz, "..") != NULL)
        return 0;
    snprintf(path, sizeof(path), "/usr/share/zoneinfo/%s", tz);
    return access(path, R_OK) == 0;
}

/* Waits for the database, then brings its schema up to date (or checks it). */
static int prepare_schema(const struct config *cfg, const struct db_settings *s)
{
    char msg[512];
    struct db_conn *c = NULL;
    time_t deadline = time(NULL) + cfg->db_wait_s;
    int warned = 0;

    while (db_connect(s, &c, msg, sizeof(msg)) != ERR_OK) {
        if (time(NULL) >= deadline) {
            log_error("%s (waited %lds; set --db or DATABASE_URL)", msg, cfg->db_wait_s);
            return 1;
        }
        if (!warned++)
            log_warn("%s; waiting up to %lds", msg, cfg->db_wait_s);
        struct timespec pause = { 0, 500 * 1000000L };
        nanosleep(&pause, NULL);
    }
    int n = 0;
    enum err e = migrate_apply(c, (int)cfg->migrate, &n, msg, sizeof(msg));
    db_close(c);
    if (e == ERR_CONFLICT) {
        log_error("%s", msg);
        return 2;
    }
    if (e != ERR_OK) {
        log_error("%s", msg);
        return 1;
    }
    if (!cfg->migrate && n > 0) {
        log_error("%s; run `patrold migrate` or start with --migrate 1", msg);
        return 2;
    }
    log_info("%s", msg);
    return 0;
}

static int serve(const struct config *cfg)
{
    sigset_t stop;
    int sig = 0, rc;
    char msg[256];
    struct ingest_limits limits;
    struct ogcapi_options features;
    struct db_settings s;
    struct http_options ho;
    struct engine_config ec;
    config_ingest_limits(cfg, &limits);
    config_ogcapi_options(cfg, &features);
    config_db_settings(cfg, &s);
    struct app app = { .schema_expected = migrate_latest(),
                       .ingest_limits = &limits,
                       .ogcapi = &features };
    struct http_server *http = NULL;
    struct http_server *osmand = NULL; /* the OsmAnd / Traccar Client port */
    struct maint *maint = NULL;

    /* Every thread created from here on inherits the blocked set; main waits for them. */
    sigemptyset(&stop);
    sigaddset(&stop, SIGTERM);
    sigaddset(&stop, SIGINT);
    pthread_sigmask(SIG_BLOCK, &stop, NULL);
    signal(SIGPIPE, SIG_IGN);

    rc = prepare_schema(cfg, &s);
    if (rc != 0)
        return rc;

    rc = 1;
    app.pool = db_pool_new(&s);
    app.router = router_new();
    if (app.pool == NULL || app.router == NULL || api_core_register(app.router) != ERR_OK ||
        api_admin_register(app.router) != ERR_OK || api_features_register(app.router) != ERR_OK ||
        api_reports_register(app.router) != ERR_OK || api_ingest_register(app.router) != ERR_OK ||
        api_checkins_register(app.router) != ERR_OK) {
        log_error("cannot build the route table");
        goto out;
    }
    app.metrics = metrics_new(router_count(app.router));
    app.layers = layers_start(&s);
    if (app.metrics == NULL || app.layers == NULL) {
        log_error("out of memory at start");
        goto out;
    }
    config_engine_options(cfg, &ec);
    ec.pool = app.pool;
    ec.db = &s;
    ec.layers = app.layers;
    app.engine = engine_start(&ec);
    if (app.engine == NULL) {
        log_error("cannot start the check-in engine");
        goto out;
    }
    config_http_options(cfg, &ho);
    ho.router = app.router;
    ho.metrics = app.metrics;
    ho.access = access_check;
    ho.access_ctx = NULL;
    ho.app = &app;
    http = http_start(&ho, msg, sizeof(msg));
    if (http == NULL) {
        log_error("%s", msg);
        goto out;
    }
    log_info("patrold %s listening on http://%s:%d/ (time zone %s, %ld threads, %ld db "
             "connections)",
             PATROLGIS_VERSION, cfg->listen, http_port(http), cfg->tz, cfg->threads, cfg->db_pool);
    if (cfg->osmand_port != 0) {
        struct http_options oo = ho;
        oo.port = cfg->osmand_port;
        oo.fixed_path = "/api/v1/osmand";
        osmand = http_start(&oo, msg, sizeof(msg));
        if (osmand == NULL) {
            log_error("OsmAnd listener: %s (set --osmand-port, 0 to turn it off)", msg);
            http_stop(http, 0);
            goto out;
        }
        log_info("OsmAnd / Traccar Client listener on http://%s:%d/", cfg->listen,
                 http_port(osmand));
    }
    maint = maint_start(app.pool, cfg->retention_days, cfg->maintenance_interval_s);
    if (maint == NULL) {
        log_error("cannot start the maintenance thread");
        http_stop(osmand, 0);
        http_stop(http, 0);
        goto out;
    }

    sigwait(&stop, &sig);
    log_info("%s received: finishing in-flight requests (up to %lds)", strsignal(sig),
             cfg->shutdown_grace_s);
    http_stop(osmand, cfg->shutdown_grace_s);
    http_stop(http, cfg->shutdown_grace_s);
    rc = 0;
out:
    maint_stop(maint);
    engine_stop(app.engine);
    layers_stop(app.layers);
    metrics_free(app.metrics);
    router_free(app.router);
    db_pool_free(app.pool);
    if (rc == 0)
        log_info("stopped");
    return rc;
}

int main(int argc, char **argv)
{
    struct config cfg;
    int idx = 0;
    int rc = config_parse(&cfg, argc, argv, &idx, stdout, stderr);
    if (rc != 0) {
        if (rc == 1)
            usage(stdout);
        config_free(&cfg);
        return rc > 0 ? 0 : 2;
    }
    if (!tz_valid(cfg.tz)) {
        fprintf(stderr, "patrold: unknown time zone '%s' (e.g. Asia/Shanghai)\n", cfg.tz);
        config_free(&cfg);
        return 2;
    }
    setenv("TZ", cfg.tz, 1);
    tzset();
    log_set_level((enum log_level)log_level_parse(cfg.log_level));

    if (idx >= argc || strcmp(argv[idx], "serve") == 0) {
        if (idx < argc && idx + 1 < argc) {
            fprintf(stderr, "patrold: serve takes no arguments (options go before it)\n");
            rc = 2;
        } else {
            rc = serve(&cfg);
        }
    } else if (strcmp(argv[idx], "help") == 0) {
        usage(stdout);
        rc = 0;
    } else {
        rc = cli_main(&cfg, argc - idx, argv + idx);
    }
    config_free(&cfg);
    return rc;
}
