//! A detonation connector's flow: submit a file (`cgi-bin/file_submit`), poll
//! `event_details` until `analysis_done_time` is set, read `analysis_details` (by event
//! id as the SOAR app does, by MD5 as CB does) and `behavior_details`. A file this CM's
//! sensors caught is malicious; an unknown one is clean; a whitelisted one is clean.

use super::*;

/// One multipart part: `(name, file name, Content-Type, content)`.
pub type Part<'a> = (&'a str, Option<&'a str>, Option<&'a str>, &'a [u8]);

/// A multipart body built by hand, part by part, to send the clients' exact shapes:
/// `(name, file name, Content-Type, content)`.
pub fn multipart(parts: &[Part<'_>]) -> (String, Vec<u8>) {
    let boundary = "----aerieJatpBoundary7MA4YWxkTrZu0gW";
    let mut body = Vec::new();
    for (name, file_name, content_type, content) in parts {
        body.extend_from_slice(format!("--{boundary}\r\n").as_bytes());
        let mut disposition = format!("Content-Disposition: form-data; name=\"{name}\"");
        if let Some(f) = file_name {
            disposition.push_str(&format!("; filename=\"{f}\""));
        }
        body.extend_from_slice(disposition.as_bytes());
        body.extend_from_slice(b"\r\n");
        if let Some(ct) = content_type {
            body.extend_from_slice(format!("Content-Type: {ct}\r\n").as_bytes());
        }
        body.extend_from_slice(b"\r\n");
        body.extend_from_slice(content);
        body.extend_from_slice(b"\r\n");
    }
    body.extend_from_slice(format!("--{boundary}--\r\n").as_bytes());
    (format!("multipart/form-data; boundary={boundary}"), body)
}

pub async fn submit(
    http: &reqwest::Client,
    s: &TestServer,
    key: &str,
    parts: &[Part<'_>],
) -> Value {
    let (content_type, body) = multipart(parts);
    reply(
        http.post(s.url("/cyadmin/cgi-bin/file_submit"))
            .header(header::AUTHORIZATION, key)
            .header(header::CONTENT_TYPE, content_type)
            .body(body)
            .send()
            .await
            .unwrap(),
    )
    .await
}

/// Polls `event_details` until the analysis is done; returns its reply.
pub async fn until_done(http: &reqwest::Client, s: &TestServer, key: &str, event_id: i64) -> Value {
    for _ in 0..100 {
        let v = post_form(
            http,
            s.url("/cyadmin/api.php?op=event_details"),
            key,
            &[("event_id", event_id.to_string())],
        )
        .await;
        succeeded(&v);
        let details = &v["event_details"];
        assert!(details.is_object(), "{v}");
        assert!(
            details.get("analysis_done_time").is_some(),
            "the key is always there: {v}"
        );
        if !details["analysis_done_time"].is_null() {
            assert!(is_time(&details["analysis_done_time"]), "{v}");
            return v;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    panic!("the analysis of event {event_id} never finished");
}

pub fn md5_hex(bytes: &[u8]) -> String {
    use md5::Digest;
    md5::Md5::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

fn sha256_hex(bytes: &[u8]) -> String {
    use sha2::Digest;
    sha2::Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// What `analysis_details` by MD5 says, as CB asks it (GET, query string).
pub async fn by_md5(http: &reqwest::Client, s: &TestServer, key: &str, md5: &str) -> Value {
    reply(
        http.get(s.url(&format!(
            "//cyadmin/api.php?op=analysis_details&md5sum={md5}&get_components=0"
        )))
        .header(header::AUTHORIZATION, key)
        .send()
        .await
        .unwrap(),
    )
    .await
}

#[tokio::test]
async fn a_submitted_file_is_judged_by_what_the_cm_knows_of_it() {
    let s = start().await;
    let key = api_key(&s).await;
    let http = client();
    let bad: &[u8] = b"MZ\x90\x00 a dropper this CM's sensors caught";
    let mut caught = event("10.3.3.3", 100, 0.9);
    caught.threat_name = "TROJAN_Known.A".into();
    caught.file_sha256 = Some(sha256_hex(bad));
    s.admin.post_events(&batch(vec![caught])).await.unwrap();

    // SOAR's shape: file_meta_json as a form field, after the file part (which has no
    // Content-Type).
    let v = submit(
        &http,
        &s,
        &key,
        &[
            ("file", Some("dropper.exe"), None, bad),
            (
                "file_meta_json",
                None,
                None,
                br#"{"file_name": "dropper.exe"}"#,
            ),
        ],
    )
    .await;
    succeeded(&v);
    assert!(
        v["detail"]["event_id"].is_i64(),
        "detail.event_id is an int: {v}"
    );
    let bad_event = v["detail"]["event_id"].as_i64().unwrap();

    // CB's shape: file_meta_json as a file part, first; a body above 16 MiB.
    let mut unknown = vec![0u8; 16 * 1024 * 1024 + 4096];
    unknown[..20].copy_from_slice(b"an unknown big file!");
    let v = submit(
        &http,
        &s,
        &key,
        &[
            (
                "file_meta_json",
                Some("file_meta_json"),
                Some("application/json"),
                br#"{"file_name": "big.bin"}"#,
            ),
            (
                "file",
                Some("f"),
                Some("application/octet-stream"),
                &unknown,
            ),
        ],
    )
    .await;
    succeeded(&v);
    let unknown_event = v["detail"]["event_id"].as_i64().unwrap();
    assert_ne!(unknown_event, bad_event);

    let v = until_done(&http, &s, &key, bad_event).await;
    assert_eq!(v["event_details"]["event_type"], "upload");
    assert_eq!(v["event_details"]["file_md5_string"], md5_hex(bad));
    until_done(&http, &s, &key, unknown_event).await;

    // SOAR: analysis_details by event_id.
    let v = post_form(
        &http,
        s.url("/cyadmin/api.php?op=analysis_details"),
        &key,
        &[("event_id", bad_event.to_string())],
    )
    .await;
    succeeded(&v);
    let a = &v["analysis_array"][0];
    assert!(float(&a["malware_severity"]) > 0.0, "{v}");
    assert_eq!(float(&a["malware_severity"]), 0.9);
    assert_eq!(v["analysis_details"]["malware_name"], "TROJAN_Known.A");
    assert_eq!(a["file_name"], "dropper.exe");
    assert_eq!(a["file_size"], bad.len().to_string());

    // CB: by MD5 with get_components=0.
    let v = by_md5(&http, &s, &key, &md5_hex(bad)).await;
    succeeded(&v);
    assert!(float(&v["analysis_array"][0]["malware_severity"]) > 0.0);
    let v = by_md5(&http, &s, &key, &md5_hex(&unknown)).await;
    succeeded(&v);
    assert_eq!(
        float(&v["analysis_array"][0]["malware_severity"]),
        0.0,
        "{v}"
    );
    assert_eq!(v["analysis_details"]["malware_name"], "");
    assert_eq!(v["analysis_array"][0]["file_name"], "big.bin");
    // CB: an MD5 never submitted is a negative status.
    failed(
        &by_md5(&http, &s, &key, &"0".repeat(32)).await,
        "no file with MD5",
    );

    // SOAR: behavior_details of the upload.
    let v = post_form(
        &http,
        s.url("/cyadmin/api.php?op=behavior_details"),
        &key,
        &[("event_id", bad_event.to_string())],
    )
    .await;
    succeeded(&v);
    assert!(v["behavior_details"].is_object());
    assert!(v["server_name"].is_string() && v["server_ip"].is_string());

    // A whitelisted hash comes back clean even though a sensor caught it.
    let listed: Value = s
        .admin
        .post(
            "/api/v1/whitelist",
            &json!({"kind": "file_hash", "value": sha256_hex(bad), "reason": "the red team's sample"}),
        )
        .await
        .unwrap();
    assert!(
        listed.get("entry").is_some() || listed.get("id").is_some(),
        "{listed}"
    );
    let v = submit(&http, &s, &key, &[("file", Some("again.exe"), None, bad)]).await;
    let again = v["detail"]["event_id"].as_i64().unwrap();
    until_done(&http, &s, &key, again).await;
    let v = post_form(
        &http,
        s.url("/cyadmin/api.php?op=analysis_details"),
        &key,
        &[("event_id", again.to_string())],
    )
    .await;
    assert_eq!(
        float(&v["analysis_array"][0]["malware_severity"]),
        0.0,
        "{v}"
    );
    assert!(
        v["analysis_details"]["reason"]
            .as_str()
            .unwrap()
            .contains("whitelisted")
    );

    // A wrong key, and a body without the file part: negative, HTTP 200.
    let v = submit(
        &http,
        &s,
        "0d5b240487eb5abcaf987ab04e8a1411",
        &[("file", Some("x"), None, b"x")],
    )
    .await;
    assert_eq!(v["status"], json!(-2), "{v}");
    let v = submit(&http, &s, &key, &[("file_meta_json", None, None, b"{}")]).await;
    failed(&v, "missing the multipart part file");
    let v = submit(
        &http,
        &s,
        &key,
        &[
            ("file", Some("x"), None, b"x"),
            ("file_meta_json", None, None, b"{not json"),
        ],
    )
    .await;
    failed(&v, "file_meta_json is not JSON");
}
