//! The original appliance's HTTP API (`/cyadmin/api.php`, `cgi-bin/file_submit`) as its
//! four public clients call it (JATP-API.md): each client's exact request shapes —
//! method, where parameters travel, the raw `Authorization` header or `api_key`,
//! multipart with `file_meta_json` as a field or a file part, the Splunk header set —
//! replayed over real HTTPS against a real daemon, and every reply rule of §5 checked.
//! `detonation.rs`: a file submitted, polled and judged; `mcm.rs`: the same on an MCM
//! with two CMs.

#[path = "../common/mod.rs"]
mod common;

mod detonation;
mod mcm;

use aerie_proto::events::{BehaviourJson, EventIn};
use common::{TestServer, batch, event, start};
use reqwest::{Method, StatusCode, header};
use serde_json::{Value, json};

/// A client as the integrations are: no certificate check, no redirects followed.
fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .danger_accept_invalid_certs(true)
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

/// A new API key of the admin's.
async fn api_key(s: &TestServer) -> String {
    let created: Value = s
        .admin
        .post("/api/v1/api-keys", &json!({"name": "jatp"}))
        .await
        .unwrap();
    created["key"].as_str().unwrap().to_owned()
}

/// Every reply rule of §5.1 for a reply: HTTP 200, JSON, `status` an integer; on success
/// 0 and no `error_msg`, on failure negative with an `error_msg` string.
async fn reply(resp: reqwest::Response) -> Value {
    assert_eq!(resp.status(), StatusCode::OK, "the API answers HTTP 200");
    let bytes = resp.bytes().await.unwrap();
    let v: Value = serde_json::from_slice(&bytes)
        .unwrap_or_else(|e| panic!("not JSON ({e}): {}", String::from_utf8_lossy(&bytes)));
    let status = v["status"]
        .as_i64()
        .unwrap_or_else(|| panic!("status is no integer: {v}"));
    assert!(v["status"].is_i64(), "status is a JSON integer: {v}");
    if status == 0 {
        assert!(
            v.get("error_msg").is_none(),
            "success has no error_msg: {v}"
        );
    } else {
        assert!(status < 0, "a failure's status is negative: {v}");
        assert!(v["error_msg"].is_string(), "a failure says why: {v}");
    }
    v
}

/// A form POST with the key raw in `Authorization`, as the SOAR app and Splunk send it.
async fn post_form<F: serde::Serialize + ?Sized>(
    http: &reqwest::Client,
    url: String,
    key: &str,
    form: &F,
) -> Value {
    reply(
        http.post(url)
            .header(header::AUTHORIZATION, key)
            .form(form)
            .send()
            .await
            .unwrap(),
    )
    .await
}

fn succeeded(v: &Value) {
    assert_eq!(v["status"], json!(0), "{v}");
}

fn failed(v: &Value, says: &str) {
    assert!(v["status"].as_i64().unwrap() < 0, "{v}");
    let msg = v["error_msg"].as_str().unwrap();
    assert!(msg.contains(says), "{msg:?} does not say {says:?}");
}

/// `%Y-%m-%d %H:%M:%S`, as Splunk and .NET parse it.
fn is_time(v: &Value) -> bool {
    v.as_str()
        .is_some_and(|s| chrono::NaiveDateTime::parse_from_str(s, "%Y-%m-%d %H:%M:%S").is_ok())
}

/// A float as Python's `float()` reads it (a number or a numeric string).
fn float(v: &Value) -> f64 {
    match v {
        Value::Number(n) => n.as_f64().unwrap(),
        Value::String(s) => s.parse().unwrap_or_else(|_| panic!("{s:?} is not a float")),
        other => panic!("{other} is not float-able"),
    }
}

/// An id as the clients accept it: an integer or a digit string.
fn int(v: &Value) -> i64 {
    match v {
        Value::Number(n) => n.as_i64().unwrap(),
        Value::String(s) => s.parse().unwrap(),
        other => panic!("{other} is not int-able"),
    }
}

/// A flag: 1/0 or "1"/"0", never a boolean.
fn flag(v: &Value) {
    assert!(
        matches!(v, Value::Number(_)) || matches!(v.as_str(), Some("0" | "1")),
        "{v} is not a 1/0 flag"
    );
    assert!(!v.is_boolean());
}

const SCALARS: [&str; 9] = [
    "event_id",
    "event_type",
    "event_name",
    "event_category",
    "incident_id",
    "endpoint_ip",
    "source_ip",
    "source_name",
    "last_activity_time",
];

