//! The same API on an MCM with two CMs: `incidents` and `events` list both CMs' rows
//! with their CM's name and federation-wide ids, detail ops and comments go live to the
//! owning CM, a file submitted to a CM is judged there and read through the MCM, and a
//! CM that does not answer is named in a negative status.

use super::detonation::{md5_hex, submit, until_done};
use super::*;
use common::{cm_id_of, convert, eventually, node, register};

const SPAN: i64 = 1_000_000_000;

#[tokio::test]
async fn the_mcm_answers_for_the_whole_federation() {
    let mcm = node("mcm-jatp", 1).await;
    convert(&mcm).await;
    let east = node("cm-east", 2).await;
    let west = node("cm-west", 3).await;
    assert!(register(&east, &mcm).await.0);
    assert!(register(&west, &mcm).await.0);
    let east_id = cm_id_of(&mcm, "cm-east").await;
    let west_id = cm_id_of(&mcm, "cm-west").await;
    east.admin.post_events(&batch(detections())).await.unwrap();
    west.admin
        .post_events(&batch(vec![event("10.9.9.9", 200, 0.7)]))
        .await
        .unwrap();
    let key = api_key(&mcm).await;
    let http = client();
    let on_mcm = |q: String| {
        let (http, url, key) = (
            http.clone(),
            mcm.url(&format!("/cyadmin/api.php?{q}")),
            key.clone(),
        );
        async move {
            reply(
                http.get(url)
                    .header(header::AUTHORIZATION, key)
                    .send()
                    .await
                    .unwrap(),
            )
            .await
        }
    };
    assert!(
        eventually(15, || async {
            on_mcm("op=incidents&interval_sec=172800".into()).await["incident_array"]
                .as_array()
                .is_some_and(|a| a.len() == 2)
        })
        .await,
        "both CMs' incidents reach the MCM"
    );

    let v = on_mcm("op=incidents&interval_sec=172800&max_risk_value=1".into()).await;
    succeeded(&v);
    let rows = v["incident_array"].as_array().unwrap();
    rows.iter().for_each(incident_row);
    let east_row = rows.iter().find(|r| r["cm_name"] == "cm-east").unwrap();
    let west_row = rows.iter().find(|r| r["cm_name"] == "cm-west").unwrap();
    assert_eq!(east_row["cm_id"], json!(east_id));
    let east_incident = int(&east_row["incident_id"]);
    assert_eq!(east_incident / SPAN, east_id, "federation-wide id");
    assert_eq!(int(&west_row["incident_id"]) / SPAN, west_id);

    // events: both CMs asked live.
    let v = on_mcm("op=events&interval_sec=172800".into()).await;
    succeeded(&v);
    let events = v["event_array"].as_array().unwrap();
    events.iter().for_each(event_row);
    assert_eq!(events.len(), 3, "{v}");
    assert_eq!(
        events.iter().filter(|e| e["cm_name"] == "cm-east").count(),
        2
    );
    let cnc = events.iter().find(|e| e["event_type"] == "cnc").unwrap();
    let cnc_event = int(&cnc["event_id"]);
    assert_eq!(cnc_event / SPAN, east_id);
    assert_eq!(int(&cnc["incident_id"]), east_incident);

    // Details live from the owning CM, ids federation-wide.
    let v = on_mcm(format!("op=incident_details&incident_id={east_incident}")).await;
    succeeded(&v);
    assert_eq!(v["cm_name"], "cm-east");
    assert_eq!(int(&v["incident_details"]["incident_id"]), east_incident);
    assert_eq!(
        int(&v["incident_details"]["infection_array"][0]["infection_id"]),
        cnc_event
    );
    assert_eq!(
        v["incident_details"]["infection_array"][0]["cnc_servers"],
        "198.51.100.7:443,c2.evil.example"
    );
    let v = on_mcm(format!("op=behavior_details&event_id={cnc_event}")).await;
    succeeded(&v);
    assert_eq!(v["server_name"], "cm-east");
    assert_eq!(v["behavior_details"]["mutexes"], json!(["Global\\evil"]));

    // A comment with a status change lands on the CM, as the MCM user.
    let v = post_form(
        &http,
        mcm.url("/cyadmin/api.php?op=add_incident_comments"),
        &key,
        &[
            ("incident_id", east_incident.to_string()),
            ("status", "in_progress".into()),
            ("comments", "from the MCM's SOAR".into()),
        ],
    )
    .await;
    succeeded(&v);
    let local = east_incident % SPAN;
    let d: Value = east
        .admin
        .get(&format!("/api/v1/incidents/{local}"))
        .await
        .unwrap();
    assert_eq!(d["incident"]["status"], "in_progress");
    let entry = d["status_history"]
        .as_array()
        .unwrap()
        .last()
        .unwrap()
        .clone();
    assert_eq!(entry["by"], "admin@mcm", "{entry}");

    // A file submitted to a CM is judged there and read through the MCM.
    let east_key = api_key(&east).await;
    let v = submit(
        &http,
        &east,
        &east_key,
        &[("file", Some("s.bin"), None, b"a sample for the east CM")],
    )
    .await;
    let local_event = v["detail"]["event_id"].as_i64().unwrap();
    until_done(&http, &east, &east_key, local_event).await;
    let v = on_mcm(format!(
        "op=event_details&event_id={}",
        east_id * SPAN + local_event
    ))
    .await;
    succeeded(&v);
    assert!(is_time(&v["event_details"]["analysis_done_time"]), "{v}");
    let v = on_mcm(format!(
        "op=analysis_details&md5sum={}&get_components=0",
        md5_hex(b"a sample for the east CM")
    ))
    .await;
    succeeded(&v);
    assert_eq!(v["cm_name"], "cm-east");
    assert_eq!(float(&v["analysis_array"][0]["malware_severity"]), 0.0);
    assert_eq!(
        int(&v["analysis_array"][0]["event_id"]),
        east_id * SPAN + local_event
    );
    // The MCM analyses nothing itself.
    let v = submit(&http, &mcm, &key, &[("file", Some("x"), None, b"x")]).await;
    failed(&v, "submit them to a CM");

    // Ids the federation does not have are refused with the reason.
    failed(
        &on_mcm("op=incident_details&incident_id=42".into()).await,
        "not an MCM id",
    );
    failed(
        &on_mcm(format!(
            "op=incident_details&incident_id={}",
            east_id * SPAN + 9999
        ))
        .await,
        "no incident",
    );

    // A CM that does not answer is named; nothing is listed without it.
    drop(west);
    assert!(
        eventually(10, || async {
            let v = on_mcm("op=events&interval_sec=172800".into()).await;
            v["status"].as_i64().unwrap() < 0
                && v["error_msg"].as_str().unwrap().contains("cm-west")
        })
        .await,
        "the unreachable CM is named"
    );
    // The MCM's own table still answers.
    succeeded(&on_mcm("op=incidents&interval_sec=172800".into()).await);
}
