/*
 * api_core.c - the endpoints every deployment needs: liveness, readiness (database reachable,
 * schema current), Prometheus metrics, the OpenAPI document generated from the route table,
 * and "who am I".
 */
#include "api.h"

#include "access.h"
#include "app.h"
#include "arena.h"
#include "auth.h"
#include "db.h"
#include "engine.h"
#include "http.h"
#include "json.h"
#include "req_json.h"
#include "layers.h"
#include "metrics.h"
#include "migrate.h"
#include "router.h"
#include "strbuf.h"

#include <stdlib.h>
#include <string.h>

static void get_healthz(struct req *r)
{
    req_reply_json(r, 200, json_pack("{s:s,s:s}", "status", "ok", "version", PATROLGIS_VERSION));
}

static void get_readyz(struct req *r)
{
    char msg[256] = "";
    struct db_conn *c = NULL;
    int version = 0;
    enum err e = db_acquire(r->app->pool, &c, msg, sizeof(msg));
    if (e == ERR_OK) {
        e = migrate_current(c, &version, msg, sizeof(msg));
        req_db_release(r, c);
    }
    int expected = r->app->schema_expected;
    if (e != ERR_OK || version != expected) {
        const char *why = e != ERR_OK ? "the database is not reachable"
                                      : "the database schema is not at this server's version";
        json_t *body = json_pack("{s:s,s:s,s:i,s:i,s:{s:s,s:s}}", "status", "not_ready", "database",
                                 e == ERR_OK ? "ok" : "unavailable", "schema_version", version,
                                 "expected_schema_version", expected, "error", "code",
                                 err_slug(ERR_UNAVAILABLE), "message", why);
        req_add_header(r, "Retry-After", "2");
        req_reply_json(r, 503, body);
        return;
    }
    req_reply_json(r, 200,
                   json_pack("{s:s,s:s,s:i,s:i}", "status", "ready", "database", "ok",
                             "schema_version", version, "expected_schema_version", expected));
}

static void get_metrics(struct req *r)
{
    struct db_pool_stats ps;
    size_t len = 0;
    db_pool_get_stats(r->app->pool, &ps);
    char *text = metrics_render(r->app->metrics, r->app->router, &len); /* build, HTTP */
    char *pool = db_pool_metrics_text(&ps);
    char *eng = engine_metrics_text(r->app->engine); /* queue, runs, rows written */
    struct strbuf b;
    strbuf_init(&b, 0);
    strbuf_add(&b, text ? text : "", text ? len : 0);
    strbuf_adds(&b, pool ? pool : "");
    /* Layer generations: how often each layer changed since start (NOTIFY-fed). */
    strbuf_adds(&b, "# HELP patrold_layer_generation Changes seen per layer "
                    "(database NOTIFY), starting at 1.\n"
                    "# TYPE patrold_layer_generation counter\n");
    for (size_t i = 0; i < layers_count; i++)
        strbuf_printf(&b, "patrold_layer_generation{layer=\"%s\"} %llu\n", layers_names[i],
                      layers_generation(r->app->layers, i));
    strbuf_adds(&b, eng ? eng : "");
    bool ok = text != NULL && pool != NULL && eng != NULL && strbuf_error(&b) == ERR_OK;
    char *copy = ok ? arena_strndup(r->arena, b.p, b.len) : NULL;
    size_t n = b.len;
    strbuf_free(&b);
    free(eng);
    free(pool);
    free(text);
    if (copy == NULL) {
        req_reply_error(r, ERR_INTERNAL, "out of memory");
        return;
    }
    req_reply(r, 200, "text/plain; version=0.0.4; charset=utf-8", copy, n);
}

/* The {name} parameters of a path pattern as OpenAPI parameter objects. */
static json_t *path_parameters(const char *path)
{
    json_t *params = json_array();
    for (const char *p = strchr(path, '{'); p != NULL; p = strchr(p + 1, '{')) {
        const char *close = strchr(p, '}');
        json_array_append_new(params, json_pack("{s:s%,s:s,s:b,s:{s:s}}", "name", p + 1,
                                                (size_t)(close - p - 1), "in", "path", "required",
                                                1, "schema", "type", "string"));
    }
    return params;
}

