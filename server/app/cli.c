/*
 * cli.c - operator commands (see cli.h). Output meant for scripts goes to stdout (a token
 * alone on its line, a device as one JSON object); everything else goes to stderr.
 */
#include "cli.h"

#include "accounts.h"
#include "config.h"
#include "db.h"
#include "migrate.h"
#include "parse.h"

#include <jansson.h>

#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

void cli_usage(FILE *out)
{
    fprintf(out,
            "Commands:\n"
            "  serve                      run the server (the default)\n"
            "  migrate                    apply pending database migrations and exit\n"
            "  user add NAME --role viewer|editor|admin [--display-name TEXT]\n"
            "                             [--password-stdin]   create a user\n"
            "  token issue --user NAME | --device NAME [--label TEXT] [--expires-days N]\n"
            "                             print a new token (shown once)\n"
            "  token revoke ID            revoke a token\n"
            "  token list                 list tokens (never their values)\n"
            "  device add NAME [--kind phone|jt808|other] [--unit TEXT]\n"
            "                             register a device; prints its identifier and token\n");
}

/* Finds "--name VALUE" in argv[from..]; returns VALUE or NULL. Sets *bad on a missing value. */
static const char *flag(int argc, char **argv, int from, const char *name, int *bad)
{
    for (int i = from; i < argc; i++) {
        if (strcmp(argv[i], name) == 0) {
            if (i + 1 >= argc) {
                fprintf(stderr, "patrold: %s needs a value\n", name);
                *bad = 1;
                return NULL;
            }
            return argv[i + 1];
        }
    }
    return NULL;
}

static int has_flag(int argc, char **argv, int from, const char *name)
{
    for (int i = from; i < argc; i++)
        if (strcmp(argv[i], name) == 0)
            return 1;
    return 0;
}

/* Refuses flags the command does not know (each listed flag takes a value except `bare`). */
static int check_flags(int argc, char **argv, int from, const char *const *known, const char *bare)
{
    for (int i = from; i < argc; i++) {
        int ok = 0;
        if (bare != NULL && strcmp(argv[i], bare) == 0)
            continue;
        for (const char *const *k = known; *k; k++)
            if (strcmp(argv[i], *k) == 0)
                ok = 1;
        if (!ok) {
            fprintf(stderr, "patrold: unexpected argument '%s'\n", argv[i]);
            return -1;
        }
        i++; /* skip the value */
    }
    return 0;
}

static struct db_conn *cli_connect(const struct config *cfg, struct db_settings *s)
{
    char msg[512];
    struct db_conn *c = NULL;
    config_db_settings(cfg, s);
    s->statement_timeout_ms = 0; /* migrations may take long: no timeout */
    s->size = 1;
    if (db_connect(s, &c, msg, sizeof(msg)) != ERR_OK) {
        fprintf(stderr, "patrold: %s\n", msg);
        return NULL;
    }
    return c;
}

static int cmd_migrate(struct db_conn *c)
{
    char msg[512];
    int applied = 0;
    enum err e = migrate_apply(c, 1, &applied, msg, sizeof(msg));
    fprintf(stderr, "patrold: %s\n", msg);
    return e == ERR_OK ? 0 : (e == ERR_CONFLICT ? 2 : 1);
}

/* Reads a password from stdin (first line, without its newline) into buf. */
static int read_password(char *buf, size_t len)
{
    if (fgets(buf, (int)len, stdin) == NULL) {
        fprintf(stderr, "patrold: no password on standard input\n");
        return -1;
    }
    buf[strcspn(buf, "\r\n")] = '\0';
    return 0;
}

static int report(enum err e, const char *msg)
{
    if (e == ERR_OK)
        return 0;
    fprintf(stderr, "patrold: %s\n", msg);
    return 1;
}

