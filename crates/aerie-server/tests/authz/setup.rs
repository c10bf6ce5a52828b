//! The callers, the objects they act on, the checks that the table covers every route and form, and the verdict.

use super::*;

/// The users of one appliance, logged in every way the matrix uses; the disabled one
/// disabled after logging in. Returns the callers and the users the admin forms change.
pub(super) async fn people(
    s: &TestServer,
    http: &reqwest::Client,
) -> (HashMap<Who, Creds>, HashMap<Channel, i64>) {
    let admin = &s.admin;
    call(
        admin,
        Method::POST,
        "/api/v1/roles",
        json!({"name": VIEW_ONLY_ROLE, "permissions": ["view"]}),
    )
    .await;
    let mut ids = HashMap::new();
    let extra = [
        (PROBE, "viewer"),
        ("target-api", "analyst"),
        ("target-ui", "analyst"),
    ];
    let accounts = CALLERS
        .iter()
        .filter_map(|w| w.account())
        .filter(|(n, _)| *n != "admin");
    for (name, role) in accounts.chain(extra) {
        let u = call(
            admin,
            Method::POST,
            "/api/v1/users",
            json!({"username": name, "password": PASSWORD, "role": role}),
        )
        .await;
        ids.insert(name, u["id"].as_i64().unwrap());
    }
    let mut callers = HashMap::new();
    for who in CALLERS {
        let Some((name, _)) = who.account() else {
            callers.insert(who, Creds::default());
            continue;
        };
        let password = if who == Who::Admin {
            s.admin_password.clone()
        } else {
            PASSWORD.to_owned()
        };
        let (client, session) = s.anon.login(name, &password).await.unwrap();
        let (_, spare) = s.anon.login(name, &password).await.unwrap();
        let key = |name: &'static str| {
            let client = client.clone();
            async move { client.create_api_key(name).await.unwrap().info.id }
        };
        let own_keys = (key("to-rotate").await, key("to-revoke").await);
        let (cookie, csrf) = form_login(s, http, name, &password).await;
        let (spare_cookie, spare_csrf) = form_login(s, http, name, &password).await;
        callers.insert(
            who,
            Creds {
                password,
                token: Some(session.token),
                spare_token: Some(spare.token),
                cookie: Some(cookie),
                csrf,
                spare_cookie: Some(spare_cookie),
                spare_csrf,
                own_keys,
            },
        );
    }
    let gone = ids["gone"];
    call(
        admin,
        Method::PATCH,
        &format!("/api/v1/users/{gone}"),
        json!({"disabled": true}),
    )
    .await;
    let targets = HashMap::from([
        (Channel::Api, ids["target-api"]),
        (Channel::Ui, ids["target-ui"]),
    ]);
    (callers, targets)
}
/// The `(METHOD, path)` pairs of an OpenAPI document.
pub(super) fn operations(doc: &Value) -> BTreeSet<(String, String)> {
    let methods = [
        "get", "put", "post", "delete", "options", "head", "patch", "trace",
    ];
    doc["paths"]
        .as_object()
        .expect("the document has paths")
        .iter()
        .flat_map(|(path, item)| {
            methods
                .iter()
                .filter(|m| item.get(**m).is_some())
                .map(|m| (m.to_uppercase(), path.clone()))
                .collect::<Vec<_>>()
        })
        .collect()
}
/// The POST forms of a page as (action with its ids as `{cm}`/`{id}`, `action` field).
pub(super) fn post_forms(page: &str) -> Vec<(String, String)> {
    page.split("<form")
        .skip(1)
        .filter_map(|rest| {
            let form = rest.split("</form>").next().unwrap_or(rest);
            let tag = form.split('>').next().unwrap_or_default();
            if !tag.contains("method=\"post\"") {
                return None;
            }
            let action = tag.split("action=\"").nth(1)?.split('"').next()?;
            let numeric: Vec<usize> = action
                .split('/')
                .enumerate()
                .filter(|(_, seg)| !seg.is_empty() && seg.bytes().all(|b| b.is_ascii_digit()))
                .map(|(i, _)| i)
                .collect();
            let names: &[&str] = match numeric.len() {
                2 => &["{cm}", "{id}"],
                _ => &["{id}"],
            };
            let path: Vec<String> = action
                .split('/')
                .enumerate()
                .map(|(i, seg)| match numeric.iter().position(|n| *n == i) {
                    Some(k) => names[k].to_owned(),
                    None => seg.to_owned(),
                })
                .collect();
            let variant = form
                .split("name=\"action\" value=\"")
                .nth(1)
                .and_then(|rest| rest.split('"').next())
                .unwrap_or_default();
            Some((path.join("/"), variant.to_owned()))
        })
        .collect()
}
/// The POST forms that every page of one appliance shows its admin.
pub(super) async fn forms_shown(fx: &Fx<'_>, http: &reqwest::Client) -> BTreeSet<(String, String)> {
    let s = fx.server;
    let cookie = fx.callers[&Who::Admin].cookie.clone().unwrap();
    let pages: Vec<String> = match fx.side {
        Side::Cm => vec![
            format!("/incidents/{}", fx.shared),
            "/uploads".into(),
            "/config/mcm".into(),
        ],
        Side::Mcm => vec![
            format!("/incidents/{}/{}", fx.cm_id, fx.shared),
            "/config/cms".into(),
        ],
    };
    let common = [
        "/login",
        "/incidents",
        "/config",
        "/config/users",
        "/config/roles",
        "/config/password",
        "/config/radius",
        "/config/saml",
        "/config/system",
        "/config/system/syslog",
        "/config/licensing",
        "/config/gss",
        "/config/backup",
    ];
    let mut found = BTreeSet::new();
    for page in common.iter().map(|p| p.to_string()).chain(pages) {
        let resp = http
            .get(s.url(&page))
            .header(header::COOKIE, &cookie)
            .send()
            .await
            .unwrap();
        assert!(
            resp.status().is_success(),
            "{} {page}: {}",
            fx.side.label(),
            resp.status()
        );
        found.extend(post_forms(&resp.text().await.unwrap()));
    }
    found
}
// ---------------------------------------------------------------------------------------
// The checks.

