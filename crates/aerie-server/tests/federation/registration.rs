//! Converting a CM into the MCM, registering CMs, and the errors registration gives.

use super::*;

#[tokio::test]
async fn conversion_registration_and_live_sync() {
    let mcm = node("mcm-hq", 1).await;
    convert(&mcm).await;
    assert_eq!(mcm.anon.health().await.unwrap().role, "mcm");
    let (_, prompt_check) = cli(&mcm, &["show version"]).await;
    assert!(prompt_check.contains("device type: mcm"), "{prompt_check}");
    let (_, resync) = cli(&mcm, &["cm", "set mcm resync"]).await;
    assert!(resync.contains("no effect on the MCM"), "{resync}");

    let la = node("cm-losangeles", 2).await;
    let fra = node("cm-frankfurt", 3).await;
    for cm in [&la, &fra] {
        let (ok, out) = register(cm, &mcm).await;
        assert!(ok && out.contains("Registered with the MCM"), "{out}");
    }
    let shown = show_mcm(&la).await;
    assert!(
        shown.contains(&format!(
            "MCM IP Address: {}, username: admin",
            mcm_address(&mcm)
        )),
        "{shown}"
    );
    assert!(shown.contains("Sync state: connected"), "{shown}");

    // New incidents, benign ones included, reach the MCM without any poll interval.
    la.admin
        .post_events(&batch(vec![
            event("10.1.0.1", 100, 0.9),
            event("10.1.0.2", 100, 0.0),
            event("10.1.0.3", 100, 0.4),
        ]))
        .await
        .unwrap();
    fra.admin
        .post_events(&batch(vec![event("10.2.0.1", 100, 0.7)]))
        .await
        .unwrap();
    let (la_id, fra_id) = (
        cm_id_of(&mcm, "cm-losangeles").await,
        cm_id_of(&mcm, "cm-frankfurt").await,
    );
    assert!(eventually(5, || converged(&mcm, &la, la_id)).await);
    assert!(eventually(5, || converged(&mcm, &fra, fra_id)).await);
    assert_eq!(
        mcm_copy(&mcm, la_id).await.len(),
        2,
        "the benign incident never left its CM"
    );

    let table = all(&mcm.admin, IncidentListParams::default()).await;
    assert_eq!(table.items.len(), 3);
    let row = table
        .items
        .iter()
        .find(|i| i.cm_name.as_deref() == Some("cm-frankfurt"))
        .unwrap();
    assert_eq!(row.cm_ip.as_deref(), Some("127.0.0.3"));
    let critical = IncidentListParams {
        risk: Some("critical".into()),
        ..Default::default()
    };
    assert_eq!(
        all(&mcm.admin, critical).await.items.len(),
        1,
        "the same filters work on the MCM"
    );

    // Updates flow too: a status change and a new event on an existing incident.
    let id = la
        .admin
        .incidents(&IncidentListParams {
            risk: Some("critical".into()),
            ..Default::default()
        })
        .await
        .unwrap()
        .items[0]
        .incident_id;
    la.admin
        .change_status(id, "acknowledged", "seen")
        .await
        .unwrap();
    la.admin
        .post_events(&batch(vec![event("10.1.0.1", 160, 0.95)]))
        .await
        .unwrap();
    assert!(eventually(5, || converged(&mcm, &la, la_id)).await);
    assert_eq!(mcm_copy(&mcm, la_id).await[&id], 3);

    let cms: Vec<serde_json::Value> = mcm.admin.get("/api/v1/cms").await.unwrap();
    let la_row = cms.iter().find(|c| c["name"] == "cm-losangeles").unwrap();
    assert_eq!(la_row["status"], "online");
    assert_eq!(la_row["incident_count"], 2);
    assert_eq!(la_row["fips"], false);
    assert!(la_row["last_sync"].is_string());
    let delete = mcm
        .admin
        .request(reqwest::Method::DELETE, &format!("/api/v1/cms/{la_id}"))
        .send()
        .await
        .unwrap();
    assert!(
        delete.status() == StatusCode::NOT_FOUND
            || delete.status() == StatusCode::METHOD_NOT_ALLOWED,
        "no CM deletion"
    );
}
#[tokio::test]
async fn registration_errors_are_distinct() {
    let mcm = node("mcm-errors", 1).await;
    convert(&mcm).await;
    let cm = node("cm-errors", 2).await;
    let addr = mcm_address(&mcm);

    let (ok, out) = cli(
        &cm,
        &[
            "cm",
            &format!("set mcm ip {addr} passphrase wrongpass1 username admin"),
        ],
    )
    .await;
    assert!(!ok && out.contains("wrong passphrase"), "{out}");
    assert!(show_mcm(&cm).await.contains("wrong passphrase"));

    let (ok, out) = cli(
        &cm,
        &[
            "cm",
            &format!("set mcm ip {addr} passphrase {PASSPHRASE} username nobody"),
        ],
    )
    .await;
    assert!(
        !ok && out.contains("username \"nobody\" is not a user of the MCM"),
        "{out}"
    );
    assert!(!out.contains("error: error"), "one prefix: {out}");

    // Which user names are enabled admins is said only after the passphrase is proved.
    let viewer = serde_json::json!({"username": "watcher", "password": "watcher-password", "role": "viewer"});
    let _: serde_json::Value = mcm.admin.post("/api/v1/users", &viewer).await.unwrap();
    let (ok, out) = cli(
        &cm,
        &[
            "cm",
            &format!("set mcm ip {addr} passphrase {PASSPHRASE} username watcher"),
        ],
    )
    .await;
    assert!(!ok && out.contains("is not an admin of the MCM"), "{out}");
    let (ok, out) = cli(
        &cm,
        &[
            "cm",
            &format!("set mcm ip {addr} passphrase wrongpass1 username nobody"),
        ],
    )
    .await;
    assert!(
        !ok && out.contains("wrong passphrase") && !out.contains("nobody"),
        "a wrong passphrase says nothing of the user: {out}"
    );

    let (ok, out) = cli(
        &cm,
        &[
            "cm",
            &format!("set mcm ip 127.0.0.9:1 passphrase {PASSPHRASE}"),
        ],
    )
    .await;
    assert!(
        !ok && out.contains("MCM unreachable at https://127.0.0.9:1"),
        "{out}"
    );

    let other_cm = node("cm-not-mcm", 4).await;
    let (ok, out) = cli(
        &cm,
        &[
            "cm",
            &format!(
                "set mcm ip {} passphrase {PASSPHRASE}",
                mcm_address(&other_cm)
            ),
        ],
    )
    .await;
    assert!(!ok && out.contains("is not an MCM"), "{out}");

    let (ok, _) = cli(&cm, &["set fips enable confirm"]).await;
    assert!(ok);
    let (ok, out) = cli(
        &cm,
        &["cm", &format!("set mcm ip {addr} passphrase {PASSPHRASE}")],
    )
    .await;
    assert!(
        !ok && out.contains("FIPS mode differs: this CM is in FIPS mode, the MCM is not"),
        "{out}"
    );
    let (_, out) = cli(
        &mcm,
        &[
            "set fips enable confirm",
            "cm",
            &format!("set mcm ip 127.0.0.1 passphrase {PASSPHRASE}"),
        ],
    )
    .await;
    assert!(out.contains("now the Manager"), "{out}");
    let (ok, out) = cli(
        &cm,
        &[
            "set fips disable confirm",
            "cm",
            &format!("set mcm ip {addr} passphrase {PASSPHRASE}"),
        ],
    )
    .await;
    assert!(
        !ok && out.contains("FIPS mode differs: MCM is in FIPS mode, this CM is not"),
        "{out}"
    );
    let (ok, out) = cli(
        &cm,
        &[
            "set fips enable confirm",
            "cm",
            &format!("set mcm ip {addr} passphrase {PASSPHRASE}"),
        ],
    )
    .await;
    assert!(ok, "both in FIPS mode now: {out}");
    let cms: Vec<serde_json::Value> = mcm.admin.get("/api/v1/cms").await.unwrap();
    assert_eq!(cms[0]["fips"], true);

    // The MCM cannot be both.
    let (ok, out) = cli(
        &mcm,
        &["cm", &format!("set mcm ip {addr} passphrase {PASSPHRASE}")],
    )
    .await;
    assert!(!ok && out.contains("set mcm remove"), "{out}");
}
#[tokio::test]
async fn a_changed_mcm_certificate_is_refused() {
    let mcm = node("mcm-cert", 1).await;
    convert(&mcm).await;
    let cm = node("cm-cert", 2).await;
    assert!(register(&cm, &mcm).await.0);
    // Another MCM with the same passphrase takes over the address: it is not the pinned one.
    let addr = mcm.running.addr;
    mcm.shutdown.cancel();
    drop(mcm);
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    let impostor = common::start_with(aerie_server::ConfigLayer {
        listen: Some(addr.to_string()),
        hostname: Some("impostor".into()),
        ..Default::default()
    })
    .await;
    convert(&impostor).await;
    cm.admin
        .post_events(&batch(vec![event("10.3.0.1", 100, 0.9)]))
        .await
        .unwrap();
    assert!(
        eventually(10, || async {
            show_mcm(&cm).await.contains("MCM certificate changed")
        })
        .await,
        "{}",
        show_mcm(&cm).await
    );
    assert!(
        all(&impostor.admin, IncidentListParams::default())
            .await
            .items
            .is_empty()
    );
}