static int cmd_user(struct account_ctx *x, int argc, char **argv)
{
    static const char *const known[] = { "--role", "--display-name", NULL };
    int bad = 0;
    char password[1100];
    long long id = 0;
    if (argc < 3 || strcmp(argv[1], "add") != 0 ||
        check_flags(argc, argv, 3, known, "--password-stdin") != 0) {
        fprintf(stderr, "usage: patrold user add NAME --role viewer|editor|admin "
                        "[--display-name TEXT] [--password-stdin]\n");
        return 2;
    }
    const char *role = flag(argc, argv, 3, "--role", &bad);
    const char *display = flag(argc, argv, 3, "--display-name", &bad);
    if (bad || role == NULL) {
        fprintf(stderr, "patrold: user add needs --role\n");
        return 2;
    }
    int with_pw = has_flag(argc, argv, 3, "--password-stdin");
    if (with_pw && read_password(password, sizeof(password)) != 0)
        return 1;
    char created[40];
    enum err e = accounts_user_create(x, argv[2], role, display, with_pw ? password : NULL, &id,
                                      created, sizeof(created));
    memset(password, 0, sizeof(password));
    if (e == ERR_OK)
        fprintf(stderr, "patrold: user %s created (id %lld, role %s)\n", argv[2], id, role);
    return report(e, x->msg);
}

static int cmd_token(struct account_ctx *x, int argc, char **argv)
{
    static const char *const known[] = { "--user", "--device", "--label", "--expires-days", NULL };
    int bad = 0;
    long long id = 0;
    if (argc >= 2 && strcmp(argv[1], "issue") == 0 &&
        check_flags(argc, argv, 2, known, NULL) == 0) {
        const char *user = flag(argc, argv, 2, "--user", &bad);
        const char *device = flag(argc, argv, 2, "--device", &bad);
        const char *label = flag(argc, argv, 2, "--label", &bad);
        const char *days_s = flag(argc, argv, 2, "--expires-days", &bad);
        long days = 0;
        if (bad || (user == NULL) == (device == NULL) ||
            (days_s && parse_long(days_s, LONG_MIN, LONG_MAX, &days) != ERR_OK)) {
            fprintf(stderr, "usage: patrold token issue --user NAME | --device NAME "
                            "[--label TEXT] [--expires-days N]\n");
            return 2;
        }
        char token[AUTH_TOKEN_LEN + 1];
        enum err e = accounts_token_issue(x, user ? WHO_USER : WHO_DEVICE, user ? user : device,
                                          label, days, token, &id, NULL, 0);
        if (e == ERR_OK) {
            printf("%s\n", token);
            fprintf(stderr, "patrold: token %lld issued for %s %s\n", id, user ? "user" : "device",
                    user ? user : device);
        }
        return report(e, x->msg);
    }
    if (argc == 3 && strcmp(argv[1], "revoke") == 0) {
        int64_t v;
        if (parse_i64(argv[2], 1, INT64_MAX, &v) != ERR_OK) {
            fprintf(stderr, "usage: patrold token revoke ID\n");
            return 2;
        }
        id = v;
        enum err e = accounts_token_revoke(x, id);
        if (e == ERR_OK)
            fprintf(stderr, "patrold: token %lld revoked\n", id);
        return report(e, x->msg);
    }
    if (argc == 2 && strcmp(argv[1], "list") == 0) {
        PGresult *res;
        enum err e = db_exec_sql(x->c,
                                 "SELECT t.id, coalesce('user:' || u.name, 'device:' || d.name),"
                                 " coalesce(t.label, ''), t.created_at,"
                                 " coalesce(t.expires_at::text, 'never'),"
                                 " CASE WHEN t.revoked_at IS NULL THEN 'active' ELSE 'revoked' END"
                                 " FROM tokens t LEFT JOIN users u ON u.id = t.user_id"
                                 " LEFT JOIN devices d ON d.id = t.device_id ORDER BY t.id",
                                 &res, NULL);
        if (e != ERR_OK)
            return report(e, db_error_message(x->c));
        printf("%-6s %-28s %-16s %-25s %-25s %s\n", "id", "owner", "label", "created", "expires",
               "state");
        for (int i = 0; i < PQntuples(res); i++)
            printf("%-6s %-28s %-16s %-25s %-25s %s\n", PQgetvalue(res, i, 0),
                   PQgetvalue(res, i, 1), PQgetvalue(res, i, 2), PQgetvalue(res, i, 3),
                   PQgetvalue(res, i, 4), PQgetvalue(res, i, 5));
        PQclear(res);
        return 0;
    }
    fprintf(stderr, "usage: patrold token issue|revoke|list ...\n");
    return 2;
}