/// The table against the OpenAPI document: what one has and the other lacks.
pub(super) fn check_document(doc: &Value) -> Vec<String> {
    let documented = operations(doc);
    let key = |r: &Row| (r.method.to_owned(), r.path.to_owned());
    let table: BTreeSet<(String, String)> = api_routes().iter().map(key).collect();
    let mut problems = Vec::new();
    for (m, p) in documented.difference(&table) {
        problems.push(format!(
            "the OpenAPI document has {m} {p}, which api_routes lacks: add a row"
        ));
    }
    for (m, p) in table.difference(&documented) {
        problems.push(format!(
            "api_routes has {m} {p}, which the OpenAPI document lacks (a stale row?)"
        ));
    }
    for r in undocumented_routes() {
        if documented.contains(&key(&r)) {
            problems.push(format!(
                "{} is in the OpenAPI document now: move its row to api_routes",
                r.name()
            ));
        }
    }
    problems
}
/// The UI table against the POST forms one appliance's pages show.
pub(super) async fn check_forms(fx: &Fx<'_>, http: &reqwest::Client) -> Vec<String> {
    let shown = forms_shown(fx, http).await;
    let table: BTreeSet<(String, String)> = ui_forms()
        .iter()
        .filter(|r| r.on.includes(fx.side))
        .map(|r| (r.path.to_owned(), r.variant.to_owned()))
        .collect();
    let side = fx.side.label();
    let mut problems = Vec::new();
    for (path, action) in shown.difference(&table) {
        problems.push(format!(
            "the {side} UI shows a POST form to {path} (action {action:?}) that ui_forms lacks"
        ));
    }
    for (path, action) in table.difference(&shown) {
        problems.push(format!(
            "ui_forms has {path} (action {action:?}) on the {side}, which no page shows (a stale row?)"
        ));
    }
    problems
}
/// The CM's incidents, mitigations and whitelist entries, and each appliance's roles
/// and user keys, for every (side, caller, channel) to use up; plus the shared incident
/// (with a screenshot, IVP indicators and an active mitigation) and its screenshot.
pub(super) async fn objects(
    cm: &TestServer,
    servers: [(Side, &TestServer, &HashMap<Channel, i64>); 2],
) -> (i64, String, HashMap<Side, HashMap<(Who, Channel), Mine>>) {
    let shot = cm
        .admin
        .upload_artifact(aerie_client::artifacts::screenshot(1), Some("screenshot"))
        .await
        .unwrap();
    let mut shared = event("10.77.0.1", 100, 0.9);
    shared.artifacts = vec![shot.sha256.clone()];
    shared.behaviour = Some(aerie_proto::events::BehaviourJson {
        files: vec![aerie_proto::events::FileJson {
            path: "/tmp/dropper".into(),
            sha256: None,
        }],
        cnc: vec!["203.0.113.9:443".into()],
        ..Default::default()
    });
    // Each incident has an endpoint of its own (incidents group by endpoint).
    let mut n = 1;
    let mut next_ip = || {
        n += 1;
        format!("10.77.{}.{}", n / 200, n % 200 + 1)
    };
    let keys: Vec<For> = servers
        .into_iter()
        .flat_map(|(side, s, t)| CALLERS.map(|w| (side, s, t, w)))
        .flat_map(|(side, s, t, w)| [Channel::Api, Channel::Ui].map(|ch| (side, s, t, w, ch)))
        .collect();
    let ips: Vec<[String; 6]> = keys
        .iter()
        .map(|_| std::array::from_fn(|_| next_ip()))
        .collect();
    let mut events = vec![shared];
    for ip in &ips {
        events.extend(ip[..4].iter().map(|ip| event(ip, 200, 0.9)));
    }
    let placed = cm
        .admin
        .post_events(&batch(events))
        .await
        .unwrap()
        .placements;
    let incident = |i: usize| placed[i].incident_id;
    let quarantine = |id: i64, ip: String| async move {
        let path = format!("/api/v1/incidents/{id}/mitigations");
        let body = json!({"kind": "quarantine_endpoint", "value": ip});
        call(&cm.admin, Method::POST, &path, body).await["id"]
            .as_i64()
            .unwrap()
    };
    quarantine(incident(0), "10.77.0.1".into()).await;
    let mut mine: HashMap<Side, HashMap<(Who, Channel), Mine>> = HashMap::new();
    for (k, (side, server, targets, who, channel)) in keys.into_iter().enumerate() {
        let ip = &ips[k];
        let base = 1 + 4 * k;
        let body = json!({"kind": "endpoint", "value": next_ip(), "reason": "to be removed"});
        let entry = call(&cm.admin, Method::POST, "/api/v1/whitelist", body).await["entry"]["id"]
            .as_i64()
            .unwrap();
        let role = format!("del-{channel:?}-{}", who.label()).to_lowercase();
        let body = json!({"name": role, "permissions": ["view"]});
        call(&server.admin, Method::POST, "/api/v1/roles", body).await;
        let path = format!("/api/v1/users/{}/api-keys", targets[&channel]);
        let user_key = call(
            &server.admin,
            Method::POST,
            &path,
            json!({"name": "to-revoke"}),
        )
        .await["id"]
            .as_i64()
            .unwrap();
        let mitigation = quarantine(incident(base + 2), ip[2].clone()).await;
        mine.entry(side).or_default().insert(
            (who, channel),
            Mine {
                status: incident(base),
                mitigate: (incident(base + 1), ip[1].clone()),
                revoke: (incident(base + 2), mitigation),
                whitelist: (incident(base + 3), ip[3].clone()),
                entry,
                spare_ips: (ip[4].clone(), ip[5].clone()),
                role,
                user_key,
            },
        );
    }
    (incident(0), shot.sha256, mine)
}
/// Every row on both appliances as every caller, eight requests at a time.
pub(super) async fn run(
    sides: [&Fx<'_>; 2],
    api: &[Row],
    ui: &[Row],
    http: &reqwest::Client,
) -> Results {
    let jobs: Vec<(Channel, usize, &Fx, Who)> =
        [(Channel::Api, api.len()), (Channel::Ui, ui.len())]
            .into_iter()
            .flat_map(|(ch, len)| (0..len).map(move |i| (ch, i)))
            .flat_map(|(ch, i)| sides.map(|fx| (ch, i, fx)))
            .flat_map(|(ch, i, fx)| CALLERS.map(|w| (ch, i, fx, w)))
            .collect();
    // A caller's own password change ends the caller's other sessions, so those rows run
    // after every other: the forms first (they keep their own session), then the API's,
    // each on a fresh login.
    let row = |ch: Channel, i: usize| match ch {
        Channel::Api => &api[i],
        Channel::Ui => &ui[i],
    };
    let (password, first): (Vec<_>, Vec<_>) = jobs
        .into_iter()
        .partition(|(ch, i, _, _)| row(*ch, *i).path.ends_with("/password"));
    let (api_password, ui_password): (Vec<_>, Vec<_>) = password
        .into_iter()
        .partition(|(ch, _, _, _)| *ch == Channel::Api);
    let mut results = Results::new();
    for phase in [first, ui_password, api_password] {
        let got: Vec<_> = stream::iter(phase)
            .map(|(ch, i, fx, who)| async move {
                let got = match ch {
                    Channel::Api => match api_request(&api[i], fx, who) {
                        Some(r) => send_api(fx, who, r).await,
                        None => unbuilt("api_request"),
                    },
                    Channel::Ui => match ui_request(&ui[i], fx, who) {
                        Some(r) => send_ui(fx, http, who, r).await,
                        None => unbuilt("ui_request"),
                    },
                };
                ((ch, i, fx.side, who), got)
            })
            .buffer_unordered(8)
            .collect()
            .await;
        results.extend(got);
    }
    results
}
/// The grid of what every caller got ('!' where it is not what the table says), and a
/// line for every mismatch.
pub(super) fn verdict(api: &[Row], ui: &[Row], results: &Results) -> (String, Vec<String>) {
    let width = api
        .iter()
        .chain(ui)
        .map(|r| r.name().len())
        .max()
        .unwrap_or(0);
    let callers: String = CALLERS
        .iter()
        .map(|w| format!("{:>3} ", w.abbrev()))
        .collect();
    let mut grid = String::new();
    let mut mismatches = Vec::new();
    for (ch, rows, title) in [
        (Channel::Api, api, "JSON API"),
        (Channel::Ui, ui, "web UI forms"),
    ] {
        let head = format!("{title:<width$}    CM {callers} MCM {callers}");
        grid.push_str(&format!("\n{}\n", head.trim_end()));
        for (i, r) in rows.iter().enumerate() {
            let mut line = format!("{:<width$}  ", r.name());
            for side in [Side::Cm, Side::Mcm] {
                line.push_str("     ");
                for who in CALLERS {
                    let got = &results[&(ch, i, side, who)];
                    let want = r.expected(side, who);
                    let mark = if got.outcome == want { ' ' } else { '!' };
                    line.push_str(&format!("{:>3}{mark}", got.outcome.to_string()));
                    if got.outcome != want {
                        mismatches.push(format!(
                            "{} {} as {}: expected {want}, got {} ({})",
                            side.label(),
                            r.name(),
                            who.label(),
                            got.outcome,
                            got.detail
                        ));
                    }
                }
            }
            grid.push_str(line.trim_end());
            grid.push('\n');
        }
    }
    (grid, mismatches)
}
