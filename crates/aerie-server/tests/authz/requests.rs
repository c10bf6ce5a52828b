//! Building each row's request for one caller: its path, its body, the object it acts on.

use super::*;

pub(super) fn req(method: Method, path: String, body: Body) -> Req {
    Req {
        method,
        path,
        body,
        spare: false,
        fresh: false,
    }
}
pub(super) fn get(path: impl Into<String>) -> Req {
    req(Method::GET, path.into(), Body::Empty)
}
pub(super) fn post(path: impl Into<String>, body: Value) -> Req {
    req(Method::POST, path.into(), Body::Json(body))
}
pub(super) fn delete(path: impl Into<String>) -> Req {
    req(Method::DELETE, path.into(), Body::Empty)
}
/// The request a row stands for, as `who` on `fx`'s appliance; `None` for a row it does
/// not know.
pub(super) fn api_request(row: &Row, fx: &Fx, who: Who) -> Option<Req> {
    let me = &fx.mine[&(who, Channel::Api)];
    let creds = &fx.callers[&who];
    let (cm, shared, sha) = (fx.cm_id, fx.shared, &fx.sha256);
    let unique = format!("{}-{}", fx.side.label().to_lowercase(), who.label());
    let target = fx.targets[&Channel::Api];
    let comment = json!({"comment": "authz matrix"});
    let acknowledge = json!({"status": "acknowledged", "comment": "authz matrix"});
    let quarantine = |ip: &str| json!({"kind": "quarantine_endpoint", "value": ip});
    let whitelist = |ip: &str| json!({"kind": "endpoint", "value": ip, "reason": "authz matrix"});
    Some(match (row.method, row.path, row.variant) {
        ("GET", "/healthz" | "/api/v1/openapi.json" | "/metrics", _) => get(row.path),
        ("POST", "/api/v1/login", _) => {
            post(row.path, json!({"username": PROBE, "password": PASSWORD}))
        }
        ("POST", "/api/v1/logout", _) => Req {
            spare: true,
            ..post(row.path, json!({}))
        },
        ("GET", "/api/v1/api-keys", _) => get(row.path),
        ("POST", "/api/v1/api-keys", _) => post(row.path, json!({"name": "matrix"})),
        ("POST", "/api/v1/api-keys/{id}/rotate", _) => req(
            Method::POST,
            format!("/api/v1/api-keys/{}/rotate", creds.own_keys.0),
            Body::Empty,
        ),
        ("DELETE", "/api/v1/api-keys/{id}", _) => {
            delete(format!("/api/v1/api-keys/{}", creds.own_keys.1))
        }
        ("POST", "/api/v1/password", _) => Req {
            fresh: true,
            ..post(
                row.path,
                json!({"current_password": creds.password, "new_password": creds.password}),
            )
        },
        ("POST", "/api/v1/events", _) => post(
            row.path,
            serde_json::to_value(batch(vec![event(&me.spare_ips.1, 100, 0.9)])).unwrap(),
        ),
        ("POST", "/api/v1/artifacts", _) => req(
            Method::POST,
            row.path.into(),
            Body::Bytes(aerie_client::artifacts::screenshot(seed(fx.side, who))),
        ),
        ("GET", "/api/v1/incidents", _) => get(row.path),
        ("GET", "/api/v1/incidents/{id}", _) => get(format!("/api/v1/incidents/{shared}")),
        ("POST", "/api/v1/incidents/{id}/status", _) => post(
            format!("/api/v1/incidents/{}/status", me.status),
            acknowledge,
        ),
        ("POST", "/api/v1/incidents/{id}/comments", _) => {
            post(format!("/api/v1/incidents/{shared}/comments"), comment)
        }
        ("GET", "/api/v1/incidents/{id}/artifacts/{sha256}", _) => {
            get(format!("/api/v1/incidents/{shared}/artifacts/{sha}"))
        }
        ("GET", "/api/v1/incidents/{id}/ivp/{platform}", _) => {
            get(format!("/api/v1/incidents/{shared}/ivp/posix"))
        }
        ("POST", "/api/v1/incidents/{id}/mitigations", _) => {
            let (id, ip) = &me.mitigate;
            post(
                format!("/api/v1/incidents/{id}/mitigations"),
                quarantine(ip),
            )
        }
        ("DELETE", "/api/v1/incidents/{id}/mitigations/{mitigation}", _) => {
            let (id, m) = me.revoke;
            delete(format!("/api/v1/incidents/{id}/mitigations/{m}"))
        }
        ("POST", "/api/v1/incidents/{id}/whitelist", _) => {
            let (id, ip) = &me.whitelist;
            post(format!("/api/v1/incidents/{id}/whitelist"), whitelist(ip))
        }
        ("GET", "/api/v1/mitigations" | "/api/v1/whitelist" | "/api/v1/campaigns", _) => {
            get(row.path)
        }
        ("POST", "/api/v1/whitelist", _) => post(row.path, whitelist(&me.spare_ips.0)),
        ("DELETE", "/api/v1/whitelist/{id}", _) => {
            delete(format!("/api/v1/whitelist/{}", me.entry))
        }
        ("POST", "/api/v1/feeds/credential", _) => post(row.path, json!({})),
        ("GET", "/feeds/{file}", _) => get("/feeds/ip.txt"),
        ("GET", "/api/v1/users", _) => get(row.path),
        ("POST", "/api/v1/users", _) => post(
            row.path,
            json!({"username": format!("new-{unique}"), "password": PASSWORD, "role": "viewer"}),
        ),
        ("PATCH", "/api/v1/users/{id}", _) => req(
            Method::PATCH,
            format!("/api/v1/users/{target}"),
            Body::Json(json!({"role": "viewer"})),
        ),
        ("GET", "/api/v1/users/{id}/api-keys", _) => {
            get(format!("/api/v1/users/{target}/api-keys"))
        }
        ("POST", "/api/v1/users/{id}/api-keys", _) => post(
            format!("/api/v1/users/{target}/api-keys"),
            json!({"name": "matrix"}),
        ),
        ("DELETE", "/api/v1/users/{id}/api-keys/{key}", _) => {
            delete(format!("/api/v1/users/{target}/api-keys/{}", me.user_key))
        }
        ("GET", "/api/v1/roles", _) => get(row.path),
        ("POST", "/api/v1/roles", _) => post(
            row.path,
            json!({"name": format!("new-{unique}"), "permissions": ["view", "triage"]}),
        ),
        ("DELETE", "/api/v1/roles/{name}", _) => delete(format!("/api/v1/roles/{}", me.role)),
        ("GET", "/api/v1/audit" | "/api/v1/audit/verify", _) => get(row.path),
        ("GET", "/api/v1/cms", _) => get(row.path),
        ("GET", "/api/v1/incidents/{cm}/{id}", _) => {
            get(format!("/api/v1/incidents/{cm}/{shared}"))
        }
        ("POST", "/api/v1/incidents/{cm}/{id}/{action}", "status") => post(
            format!("/api/v1/incidents/{cm}/{}/status", me.status),
            acknowledge,
        ),
        ("POST", "/api/v1/incidents/{cm}/{id}/{action}", "comments") => {
            post(format!("/api/v1/incidents/{cm}/{shared}/comments"), comment)
        }
        ("POST", "/api/v1/incidents/{cm}/{id}/{action}", "mitigations") => {
            let (id, ip) = &me.mitigate;
            post(
                format!("/api/v1/incidents/{cm}/{id}/mitigations"),
                quarantine(ip),
            )
        }
        ("POST", "/api/v1/incidents/{cm}/{id}/{action}", "whitelist") => {
            let (id, ip) = &me.whitelist;
            post(
                format!("/api/v1/incidents/{cm}/{id}/whitelist"),
                whitelist(ip),
            )
        }
        ("DELETE", "/api/v1/incidents/{cm}/{id}/mitigations/{mitigation}", _) => {
            let (id, m) = me.revoke;
            delete(format!("/api/v1/incidents/{cm}/{id}/mitigations/{m}"))
        }
        ("GET", "/api/v1/incidents/{cm}/{id}/artifacts/{sha256}", _) => {
            get(format!("/api/v1/incidents/{cm}/{shared}/artifacts/{sha}"))
        }
        ("GET", "/api/v1/incidents/{cm}/{id}/ivp/{platform}", _) => {
            get(format!("/api/v1/incidents/{cm}/{shared}/ivp/posix"))
        }
        ("POST", "/api/v1/federation/challenge", _) => post(row.path, json!({})),
        ("POST", "/api/v1/federation/register", _) => post(
            row.path,
            json!({
                "username": "admin", "cm_uid": "not-a-cm", "cm_name": "not-a-cm",
                "cm_url": "https://127.0.0.9:1", "cm_fingerprint": "00", "version": "0",
                "kdf": "pbkdf2-sha256", "nonce": "n_not-issued", "proof": "00",
            }),
        ),
        ("POST", "/api/v1/federation/certificate", _) => {
            post(row.path, json!({"nonce": "ab".repeat(32), "cm_id": cm}))
        }
        ("POST", "/api/v1/federation/proxy-token", _) => {
            post(row.path, json!({"token": "px_not-a-token"}))
        }
        ("POST", "/api/v1/federation/sync", _) => post(row.path, json!({})),
        _ => return None,
    })
}
/// A screenshot seed per (side, caller): every upload is new content.
pub(super) fn seed(side: Side, who: Who) -> u64 {
    1000 + 10 * side as u64 + who as u64
}
/// The form a UI row stands for, as `who` on `fx`'s appliance (the CSRF field is added
/// when it is sent); `None` for a row it does not know.
pub(super) fn ui_request(row: &Row, fx: &Fx, who: Who) -> Option<UiReq> {
    let me = &fx.mine[&(who, Channel::Ui)];
    let creds = &fx.callers[&who];
    let cm = fx.cm_id;
    let target = fx.targets[&Channel::Ui].to_string();
    let unique = format!("ui-{}-{}", fx.side.label().to_lowercase(), who.label());
    let form = |path: String, fields: Vec<(&'static str, String)>| UiReq {
        path,
        body: UiBody::Form(fields),
        spare: false,
    };
    let users = |action: &str, mut more: Vec<(&'static str, String)>| {
        more.push(("action", action.into()));
        more.push(("user", target.clone()));
        form("/config/users".into(), more)
    };
    // The incident forms, on a CM's page or on the MCM's page of the CM's incident.
    let incident = |id: i64| {
        if row.path.starts_with("/incidents/{cm}/") {
            format!("/incidents/{cm}/{id}")
        } else {
            format!("/incidents/{id}")
        }
    };
    let s = String::from;
    Some(match (row.path, row.variant) {
        ("/login", _) => form(
            row.path.into(),
            vec![("username", s(PROBE)), ("password", s(PASSWORD))],
        ),
        ("/logout", _) => UiReq {
            spare: true,
            ..form(row.path.into(), vec![])
        },
        ("/config/password", _) => form(
            row.path.into(),
            vec![
                ("current_password", creds.password.clone()),
                ("new_password", creds.password.clone()),
                ("confirm", creds.password.clone()),
            ],
        ),
        ("/config/users", "create") => form(
            row.path.into(),
            vec![
                ("action", s("create")),
                ("username", format!("new-{unique}")),
                ("password", s(PASSWORD)),
                ("role", s("viewer")),
            ],
        ),
        ("/config/users", "role") => users("role", vec![("role", s("viewer"))]),
        ("/config/users", action @ ("disable" | "enable")) => users(action, vec![]),
        ("/config/users", "password") => users("password", vec![("password", s(PASSWORD))]),
        ("/config/users", "key") => users("key", vec![("name", s("matrix"))]),
        ("/config/users", "revoke_key") => {
            users("revoke_key", vec![("key", me.user_key.to_string())])
        }
        ("/config/roles", "create") => form(
            row.path.into(),
            vec![
                ("action", s("create")),
                ("name", format!("new-{unique}")),
                ("permission", s("view")),
                ("permission", s("triage")),
            ],
        ),
        ("/config/radius", "save") => form(
            row.path.into(),
            vec![
                ("action", s("save")),
                ("timeout", s("3")),
                ("retries", s("2")),
                ("role_attribute", s("class")),
                ("role_map", s("")),
            ],
        ),
        ("/config/radius", "test") => form(
            row.path.into(),
            vec![
                ("action", s("test")),
                ("test_user", s(PROBE)),
                ("test_password", s(PASSWORD)),
            ],
        ),
        ("/config/saml", action @ ("save" | "check")) => UiReq {
            path: row.path.into(),
            body: UiBody::Multipart(vec![
                ("action", s(action)),
                ("groups_attribute", s("groups")),
                ("group_map", s("")),
                ("clock_skew", s("60")),
            ]),
            spare: false,
        },
        ("/config/backup", "schedule") => form(
            row.path.into(),
            vec![
                ("action", s("schedule")),
                ("every_hours", s("24")),
                ("keep", s("7")),
                ("directory", s("")),
            ],
        ),
        ("/config/backup", "create") => form(
            row.path.into(),
            vec![
                ("action", s("create")),
                ("passphrase", s("authz matrix one")),
                ("confirm", s("authz matrix two")),
            ],
        ),
        ("/config/gss", action @ ("check" | "apply" | "rollback")) => {
            form(row.path.into(), vec![("action", s(action))])
        }
        ("/config/licensing", _) => form(row.path.into(), vec![("license", s(""))]),
        // No address: refused by the form's own check once the right is checked.
        ("/config/system/syslog", action) => form(
            row.path.into(),
            vec![
                ("action", s(action)),
                ("server", s("")),
                ("protocol", s("tcp")),
            ],
        ),
        ("/config/system", _) => form(
            row.path.into(),
            vec![
                ("hostname", s("")),
                ("time_zone", s("UTC")),
                ("session_ttl", s("default")),
                ("login_banner", s("")),
                ("listen_port", s("")),
            ],
        ),
        ("/config/gss", "source") => form(
            row.path.into(),
            vec![("action", s("source")), ("kind", s("none"))],
        ),
        ("/config/roles", "delete") => form(
            row.path.into(),
            vec![("action", s("delete")), ("name", me.role.clone())],
        ),
        ("/uploads", _) => UiReq {
            path: row.path.into(),
            body: UiBody::Upload(format!("sample of {unique}").into_bytes()),
            spare: false,
        },
        (p, _) if p.ends_with("/status") => form(
            format!("{}/status", incident(me.status)),
            vec![
                ("status", s("acknowledged")),
                ("comment", s("authz matrix")),
            ],
        ),
        (p, _) if p.ends_with("/comment") => form(
            format!("{}/comment", incident(fx.shared)),
            vec![("comment", s("authz matrix"))],
        ),
        (p, _) if p.ends_with("/mitigate") => form(
            format!("{}/mitigate", incident(me.mitigate.0)),
            vec![
                ("kind", s("quarantine_endpoint")),
                ("value", me.mitigate.1.clone()),
            ],
        ),
        (p, _) if p.ends_with("/revoke") => form(
            format!("{}/revoke", incident(me.revoke.0)),
            vec![("mitigation", me.revoke.1.to_string())],
        ),
        (p, _) if p.ends_with("/whitelist") => form(
            format!("{}/whitelist", incident(me.whitelist.0)),
            vec![
                ("indicator", format!("endpoint|{}", me.whitelist.1)),
                ("reason", s("authz matrix")),
            ],
        ),
        _ => return None,
    })
}