/// The rules for one `event_array` row (FIDO's reads).
fn event_row(row: &Value) {
    for key in SCALARS {
        let v = &row[key];
        assert!(
            v.is_string() || v.is_number(),
            "{key} is present and a scalar in {row}"
        );
    }
    assert!(
        ["http", "cnc", "exploit", "email", "upload"]
            .contains(&row["event_type"].as_str().unwrap()),
        "{row}"
    );
    assert!(is_time(&row["last_activity_time"]), "{row}");
    int(&row["event_id"]);
    int(&row["incident_id"]);
}

/// The rules for one `incident_array` row (Splunk's reads).
fn incident_row(row: &Value) {
    int(&row["incident_id"]);
    assert!(is_time(&row["last_activity_time"]), "{row}");
    float(&row["malware_severity"]);
    for (k, v) in row.as_object().unwrap() {
        if k.starts_with("has_") {
            flag(v);
        }
        assert!(!v.is_null(), "{k} is null in {row}");
    }
}

/// A download with a file and a CnC callback with behaviour, on one endpoint.
fn detections() -> Vec<EventIn> {
    let mut download = event("10.1.1.1", 3600, 0.9);
    download.file_sha256 = Some("ab".repeat(32));
    let mut cnc = event("10.1.1.1", 3660, 0.8);
    cnc.kind = aerie_domain::event::EventKind::Cnc;
    cnc.category = aerie_domain::event::Category::Cnc;
    cnc.progression = vec![aerie_domain::event::Stage::Infection];
    cnc.behaviour = Some(BehaviourJson {
        cnc: vec!["198.51.100.7:443".into(), "c2.evil.example".into()],
        processes: vec!["C:\\Users\\a\\evil.exe".into()],
        registry_keys: vec!["HKCU\\Software\\Evil".into()],
        mutexes: vec!["Global\\evil".into()],
        ..Default::default()
    });
    vec![download, cnc]
}

/// `now` in epoch seconds.
fn now() -> i64 {
    chrono::Utc::now().timestamp()
}

