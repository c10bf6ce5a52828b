//! The fuzz targets' bodies: each takes the fuzzer's bytes, drives one parser an
//! attacker reaches exactly as the product does, and panics when an invariant breaks.
//! `fuzz/` runs them under cargo-fuzz; `tests/corpus.rs` replays their corpora in
//! `cargo test`.

use std::sync::{Arc, OnceLock};

use aerie_cli::grammar::{self, Mode, Outcome};
use aerie_domain::{
    federation::{Admission, CmRegistration},
    ids::CmId,
    net::{CertFingerprint, HostName, McmAddress},
};
use aerie_proto::{events::EventBatch, federation::SyncRequest};
use aerie_store::Store;

/// A target's body.
pub type Target = fn(&[u8]);

/// Every target, by the name of its corpus directory.
pub const TARGETS: &[(&str, Target)] = &[
    ("sync_batch", sync_batch),
    ("sensor_events", sensor_events),
    ("cli_line", cli_line),
    ("upload_form", upload_form),
    ("artifact", artifact),
    ("indicators", indicators),
];

/// One runtime and one MCM store with one registered CM for the whole run.
struct Mcm {
    runtime: tokio::runtime::Runtime,
    store: Arc<dyn Store>,
    cm: CmId,
    _dir: tempfile::TempDir,
}

fn mcm() -> &'static Mcm {
    static MCM: OnceLock<Mcm> = OnceLock::new();
    MCM.get_or_init(|| {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime");
        let dir = tempfile::tempdir().expect("temp dir");
        let (store, cm) = runtime.block_on(async {
            let store = aerie_store::testing::sqlite(dir.path()).await;
            let registration = CmRegistration {
                uid: "fuzz".into(),
                name: HostName::parse("name", "cm-fuzz").expect("name"),
                url: "https://127.0.0.2:8443".into(),
                ip: "127.0.0.2".parse().expect("ip"),
                version: "0".into(),
                fips: false,
                cert_fingerprint: CertFingerprint::parse("f", &["AA"; 32].join(":"))
                    .expect("fingerprint"),
                credential_hash: "fuzz".into(),
            };
            let cm = store
                .register_cm(&registration, chrono::Utc::now())
                .await
                .expect("register");
            (store, cm.id)
        });
        Mcm {
            runtime,
            store,
            cm,
            _dir: dir,
        }
    })
}

/// A sync request from a registered CM: decoded and validated as the MCM does, then
/// applied to a real SQLite store. Whatever passes validation applies or is refused as
/// a conflict; the store's answer agrees with the admission rule.
pub fn sync_batch(data: &[u8]) {
    let Ok(request) = serde_json::from_slice::<SyncRequest>(data) else {
        return;
    };
    let Ok(batch) = request.to_batch() else {
        return;
    };
    let mcm = mcm();
    mcm.runtime.block_on(async {
        let before = mcm.store.cm(mcm.cm).await.expect("cm").expect("registered");
        let admission = batch.admission(before.epoch, before.acked_seq);
        match mcm
            .store
            .apply_sync(mcm.cm, &batch, chrono::Utc::now())
            .await
        {
            Ok(outcome) => {
                assert_eq!(outcome.applied, admission != Admission::Refuse);
                let after = mcm.store.cm(mcm.cm).await.expect("cm").expect("registered");
                assert!(after.epoch >= before.epoch, "the epoch never goes back");
                if admission == Admission::Apply {
                    assert!(
                        after.acked_seq >= before.acked_seq,
                        "the ack never goes back"
                    );
                }
                assert!(after.incident_count >= 0);
            }
            Err(aerie_store::StoreError::Conflict(_)) => {}
            Err(e) => panic!("a valid batch failed to apply: {e}"),
        }
    });
}

/// A sensor's `POST /api/v1/events` body, validated as the CM does; every event that
/// passes has bounded, control-free text.
pub fn sensor_events(data: &[u8]) {
    let Ok(batch) = serde_json::from_slice::<EventBatch>(data) else {
        return;
    };
    let Ok(events) = batch.validate(chrono::Utc::now()) else {
        return;
    };
    for event in events {
        let name = event.threat_name.as_str();
        assert!(!name.trim().is_empty());
        assert!(!name.chars().any(char::is_control), "{name:?}");
    }
}