#[tokio::test]
async fn guessing_the_passphrase_is_throttled() {
    use aerie_proto::{
        device_key::Kdf,
        federation::{Challenge, RegisterRequest},
    };
    let mcm = node("mcm-guess", 1).await;
    convert(&mcm).await;
    let guess = |username: &'static str| {
        let client = mcm.anon.clone();
        async move {
            let challenge: Challenge = client
                .post("/api/v1/federation/challenge", &serde_json::json!({}))
                .await
                .unwrap();
            let request = RegisterRequest {
                username: username.into(),
                cm_uid: "guesser".into(),
                cm_name: "guesser".into(),
                cm_url: "https://127.0.0.1:9".into(),
                cm_fingerprint: ["00"; 32].join(":"),
                version: "0".into(),
                kdf: Kdf::Argon2idV1.id().into(),
                nonce: challenge.nonce,
                proof: "AAAA".into(),
            };
            let answer: Result<serde_json::Value, _> =
                client.post("/api/v1/federation/register", &request).await;
            answer.unwrap_err().status().unwrap()
        }
    };
    // Ten guesses in flight at once, then more: only ten are weighed.
    let first: Vec<StatusCode> = futures::future::join_all((0..14).map(|_| guess("admin"))).await;
    let weighed = first
        .iter()
        .filter(|s| **s == StatusCode::UNAUTHORIZED)
        .count();
    let throttled = first
        .iter()
        .filter(|s| **s == StatusCode::TOO_MANY_REQUESTS)
        .count();
    assert_eq!((weighed, throttled), (10, 4), "{first:?}");
    // Another claimed user from the same address is refused too.
    assert_eq!(guess("someone").await, StatusCode::TOO_MANY_REQUESTS);
}

