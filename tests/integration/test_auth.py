#!/usr/bin/env python3
"""test_auth.py - integration tests of patrold's identities: the bootstrap CLI (`user add`,
`token issue|revoke|list`, `device add`), bearer tokens (missing, garbage, revoked, expired),
roles (viewer/editor/admin, device tokens only on device routes), denials in `audit_log`, the
admin API for users, tokens and devices, and how secrets are stored (token SHA-256 only,
argon2id passwords, nothing secret in audit_log).

Not here: the HTTP core (test_core.py), signals and outages (test_lifecycle.py).

Run: python3 tests/integration/test_auth.py [-k PATTERN]
"""
import datetime
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
from harness import PatrolTestCase  # noqa: E402

PASSWORD = "Corr3ct-horse-battery"
SECRET_KEYS = {"password", "password_hash", "hash", "token_hash"}


class AuthCase(PatrolTestCase):
    DB_PREFIX = "auth"

    def token_id(self, token):
        v = self.scalar("SELECT id FROM tokens WHERE token_hash = sha256(convert_to(:'tok', "
                        "'UTF8'))", tok=token)
        return int(v)

    def me(self, token, **kw):
        return self.request("GET", "/api/v1/me", token=token, **kw)

    def assert_unauthorized(self, r, ctx=""):
        self.assert_error(r, 401, "unauthorized", ctx)
        www = r.header("WWW-Authenticate") or ""
        self.assertTrue(www.lower().startswith("bearer"),
                        "401 must carry WWW-Authenticate: Bearer ...: %r" % r)

    def audit_row(self, request_id, timeout=2.0):
        """The audit_log rows of a request (polled briefly), as dicts."""
        deadline = time.monotonic() + timeout
        while True:
            rows = self.psql("SELECT actor, action, coalesce(target, ''), request_id "
                             "FROM audit_log WHERE request_id = :'rid' ORDER BY id",
                             rid=request_id)
            if rows or time.monotonic() > deadline:
                return [dict(zip(("actor", "action", "target", "request_id"), r)) for r in rows]
            time.sleep(0.1)