#[tokio::test]
async fn every_client_s_request_shapes_get_the_replies_they_read() {
    let s = start().await;
    let key = api_key(&s).await;
    s.admin.post_events(&batch(detections())).await.unwrap();
    let http = client();
    let api = |q: &str| s.url(&format!("/cyadmin/api.php?{q}"));

    // SOAR: get_users as its credential test, a POST with an empty body and no
    // Content-Type, the key raw in Authorization.
    let v = reply(
        http.post(api("op=get_users"))
            .header(header::AUTHORIZATION, &key)
            .send()
            .await
            .unwrap(),
    )
    .await;
    succeeded(&v);
    assert!(
        v["user_array"]
            .as_array()
            .unwrap()
            .iter()
            .any(|u| u["user_name"] == "admin")
    );
    flag(&v["user_array"][0]["is_admin"]);

    // Splunk: incidents, form body, its header set, 24 h ending now.
    let form = format!(
        "interval_sec=172800&end_time_sec={}&max_risk_value=1",
        now()
    );
    let v = reply(
        http.post(api("op=incidents"))
            .header(header::AUTHORIZATION, &key)
            .header(header::ACCEPT_ENCODING, "*")
            .header(header::ACCEPT, "*/*")
            .header(header::USER_AGENT, "Splunk/modinput")
            .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
            .body(form)
            .send()
            .await
            .unwrap(),
    )
    .await;
    succeeded(&v);
    let incidents = v["incident_array"].as_array().unwrap();
    assert_eq!(incidents.len(), 1, "{v}");
    incident_row(&incidents[0]);
    assert_eq!(incidents[0]["endpoint_ip"], "10.1.1.1");
    assert_eq!(float(&incidents[0]["malware_severity"]), 0.9);
    let incident_id = int(&incidents[0]["incident_id"]);

    // An empty window still has its list; windows are whole and disjoint.
    let v = post_form(
        &http,
        api("op=incidents"),
        &key,
        &[("interval_sec", "60"), ("end_time_sec", "1000000000")],
    )
    .await;
    succeeded(&v);
    assert_eq!(v["incident_array"], json!([]));

    // FIDO: events by GET with api_key in the query, a URL built with a double slash.
    let v = reply(
        http.get(s.url(&format!(
            "//cyadmin/api.php?op=events&api_key={key}&interval_sec=172800"
        )))
        .send()
        .await
        .unwrap(),
    )
    .await;
    succeeded(&v);
    let events = v["event_array"].as_array().unwrap();
    assert_eq!(events.len(), 2, "{v}");
    events.iter().for_each(event_row);
    assert_eq!(events[0]["event_type"], "http");
    assert_eq!(events[1]["event_type"], "cnc");
    let cnc_event = int(&events[1]["event_id"]);

    // FIDO: the incident's details, has_* flags and the arrays it reads.
    let v = reply(
        http.get(api(&format!(
            "op=incident_details&incident_id={incident_id}&api_key={key}"
        )))
        .send()
        .await
        .unwrap(),
    )
    .await;
    succeeded(&v);
    let d = &v["incident_details"];
    assert_eq!(d["source_name"], "http://evil.example/x");
    assert_eq!(d["source_ip"], "203.0.113.5");
    flag(&d["has_download"]);
    assert_eq!(d["has_infection"], json!(1));
    let download = &d["download_array"][0];
    int(&download["event_id"]);
    assert_eq!(download["source_url"], "http://evil.example/x");
    assert!(download["file_md5_string"].is_string());
    assert_eq!(download["req_headers"]["host"], "evil.example");
    let infection = &d["infection_array"][0];
    int(&infection["infection_id"]);
    assert_eq!(infection["cnc_servers"], "198.51.100.7:443,c2.evil.example");
    for (k, arr) in d.as_object().unwrap() {
        if k.ends_with("_array") {
            assert!(
                arr.as_array().unwrap().iter().all(Value::is_object),
                "{k}: {arr}"
            );
        }
    }

    // SOAR: behaviour of the CnC event, form body.
    let v = post_form(
        &http,
        api("op=behavior_details"),
        &key,
        &[("event_id", cnc_event.to_string())],
    )
    .await;
    succeeded(&v);
    assert_eq!(v["server_name"], "cm-test");
    assert_eq!(v["server_ip"], "127.0.0.1");
    let b = &v["behavior_details"];
    flag(&b["has_ivp"]);
    assert_eq!(b["cnc_array"].as_array().unwrap().len(), 2);
    assert_eq!(b["processes_spawned"], json!(["C:\\Users\\a\\evil.exe"]));
    assert_eq!(b["registry_changes"][0]["key_path"], "HKCU\\Software\\Evil");
    assert_eq!(b["mutexes"], json!(["Global\\evil"]));
    assert_eq!(b["file_opened"], json!([]));

    // A sensor event's analysis is its detection.
    let v = post_form(
        &http,
        api("op=event_details"),
        &key,
        &[("event_id", cnc_event.to_string())],
    )
    .await;
    succeeded(&v);
    assert!(is_time(&v["event_details"]["analysis_done_time"]), "{v}");

    // Status and comments, with the status the client saw.
    let comment = |last: &'static str, to: &'static str| {
        http.post(api("op=add_incident_comments"))
            .header(header::AUTHORIZATION, &key)
            .form(&[
                ("incident_id", incident_id.to_string()),
                ("last_status", last.to_owned()),
                ("status", to.to_owned()),
                ("comments", "seen by the SOAR playbook".to_owned()),
            ])
            .send()
    };
    let v = reply(comment("new", "acknowledged").await.unwrap()).await;
    succeeded(&v);
    assert!(v["session_timeout_sec"].is_i64());
    let detail: Value = s
        .admin
        .get(&format!("/api/v1/incidents/{incident_id}"))
        .await
        .unwrap();
    assert_eq!(detail["incident"]["status"], "acknowledged");
    let history = detail["status_history"].as_array().unwrap();
    assert!(
        history
            .iter()
            .any(|h| h["comment"] == "seen by the SOAR playbook"),
        "{history:?}"
    );
    failed(
        &reply(comment("new", "in_progress").await.unwrap()).await,
        "is acknowledged, not new",
    );

    // add_user, then it is listed.
    let v = post_form(
        &http,
        api("op=add_user"),
        &key,
        &[
            ("user_name", "soc-bot"),
            ("full_name", "SOC Bot"),
            ("is_admin", "0"),
            ("password", "bot-password-123"),
        ],
    )
    .await;
    succeeded(&v);
    let users: Value = s.admin.get("/api/v1/users").await.unwrap();
    assert!(
        users
            .as_array()
            .unwrap()
            .iter()
            .any(|u| u["username"] == "soc-bot" && u["role"] == "analyst"),
        "{users}"
    );

    // login with a password: the SESSID cookie works alone.
    let resp = http
        .post(api("op=login"))
        .form(&[("user_name", "soc-bot"), ("password", "bot-password-123")])
        .send()
        .await
        .unwrap();
    let cookie = resp.headers()[header::SET_COOKIE]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(
        cookie.starts_with("SESSID=") && cookie.contains("HttpOnly") && cookie.contains("Secure"),
        "{cookie}"
    );
    let v = reply(resp).await;
    succeeded(&v);
    assert!(v["session_timeout_sec"].as_i64().unwrap() > 0);
    let sessid = cookie.split(';').next().unwrap().to_owned();
    let v = reply(
        http.post(api("op=get_users"))
            .header(header::COOKIE, &sessid)
            .send()
            .await
            .unwrap(),
    )
    .await;
    succeeded(&v);
    assert_eq!(
        v["user_array"].as_array().unwrap().len(),
        1,
        "an analyst sees itself"
    );
    // An analyst may not add users.
    let v = reply(
        http.post(api("op=add_user"))
            .header(header::COOKIE, &sessid)
            .form(&[("user_name", "x1"), ("password", "bot-password-123")])
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(v["status"], json!(-3), "{v}");
    let wrong = http
        .post(api("op=login"))
        .form(&[("user_name", "soc-bot"), ("password", "wrong")])
        .send()
        .await
        .unwrap();
    assert!(wrong.headers().get(header::SET_COOKIE).is_none());
    failed(&reply(wrong).await, "wrong user name or password");

    // A bad license is refused with its reason.
    let v = post_form(
        &http,
        api("op=add_license"),
        &key,
        &[("license_type", "product"), ("filename", "not a license")],
    )
    .await;
    assert!(v["status"].as_i64().unwrap() < 0, "{v}");
    let v = post_form(
        &http,
        api("op=add_license"),
        &key,
        &[("license_type", "lifetime"), ("filename", "x")],
    )
    .await;
    failed(&v, "product or support");

    // Failures: a wrong key, none, an unknown op, an unknown event, a bad parameter.
    for (req, says) in [
        (
            http.post(api("op=get_users"))
                .header(header::AUTHORIZATION, "0d5b240487eb5abcaf987ab04e8a1411"),
            "invalid",
        ),
        (http.get(api("op=incidents")), "authentication required"),
        (
            http.get(api(&format!("op=frobnicate&api_key={key}"))),
            "unknown op",
        ),
        (
            http.get(api(&format!(
                "op=event_details&event_id=999999&api_key={key}"
            ))),
            "no event 999999",
        ),
        (
            http.get(api(&format!("op=incidents&interval_sec=abc&api_key={key}"))),
            "interval_sec must be an integer",
        ),
        (
            http.get(api(&format!("api_key={key}"))),
            "missing parameter op",
        ),
    ] {
        failed(&reply(req.send().await.unwrap()).await, says);
    }

    // Deep links from CB's feed land on our incident page.
    for path in [
        format!("/cyadmin/index.html?event_id={cnc_event}"),
        format!("/admin/index.html?event_id={cnc_event}"),
    ] {
        let resp = http
            .request(Method::GET, s.url(&path))
            .send()
            .await
            .unwrap();
        assert!(resp.status().is_redirection(), "{path}: {}", resp.status());
        assert_eq!(
            resp.headers()[header::LOCATION],
            format!("/incidents/{incident_id}")
        );
    }
}

#[tokio::test]
async fn windowed_lists_stream_every_row_without_a_cap() {
    let s = start().await;
    let key = api_key(&s).await;
    // 1,200 incidents (one per endpoint), more than two of the stream's pages.
    let mut all = Vec::new();
    for i in 0..1200u32 {
        all.push(event(
            &format!("10.2.{}.{}", i / 250, i % 250 + 1),
            60 + i as i64,
            0.6,
        ));
    }
    for chunk in all.chunks(1000) {
        s.admin.post_events(&batch(chunk.to_vec())).await.unwrap();
    }
    let http = client();
    let v = reply(
        http.get(s.url(&format!(
            "/cyadmin/api.php?op=incidents&interval_sec=172800&api_key={key}"
        )))
        .send()
        .await
        .unwrap(),
    )
    .await;
    let rows = v["incident_array"].as_array().unwrap();
    assert_eq!(rows.len(), 1200);
    let ids: std::collections::HashSet<i64> = rows.iter().map(|r| int(&r["incident_id"])).collect();
    assert_eq!(ids.len(), 1200, "no row twice");
    let v = reply(
        http.get(s.url(&format!(
            "/cyadmin/api.php?op=events&interval_sec=172800&api_key={key}"
        )))
        .send()
        .await
        .unwrap(),
    )
    .await;
    assert_eq!(v["event_array"].as_array().unwrap().len(), 1200);

    // Consecutive windows split the rows between them, each once.
    let end = now();
    let mut seen = 0;
    for k in 0..4 {
        let v = reply(
            http.get(s.url(&format!(
                "/cyadmin/api.php?op=incidents&interval_sec=43200&end_time_sec={}&api_key={key}",
                end - k * 43200
            )))
            .send()
            .await
            .unwrap(),
        )
        .await;
        seen += v["incident_array"].as_array().unwrap().len();
    }
    assert_eq!(seen, 1200);

    // max_risk_value below the incidents' severity leaves them out.
    let v = reply(
        http.get(s.url(&format!(
            "/cyadmin/api.php?op=incidents&interval_sec=172800&max_risk_value=0.5&api_key={key}"
        )))
        .send()
        .await
        .unwrap(),
    )
    .await;
    assert_eq!(v["incident_array"], json!([]));
}