static int cmd_device(struct account_ctx *x, int argc, char **argv)
{
    static const char *const known[] = { "--kind", "--unit", NULL };
    int bad = 0;
    long long id = 0;
    if (argc < 3 || strcmp(argv[1], "add") != 0 || check_flags(argc, argv, 3, known, NULL) != 0) {
        fprintf(stderr, "usage: patrold device add NAME [--kind phone|jt808|other] "
                        "[--unit TEXT]\n");
        return 2;
    }
    const char *kind = flag(argc, argv, 3, "--kind", &bad);
    const char *unit = flag(argc, argv, 3, "--unit", &bad);
    if (bad)
        return 2;
    char token[AUTH_TOKEN_LEN + 1], ident[AUTH_IDENT_LEN + 1];
    enum err e = accounts_device_create(x, argv[2], kind, unit, ident, token, &id);
    if (e == ERR_OK) {
        json_t *j =
            json_pack("{s:I,s:s,s:s,s:s?,s:s,s:s}", "id", (json_int_t)id, "name", argv[2], "kind",
                      kind ? kind : "phone", "unit", unit, "token", token, "ident", ident);
        char *text = json_dumps(j, JSON_COMPACT);
        printf("%s\n", text ? text : "{}");
        free(text);
        json_decref(j);
    }
    return report(e, x->msg);
}

/* Account commands need the current schema; say so instead of failing on a missing table. */
static int schema_pending(struct db_conn *c)
{
    char msg[512];
    int pending = 0;
    enum err e = migrate_apply(c, 0, &pending, msg, sizeof(msg));
    if (e == ERR_OK && pending == 0)
        return 0;
    if (e == ERR_OK)
        fprintf(stderr, "patrold: %s; run `patrold migrate` first\n", msg);
    else
        fprintf(stderr, "patrold: %s\n", msg);
    return 1;
}

int cli_main(const struct config *cfg, int argc, char **argv)
{
    const char *cmd = argv[0];
    if (strcmp(cmd, "migrate") != 0 && strcmp(cmd, "user") != 0 && strcmp(cmd, "token") != 0 &&
        strcmp(cmd, "device") != 0) {
        fprintf(stderr, "patrold: unknown command '%s'\n", cmd);
        cli_usage(stderr);
        return 2;
    }
    if (strcmp(cmd, "migrate") == 0 && argc != 1) {
        fprintf(stderr, "usage: patrold migrate\n");
        return 2;
    }
    struct db_settings s;
    struct db_conn *c = cli_connect(cfg, &s);
    if (c == NULL)
        return 1;
    int rc;
    if (strcmp(cmd, "migrate") == 0) {
        rc = cmd_migrate(c);
    } else if (schema_pending(c)) {
        rc = 1;
    } else {
        char actor[96], msg[512] = "";
        const char *login = getenv("SUDO_USER") ? getenv("SUDO_USER") : getenv("USER");
        snprintf(actor, sizeof(actor), "cli:%s", login ? login : "unknown");
        struct account_ctx x = { c, actor, NULL, msg, sizeof(msg) };
        if (strcmp(cmd, "user") == 0)
            rc = cmd_user(&x, argc, argv);
        else if (strcmp(cmd, "token") == 0)
            rc = cmd_token(&x, argc, argv);
        else
            rc = cmd_device(&x, argc, argv);
    }
    db_close(c);
    return rc;
}