class TestCli(AuthCase):
    def test_bootstrap_admin_and_me(self):
        cp = self.add_user("boss", "admin", display_name="局长 Boss")
        self.assertTrue(cp.stderr.strip(), "`user add` must print a line on stderr")
        tok = self.issue_token(user="boss")
        r = self.me(tok)
        self.assertEqual(r.status, 200, r)
        uid = int(self.scalar("SELECT id FROM users WHERE name = 'boss'"))
        self.assertEqual(r.json, {"kind": "user", "id": uid, "name": "boss", "role": "admin"})
        self.assertEqual(self.scalar("SELECT display_name FROM users WHERE name = 'boss'"),
                         "局长 Boss")

    def test_user_add_duplicate_exits_1(self):
        self.add_user("twice", "viewer")
        with self.assert_no_write("users"):
            cp = self.patrold("user", "add", "twice", "--role", "editor", expect=1)
        self.assertTrue(cp.stderr.strip(), "a failure must be explained on stderr")
        self.assertEqual(self.scalar("SELECT role FROM users WHERE name = 'twice'"), "viewer")

    def test_user_add_bad_role_fails(self):
        with self.assert_no_write("users"):
            cp = self.patrold("user", "add", "badrole", "--role", "root", expect=None)
        self.assertNotEqual(cp.returncode, 0, "`user add --role root` must fail")

    def test_me_viewer_and_editor(self):
        for role in ("viewer", "editor"):
            with self.subTest(role=role):
                self.add_user("u_" + role, role)
                tok = self.issue_token(user="u_" + role)
                r = self.me(tok)
                self.assertEqual(r.status, 200, r)
                self.assertEqual(r.json["kind"], "user")
                self.assertEqual(r.json["role"], role)
                self.assertEqual(r.json["name"], "u_" + role)

    def test_device_add_and_me(self):
        dev = self.add_device("car1", kind="phone", unit="城关派出所")
        self.assertEqual(dev["name"], "car1")
        r = self.me(dev["token"])
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.json, {"kind": "device", "id": dev["id"], "name": "car1",
                                  "role": "device"})
        self.assertEqual(self.scalar("SELECT unit FROM devices WHERE name = 'car1'"), "城关派出所")
        # The identifier is stored hashed only.
        self.assertEqual(self.count("devices", "ident_hash = sha256(convert_to(:'ident', "
                                    "'UTF8'))", ident=dev["ident"]), 1)
        self.assertEqual(self.count("devices d", "d::text LIKE '%' || :'ident' || '%'",
                                    ident=dev["ident"]), 0,
                         "the plain device identifier must not be stored")
        # A second token for the same device works too.
        tok2 = self.issue_token(device="car1")
        r = self.me(tok2)
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.json["kind"], "device")

    def test_device_kinds(self):
        for kind in ("phone", "jt808", "other"):
            dev = self.add_device("dev_" + kind, kind=kind)
            self.assertEqual(self.scalar("SELECT kind FROM devices WHERE id = :id",
                                         id=int(dev["id"])), kind)
        with self.assert_no_write("devices"):
            cp = self.patrold("device", "add", "dev_bad", "--kind", "bicycle", expect=None)
        self.assertNotEqual(cp.returncode, 0)

    def test_token_revoke_and_list(self):
        self.add_user("rev", "viewer")
        tok = self.issue_token(user="rev", label="to-revoke")
        keep = self.issue_token(user="rev", label="to-keep")
        tid = self.token_id(tok)
        cp = self.patrold("token", "list")
        self.assertIn(str(tid), cp.stdout + cp.stderr, "`token list` must show token ids")
        self.assertIn("to-revoke", cp.stdout + cp.stderr, "`token list` must show labels")
        self.assertNotIn(tok, cp.stdout + cp.stderr, "`token list` must not show tokens")
        self.assertEqual(self.me(tok).status, 200)
        self.patrold("token", "revoke", str(tid))
        self.assertIsNotNone(self.scalar("SELECT revoked_at FROM tokens WHERE id = :id", id=tid))
        self.assert_unauthorized(self.me(tok), "revoked by CLI")
        self.assertEqual(self.me(keep).status, 200, "revoking one token must not touch another")

    def test_token_expires_days(self):
        self.add_user("exp", "viewer")
        tok = self.issue_token(user="exp", expires_days=2)
        hours = float(self.scalar("SELECT extract(epoch FROM expires_at - now()) / 3600 "
                                  "FROM tokens WHERE id = :id", id=self.token_id(tok)))
        self.assertTrue(47 <= hours <= 49, "expires_at should be ~48 h ahead, is %.2f h" % hours)
        tok2 = self.issue_token(user="exp")
        self.assertIsNone(self.scalar("SELECT expires_at FROM tokens WHERE id = :id",
                                      id=self.token_id(tok2)),
                          "without --expires-days a token should not expire")

    def test_password_stdin_stored_as_argon2id(self):
        self.add_user("pw", "viewer", password=PASSWORD)
        h = self.scalar("SELECT password_hash FROM users WHERE name = 'pw'")
        self.assertTrue(h and h.startswith("$argon2id$"), "password_hash %r" % h)
        self.assertNotIn(PASSWORD, h)
        self.add_user("nopw", "viewer")
        self.assertIsNone(self.scalar("SELECT password_hash FROM users WHERE name = 'nopw'"),
                          "a user added without a password is token-only (NULL hash)")