static json_t *openapi_operation(const struct route *rt)
{
    json_t *op = json_pack("{s:s,s:[s],s:o}", "summary", rt->summary ? rt->summary : "", "tags",
                           rt->tag ? rt->tag : "core", "parameters", path_parameters(rt->path));
    json_t *responses = json_object();
    json_object_set_new(responses, "default",
                        json_pack("{s:s,s:{s:{s:{s:s}}}}", "description",
                                  "error: {\"error\":{\"code\",\"message\"}}", "content",
                                  "application/json", "schema", "$ref",
                                  "#/components/schemas/Error"));
    json_object_set_new(responses, "200", json_pack("{s:s}", "description", "success"));
    json_object_set_new(op, "responses", responses);
    if (rt->roles != ROLES_PUBLIC) {
        json_t *roles = json_array();
        for (unsigned bit = 1; bit <= ROLE_ADMIN; bit <<= 1)
            if (rt->roles & bit)
                json_array_append_new(roles, json_string(auth_role_name(bit)));
        json_object_set_new(op, "security", json_pack("[{s:[]}]", "bearer"));
        json_object_set_new(op, "x-roles", roles);
    }
    if (rt->max_body > 0) {
        json_t *content = json_object();
        const char *types = rt->body_types ? rt->body_types : "application/octet-stream";
        for (const char *p = types; *p;) {
            size_t n = strcspn(p, ",");
            json_object_setn_new(content, p, n, json_object());
            p += n;
            if (*p == ',')
                p++;
        }
        json_object_set_new(op, "requestBody",
                            json_pack("{s:b,s:o}", "required", 1, "content", content));
        json_object_set_new(op, "x-max-body-bytes", json_integer((json_int_t)rt->max_body));
    }
    return op;
}

static void get_openapi(struct req *r)
{
    json_t *paths = json_object();
    for (size_t i = 0; i < router_count(r->app->router); i++) {
        const struct route *rt = router_get(r->app->router, i);
        json_t *item = json_object_get(paths, rt->path);
        if (item == NULL) {
            item = json_object();
            json_object_set_new(paths, rt->path, item);
        }
        char method[16];
        size_t n = 0;
        for (; rt->method[n] && n + 1 < sizeof(method); n++)
            method[n] = (char)(rt->method[n] | 0x20); /* ASCII lowercase */
        method[n] = '\0';
        json_object_set_new(item, method, openapi_operation(rt));
    }
    json_t *doc = json_pack(
        "{s:s,s:{s:s,s:s,s:s},s:o,s:{s:{s:{s:s,s:s}},s:{s:{s:s,s:{s:{s:s,s:{s:{s:s},s:{s:s}}}}}}}}",
        "openapi", "3.0.3", "info", "title", "patrolgis", "version", PATROLGIS_VERSION,
        "description", "GIS patrol-route and geofence server for school safety", "paths", paths,
        "components", "securitySchemes", "bearer", "type", "http", "scheme", "bearer", "schemas",
        "Error", "type", "object", "properties", "error", "type", "object", "properties", "code",
        "type", "string", "message", "type", "string");
    req_reply_json(r, 200, doc);
}

static void get_me(struct req *r)
{
    const struct identity *who = req_identity(r);
    req_reply_json(r, 200,
                   json_pack("{s:s,s:I,s:s,s:s}", "kind",
                             who->kind == WHO_DEVICE ? "device" : "user", "id", (json_int_t)who->id,
                             "name", who->name, "role", auth_role_name(who->role)));
}

static const struct route core_routes[] = {
    { "GET", "/healthz", get_healthz, ROLES_PUBLIC, 0, NULL, "Liveness: the process answers",
      "core" },
    { "GET", "/readyz", get_readyz, ROLES_PUBLIC, 0, NULL,
      "Readiness: database reachable and schema current", "core" },
    { "GET", "/metrics", get_metrics, ROLES_PUBLIC, 0, NULL, "Prometheus metrics", "core" },
    { "GET", "/api/openapi.json", get_openapi, ROLES_PUBLIC, 0, NULL,
      "This OpenAPI document, generated from the route table", "core" },
    { "GET", "/api/v1/me", get_me, ROLES_ANY, 0, NULL, "The caller's identity and role", "core" },
};

enum err api_core_register(struct router *rt)
{
    return router_add(rt, core_routes, sizeof(core_routes) / sizeof(core_routes[0]));
}