#[tokio::test]
async fn a_failed_set_mcm_ip_keeps_the_working_registration() {
    let mcm = node("mcm-keep", 1).await;
    convert(&mcm).await;
    let cm = node("cm-keep", 2).await;
    let (ok, out) = register(&cm, &mcm).await;
    assert!(ok, "{out}");
    let addr = mcm_address(&mcm);
    for (line, says) in [
        (
            format!("set mcm ip {addr} passphrase wrongpass1 username admin"),
            "wrong passphrase",
        ),
        (
            format!("set mcm ip {addr} passphrase {PASSPHRASE} username nobody"),
            "nobody",
        ),
        (
            format!("set mcm ip 127.0.0.9:1 passphrase {PASSPHRASE}"),
            "MCM unreachable",
        ),
    ] {
        let (ok, out) = cli(&cm, &["cm", &line]).await;
        assert!(!ok && out.contains(says), "{line}: {out}");
        assert!(
            out.contains("previous MCM configuration stays in force"),
            "{out}"
        );
        let shown = show_mcm(&cm).await;
        assert!(
            shown.contains(&format!("MCM IP Address: {addr}")),
            "{shown}"
        );
    }
    // Still syncing to the MCM it was registered with.
    cm.admin
        .post_events(&batch(vec![event("10.9.0.1", 100, 0.9)]))
        .await
        .unwrap();
    assert!(
        eventually(5, || async {
            all(&mcm.admin, IncidentListParams::default())
                .await
                .items
                .len()
                == 1
        })
        .await,
        "{}",
        show_mcm(&cm).await
    );
    assert!(show_mcm(&cm).await.contains("Sync state: connected"));
}