class TestUnauthorized(AuthCase):
    def test_missing_token_401(self):
        self.assert_unauthorized(self.request("GET", "/api/v1/me"), "no Authorization")
        self.assert_unauthorized(self.request("GET", "/api/v1/users"), "no Authorization")

    def test_garbage_tokens_401(self):
        tok = self.admin_token()
        for label, value in [("garbage", "Bearer garbage"), ("empty", "Bearer "),
                             ("scheme only", "Bearer"), ("basic", "Basic YWRtaW46YWRtaW4="),
                             ("token without scheme", tok), ("extra char", "Bearer " + tok + "x"),
                             ("truncated", "Bearer " + tok[:-1]),
                             ("two tokens", "Bearer %s %s" % (tok, tok)),
                             ("non-ascii", "Bearer 令牌令牌令牌")]:
            with self.subTest(case=label):
                r = self.request("GET", "/api/v1/me",
                                 headers={"Authorization": value.encode("utf-8")})
                self.assert_unauthorized(r, label)

    def test_scheme_is_case_insensitive(self):
        tok = self.admin_token()
        r = self.request("GET", "/api/v1/me", headers={"Authorization": "bearer " + tok})
        self.assertEqual(r.status, 200, "RFC 7235: the auth scheme is case-insensitive: %r" % r)

    def test_revoked_token_401(self):
        admin = self.admin_token()
        self.add_user("v1", "viewer")
        tok = self.issue_token(user="v1")
        self.assertEqual(self.me(tok).status, 200)
        r = self.request("DELETE", "/api/v1/tokens/%d" % self.token_id(tok), token=admin)
        self.assertEqual(r.status, 204, r)
        self.assertEqual(r.body, b"", "204 has no body")
        self.assert_unauthorized(self.me(tok), "revoked by API")

    def test_expired_token_401(self):
        self.add_user("v2", "viewer")
        tok = self.issue_token(user="v2", expires_days=30)
        self.assertEqual(self.me(tok).status, 200)
        self.psql("UPDATE tokens SET expires_at = now() - interval '1s' WHERE id = :id",
                  id=self.token_id(tok))
        self.assert_unauthorized(self.me(tok), "expired")

    def test_disabled_user_is_refused(self):
        self.add_user("v3", "viewer")
        tok = self.issue_token(user="v3")
        self.assertEqual(self.me(tok).status, 200)
        self.psql("UPDATE users SET disabled = true WHERE name = 'v3'")
        r = self.me(tok)
        self.assertIn(r.status, (401, 403), "a disabled user's token must stop working: %r" % r)

    def test_disabled_device_is_refused(self):
        dev = self.add_device("car_off")
        self.assertEqual(self.me(dev["token"]).status, 200)
        self.psql("UPDATE devices SET disabled = true WHERE name = 'car_off'")
        r = self.me(dev["token"])
        self.assertIn(r.status, (401, 403), "a disabled device's token must stop working: %r" % r)

    def test_token_use_updates_last_used_at(self):
        self.add_user("v4", "viewer")
        tok = self.issue_token(user="v4")
        self.assertEqual(self.me(tok).status, 200)
        deadline = time.monotonic() + 3
        while time.monotonic() < deadline:
            if self.scalar("SELECT last_used_at FROM tokens WHERE id = :id",
                           id=self.token_id(tok)) is not None:
                break
            time.sleep(0.1)
        self.assertIsNotNone(self.scalar("SELECT last_used_at FROM tokens WHERE id = :id",
                                         id=self.token_id(tok)),
                             "tokens.last_used_at should be set after use")


class TestRoles(AuthCase):
    def test_viewer_and_editor_cannot_use_admin_routes(self):
        admin_tid = self.token_id(self.admin_token())
        for role in ("viewer", "editor"):
            self.add_user("r_" + role, role)
            tok = self.issue_token(user="r_" + role)
            for method, path, body in [("GET", "/api/v1/users", None),
                                       ("POST", "/api/v1/users",
                                        {"name": "sneaky_" + role, "role": "admin"}),
                                       ("GET", "/api/v1/devices", None),
                                       ("POST", "/api/v1/devices", {"name": "sneaky_dev"}),
                                       ("POST", "/api/v1/tokens", {"user": "admin"}),
                                       ("DELETE", "/api/v1/tokens/%d" % admin_tid, None)]:
                with self.subTest(role=role, method=method, path=path):
                    with self.assert_no_write("users", "devices", "tokens"):
                        r = self.request(method, path, body=body, token=tok)
                    self.assert_error(r, 403, "forbidden")
        self.assertIsNone(self.scalar("SELECT revoked_at FROM tokens WHERE id = :id",
                                      id=admin_tid), "a forbidden DELETE revoked the token")

    def test_device_token_only_on_device_routes(self):
        self.admin_token()
        dev = self.add_device("car9")
        for method, path, body in [("GET", "/api/v1/users", None),
                                   ("POST", "/api/v1/users", {"name": "devmade", "role": "admin"}),
                                   ("GET", "/api/v1/devices", None),
                                   ("POST", "/api/v1/tokens", {"device": "car9"})]:
            with self.subTest(method=method, path=path):
                with self.assert_no_write("users", "devices", "tokens"):
                    r = self.request(method, path, body=body, token=dev["token"])
                self.assert_error(r, 403, "forbidden")

    def test_denials_are_audited(self):
        self.admin_token()
        self.add_user("aud_viewer", "viewer")
        vtok = self.issue_token(user="aud_viewer")
        dev = self.add_device("aud_car")
        cases = [
            (self.request("POST", "/api/v1/users", body={"name": "x1", "role": "viewer"},
                          token=vtok), 403, "user:aud_viewer"),
            (self.request("GET", "/api/v1/users", token=dev["token"]), 403, "device:aud_car"),
            (self.request("GET", "/api/v1/me"), 401, "anonymous"),
            (self.request("GET", "/api/v1/users", token="garbage-token-value"), 401,
             "anonymous"),
        ]
        for r, status, actor in cases:
            with self.subTest(request=repr(r)[:80], actor=actor):
                self.assertEqual(r.status, status, r)
                rows = self.audit_row(r.request_id)
                self.assertTrue(any(x["action"] == "deny" for x in rows),
                                "no audit_log deny row with request_id %r (rows: %r)"
                                % (r.request_id, rows))
                deny = [x for x in rows if x["action"] == "deny"][0]
                self.assertEqual(deny["actor"], actor, rows)
        self.assertEqual(self.count("audit_log", "audit_log::text LIKE '%garbage-token-value%'"), 0,
                         "a presented token must not be written to audit_log")