/// A CLI line in both modes: parse, context help, completion and the history mask.
/// The mask hides every passphrase and keeps every other word as typed (a line with an
/// open quote loses everything from its first `passphrase`).
pub fn cli_line(data: &[u8]) {
    let Ok(line) = std::str::from_utf8(data) else {
        return;
    };
    for mode in [Mode::Basic, Mode::Cm] {
        let _ = grammar::parse(mode, line);
        let _ = grammar::help(mode, line);
        let (at, _) = grammar::complete(mode, line);
        assert!(
            line.is_char_boundary(at),
            "completion starts inside a character"
        );
    }
    let masked = grammar::mask(line);
    let Ok(words) = grammar::tokenize(line) else {
        // Unreadable (an open quote): everything from the first `passphrase` goes.
        if line.contains("passphrase") {
            assert!(masked.ends_with("passphrase ******"), "{masked:?}");
        }
        return;
    };
    assert_eq!(
        grammar::mask(&masked),
        masked,
        "masking twice changes the line"
    );
    let shown = grammar::tokenize(&masked).expect("a masked line tokenizes");
    assert_eq!(shown.len(), words.len(), "{line:?} masked as {masked:?}");
    for (i, (word, shown)) in words.iter().zip(&shown).enumerate() {
        if i > 0 && words[i - 1].text == "passphrase" {
            assert_eq!(shown.text, "******");
        } else {
            assert_eq!(shown.text, word.text, "{line:?} masked as {masked:?}");
        }
    }
    if let Outcome::Run(parsed) = grammar::parse(Mode::Cm, line)
        && let Some(address) = parsed.arg("ip")
        && let Ok(address) = McmAddress::parse(address)
    {
        assert_eq!(
            McmAddress::parse(&address.to_string()).expect("shown address parses"),
            address
        );
    }
}

/// The upload form's multipart body, read as the web UI reads it.
pub fn upload_form(data: &[u8]) {
    use axum::extract::FromRequest;
    let mcm = mcm();
    mcm.runtime.block_on(async {
        let request = axum::http::Request::builder()
            .method("POST")
            .uri("/uploads")
            .header(
                "content-type",
                "multipart/form-data; boundary=aerie-fuzz-boundary",
            )
            .body(axum::body::Body::from(data.to_vec()))
            .expect("request");
        let Ok(multipart) = axum::extract::Multipart::from_request(request, &()).await else {
            return;
        };
        if let Ok(form) = aerie_server::fuzzing::read_upload_form(multipart).await
            && let Some((_, bytes)) = form.file
        {
            assert!(bytes.len() <= data.len());
        }
    });
}

/// An artifact's bytes: sniffed and checked as the CM checks an upload or a sensor's
/// artifact (PNG decode, pcap/pcapng records).
pub fn artifact(data: &[u8]) {
    use aerie_domain::artifact::ArtifactKind;
    let sniffed = ArtifactKind::sniff(data);
    if let Ok(kind) = aerie_server::fuzzing::check_artifact(None, data) {
        assert_eq!(Some(kind), sniffed);
    }
    if let Some(kind) = sniffed {
        let _ = aerie_server::fuzzing::check_artifact(Some(kind), data);
    }
}

/// Source names and CnC entries as a sensor sends them, classified into what
/// whitelists, mitigations and the feeds act on: a domain is never all-numeric in its
/// last label (an address in disguise), and an address is canonical.
pub fn indicators(data: &[u8]) {
    use aerie_domain::indicator::{CncHost, SourceName};
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let domain_ok = |d: &str| {
        let last = d.rsplit('.').next().unwrap_or("");
        assert!(
            !last.is_empty() && !last.chars().all(|c| c.is_ascii_digit()),
            "{d:?} taken as a domain"
        );
        assert_eq!(d, d.to_ascii_lowercase());
    };
    match SourceName::classify(text) {
        SourceName::Url { host, .. } => domain_ok(&host),
        SourceName::Email { domain, .. } => domain_ok(&domain),
        SourceName::Domain(d) => domain_ok(&d),
        SourceName::Other => {}
    }
    match CncHost::parse(text) {
        Some(CncHost::Domain(d)) => domain_ok(&d),
        Some(CncHost::Ip(ip)) => assert_eq!(aerie_domain::net::canonical_ip(ip), ip),
        None => {}
    }
    let _ = aerie_domain::text::visible(text);
}