class TestUsersApi(AuthCase):
    def test_create_user_via_api(self):
        admin = self.admin_token()
        body = {"name": "li", "role": "viewer", "display_name": "李主任", "password": PASSWORD}
        r = self.request("POST", "/api/v1/users", body=body, token=admin)
        self.assertEqual(r.status, 201, r)
        u = r.json
        for k in ("id", "name", "display_name", "role", "disabled"):
            self.assertIn(k, u, r)
        self.assertEqual((u["name"], u["role"], u["display_name"], u["disabled"]),
                         ("li", "viewer", "李主任", False))
        self.assertFalse(SECRET_KEYS & set(u), "no password or hash in the response: %r" % u)
        self.assertNotIn(PASSWORD, r.text)
        self.assertNotIn("$argon2", r.text)
        # It is there: in the table, in the listing, and it can be given a token.
        self.assertEqual(int(self.scalar("SELECT id FROM users WHERE name = 'li'")), u["id"])
        lst = self.request("GET", "/api/v1/users", token=admin)
        self.assertEqual(lst.status, 200, lst)
        names = {x["name"]: x for x in lst.json["users"]}
        self.assertIn("li", names)
        self.assertIn("admin", names)
        for x in lst.json["users"]:
            for k in ("id", "name", "display_name", "role", "disabled", "created_at"):
                self.assertIn(k, x)
            self.assertFalse(SECRET_KEYS & set(x), x)
        self.assertNotIn("$argon2", lst.text)
        # The password is argon2id and stays out of every other column and of audit_log.
        h = self.scalar("SELECT password_hash FROM users WHERE name = 'li'")
        self.assertTrue(h and h.startswith("$argon2id$"), h)
        self.assertEqual(self.count("users", "users::text LIKE '%' || :'pw' || '%'",
                                    pw=PASSWORD), 0)
        self.assertEqual(self.count("audit_log", "audit_log::text LIKE '%' || :'pw' || '%'",
                                    pw=PASSWORD), 0)
        self.assertEqual(self.count("audit_log", "audit_log::text LIKE '%argon2%'"), 0,
                         "password hashes never enter audit_log")
        t = self.request("POST", "/api/v1/tokens", body={"user": "li"}, token=admin)
        self.assertEqual(t.status, 201, t)
        me = self.me(t.json["token"])
        self.assertEqual(me.status, 200, me)
        self.assertEqual(me.json, {"kind": "user", "id": u["id"], "name": "li", "role": "viewer"})

    def test_created_user_has_the_shape_of_the_listing(self):
        admin = self.admin_token()
        r = self.request("POST", "/api/v1/users", body={"name": "zhao", "role": "viewer"},
                         token=admin)
        self.assertEqual(r.status, 201, r)
        for k in ("id", "name", "display_name", "role", "disabled", "created_at"):
            self.assertIn(k, r.json, "the 201 body must be the user as GET /api/v1/users shows "
                          "it: %r" % r)

    def test_create_user_is_audited_as_admin(self):
        admin = self.admin_token()
        r = self.request("POST", "/api/v1/users", body={"name": "wang", "role": "editor"},
                         token=admin)
        self.assertEqual(r.status, 201, r)
        rows = self.audit_row(r.request_id)
        self.assertTrue(any(x["action"] == "insert" and x["target"] == "users"
                            and x["actor"] == "user:admin" for x in rows),
                        "no audit insert row for users by user:admin with the request id: %r"
                        % rows)


class TestTokensApi(AuthCase):
    def test_issue_and_revoke_via_api(self):
        admin = self.admin_token()
        self.add_user("tv", "viewer")
        r = self.request("POST", "/api/v1/tokens",
                         body={"user": "tv", "label": "tablet", "expires_days": 7}, token=admin)
        self.assertEqual(r.status, 201, r)
        t = r.json
        for k in ("id", "token", "label"):
            self.assertIn(k, t, r)
        self.assertEqual(t["label"], "tablet")
        self.assertEqual(self.token_id(t["token"]), t["id"])
        days = float(self.scalar("SELECT extract(epoch FROM expires_at - now()) / 86400 "
                                 "FROM tokens WHERE id = :id", id=t["id"]))
        self.assertTrue(6.9 < days <= 7.01, "expires_at ~7 days ahead, is %.3f" % days)
        self.assertEqual(self.me(t["token"]).status, 200)
        d = self.request("DELETE", "/api/v1/tokens/%d" % t["id"], token=admin)
        self.assertEqual(d.status, 204, d)
        self.assert_unauthorized(self.me(t["token"]))

    def test_issue_response_has_expires_at(self):
        admin = self.admin_token()
        self.add_user("tx", "viewer")
        r = self.request("POST", "/api/v1/tokens", body={"user": "tx", "expires_days": 7},
                         token=admin)
        self.assertEqual(r.status, 201, r)
        for k in ("id", "token", "label", "expires_at"):
            self.assertIn(k, r.json, "201 body of POST /api/v1/tokens: %r" % r)
        exp = datetime.datetime.fromisoformat(r.json["expires_at"].replace("Z", "+00:00"))
        self.assertIsNotNone(exp.tzinfo, "expires_at must carry its zone: %r" % r)
        db = self.scalar("SELECT extract(epoch FROM expires_at) FROM tokens WHERE id = :id",
                         id=r.json["id"])
        self.assertAlmostEqual(exp.timestamp(), float(db), delta=1.0)
        r = self.request("POST", "/api/v1/tokens", body={"user": "tx"}, token=admin)
        self.assertEqual(r.status, 201, r)
        self.assertIn("expires_at", r.json, r)
        self.assertIsNone(r.json["expires_at"], "no expires_days: expires_at is null: %r" % r)

    def test_device_token_via_api(self):
        admin = self.admin_token()
        self.add_device("car5")
        r = self.request("POST", "/api/v1/tokens", body={"device": "car5"}, token=admin)
        self.assertEqual(r.status, 201, r)
        me = self.me(r.json["token"])
        self.assertEqual(me.status, 200, me)
        self.assertEqual((me.json["kind"], me.json["name"], me.json["role"]),
                         ("device", "car5", "device"))

    def test_bad_token_requests(self):
        admin = self.admin_token()
        self.add_user("tb", "viewer")
        self.add_device("carb")
        for label, body, statuses in [
                ("both", {"user": "tb", "device": "carb"}, (400,)),
                ("neither", {"label": "x"}, (400,)),
                ("unknown member", {"user": "tb", "colour": "red"}, (400,)),
                ("unknown user", {"user": "nobody"}, (400, 404, 422)),
                ("unknown device", {"device": "nodevice"}, (400, 404, 422)),
                ("bad expires_days", {"user": "tb", "expires_days": -3}, (400, 422)),
                ("expires_days not a number", {"user": "tb", "expires_days": "7"}, (400,))]:
            with self.subTest(case=label):
                with self.assert_no_write("tokens"):
                    r = self.request("POST", "/api/v1/tokens", body=body, token=admin)
                self.assertIn(r.status, statuses, "%s: %r" % (label, r))
                self.assertIn("error", r.json, r)

    def test_delete_unknown_token_404(self):
        admin = self.admin_token()
        self.assert_error(self.request("DELETE", "/api/v1/tokens/987654", token=admin), 404,
                          "not_found")
        r = self.request("DELETE", "/api/v1/tokens/abc", token=admin)
        self.assertIn(r.status, (400, 404), r)

    def test_tokens_stored_hashed_only(self):
        admin = self.admin_token()
        self.add_user("hv", "viewer")
        dev = self.add_device("hcar")
        api_tok = self.request("POST", "/api/v1/tokens", body={"user": "hv"}, token=admin)
        self.assertEqual(api_tok.status, 201, api_tok)
        tokens = {"cli user": admin, "cli device": dev["token"],
                  "cli device issue": self.issue_token(device="hcar"),
                  "api user": api_tok.json["token"]}
        for label, tok in tokens.items():
            with self.subTest(token=label):
                self.assertEqual(self.count("tokens", "token_hash = sha256(convert_to(:'tok', "
                                            "'UTF8'))", tok=tok), 1)
                self.assertEqual(int(self.scalar("SELECT octet_length(token_hash) FROM tokens "
                                                 "WHERE id = :id", id=self.token_id(tok))), 32)
                for table in ("tokens", "users", "devices", "audit_log"):
                    self.assertEqual(
                        self.count(table, "%s::text LIKE '%%' || :'tok' || '%%'" % table,
                                   tok=tok), 0, "plain token found in %s" % table)
                self.assertEqual(
                    self.count("audit_log", "audit_log::text LIKE '%' || "
                               "encode(sha256(convert_to(:'tok', 'UTF8')), 'hex') || '%'",
                               tok=tok), 0, "token hashes never enter audit_log")
                self.assertRegex(tok, r"^[A-Za-z0-9_\-.~+/=]+$",
                                 "tokens should be plain header-safe text")
                self.assertGreaterEqual(len(tok), 32, "a token should carry >= 128 bits")


class TestDevicesApi(AuthCase):
    def test_create_and_list_devices(self):
        admin = self.admin_token()
        r = self.request("POST", "/api/v1/devices",
                         body={"name": "car7", "kind": "jt808", "unit": "城关派出所"}, token=admin)
        self.assertEqual(r.status, 201, r)
        d = r.json
        for k in ("id", "name", "kind", "unit", "token", "ident"):
            self.assertIn(k, d, r)
        self.assertEqual((d["name"], d["kind"], d["unit"]), ("car7", "jt808", "城关派出所"))
        me = self.me(d["token"])
        self.assertEqual(me.status, 200, me)
        self.assertEqual(me.json, {"kind": "device", "id": d["id"], "name": "car7",
                                   "role": "device"})
        r2 = self.request("POST", "/api/v1/devices", body={"name": "car8"}, token=admin)
        self.assertEqual(r2.status, 201, r2)
        self.assertEqual(r2.json["kind"], "phone", "kind defaults to phone")
        lst = self.request("GET", "/api/v1/devices", token=admin)
        self.assertEqual(lst.status, 200, lst)
        text = lst.text
        self.assertIn("car7", text)
        self.assertIn("car8", text)
        self.assertNotIn(d["token"], text, "the device listing must not show tokens")
        self.assertNotIn(r2.json["token"], text)

    def test_bad_device_requests(self):
        admin = self.admin_token()
        self.request("POST", "/api/v1/devices", body={"name": "dupcar"}, token=admin)
        for label, body, status, code in [
                ("bad kind", {"name": "c1", "kind": "bicycle"}, 400, "invalid_argument"),
                ("missing name", {"kind": "phone"}, 400, "invalid_argument"),
                ("unknown member", {"name": "c2", "wheels": 4}, 400, "invalid_argument"),
                ("duplicate", {"name": "dupcar"}, 409, "conflict")]:
            with self.subTest(case=label):
                with self.assert_no_write("devices", "tokens"):
                    r = self.request("POST", "/api/v1/devices", body=body, token=admin)
                self.assert_error(r, status, code, label)


if __name__ == "__main__":
    harness.main()
