//! The duel: CMs produce incidents while the MCM and the CMs are killed with SIGKILL and
//! restarted, and a TCP proxy between them cuts and refuses connections. After every
//! round the MCM's table must equal the union of the CMs' non-benign incidents: same
//! ids, same versions, nothing missing, nothing extra. In every round one node (a CM in
//! even rounds, the MCM in odd ones) is copied early and restored from that older copy
//! later, as an operator restoring a backup would: the copy must become exact again by
//! itself, with no `set mcm resync`.
//!
//! `AERIE_DUEL_SEED` replays a run; `AERIE_DUEL_ROUNDS` sets how many rounds (default 6).

use std::{
    collections::BTreeMap,
    net::SocketAddr,
    path::Path,
    sync::{
        Arc, Mutex,
        atomic::{AtomicBool, Ordering},
    },
    time::Duration,
};

use aerie_client::Client;
use aerie_proto::{
    events::{EventBatch, EventIn},
    incidents::IncidentListParams,
};
use rand::{Rng, SeedableRng, rngs::StdRng};
use tokio::{net::TcpListener, task::JoinHandle};

const PASSPHRASE: &str = "duel-passphrase";

mod common;
use common::node::{Backend, Node, every_incident};

/// A TCP relay from the CMs to the MCM that can cut every connection or refuse new ones.
struct Proxy {
    addr: SocketAddr,
    refusing: Arc<AtomicBool>,
    links: Arc<Mutex<Vec<JoinHandle<()>>>>,
}

impl Proxy {
    async fn start(upstream: SocketAddr) -> Proxy {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let refusing = Arc::new(AtomicBool::new(false));
        let links: Arc<Mutex<Vec<JoinHandle<()>>>> = Arc::default();
        let (r, l) = (refusing.clone(), links.clone());
        tokio::spawn(async move {
            loop {
                let Ok((mut inbound, _)) = listener.accept().await else {
                    return;
                };
                if r.load(Ordering::SeqCst) {
                    continue; // dropped: the connection is refused mid-handshake
                }
                let link = tokio::spawn(async move {
                    if let Ok(mut outbound) = tokio::net::TcpStream::connect(upstream).await {
                        let _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
                    }
                });
                let mut links = l.lock().unwrap();
                links.retain(|h| !h.is_finished());
                links.push(link);
            }
        });
        Proxy {
            addr,
            refusing,
            links,
        }
    }

    fn cut(&self) {
        for link in self.links.lock().unwrap().drain(..) {
            link.abort();
        }
    }

    fn refuse(&self, on: bool) {
        self.refusing.store(on, Ordering::SeqCst);
        if on {
            self.cut();
        }
    }
}

/// An MCM on 127.0.0.1, converted through its CLI, and the relay the CMs reach it by.
async fn mcm_behind_proxy(backend: Backend, base: &Path, name: &str) -> Option<(Node, Proxy)> {
    let mut mcm = Node::on(backend, base, name, "127.0.0.1").await?;
    mcm.start();
    mcm.admin().await;
    mcm.cli(&[
        "cm",
        &format!("set mcm ip 127.0.0.1 passphrase {PASSPHRASE}"),
    ]);
    let proxy = Proxy::start(mcm.listen).await;
    Some((mcm, proxy))
}

fn event(rng: &mut StdRng, cm: usize) -> EventIn {
    let mut e =
        aerie_client::traffic::Traffic::new(rng.random(), 30).next_event(chrono::Utc::now());
    // Few endpoints per CM, so events join and change existing incidents too.
    e.endpoint_ip = format!("10.{cm}.0.{}", rng.random_range(1..=60));
    e
}

async fn non_benign(client: &Client) -> BTreeMap<i64, i64> {
    every_incident(client, None)
        .await
        .into_iter()
        .filter(|i| i.risk != "benign")
        .map(|i| (i.incident_id, i.version))
        .collect()
}

async fn mcm_copy(mcm: &Client, cm_id: i64) -> BTreeMap<i64, i64> {
    let mut out = BTreeMap::new();
    for i in every_incident(mcm, Some(cm_id)).await {
        assert!(
            out.insert(i.incident_id, i.version).is_none(),
            "incident {} doubled",
            i.incident_id
        );
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn duel_with_kills_and_cuts() {
    duel(Backend::Sqlite).await;
}

/// The same duel with every node (the MCM and the CMs) on PostgreSQL; a restore is a
/// copy of the node's database.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn duel_with_kills_and_cuts_on_postgres() {
    duel(Backend::Postgres).await;
}

async fn duel(backend: Backend) {
    let seed: u64 = std::env::var("AERIE_DUEL_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(rand::random);
    let rounds: usize = std::env::var("AERIE_DUEL_ROUNDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(6);
    println!(
        "duel on {backend:?}, seed {seed} ({rounds} rounds); replay with AERIE_DUEL_SEED={seed}"
    );
    let mut rng = StdRng::seed_from_u64(seed);
    let base = tempfile::tempdir().unwrap();

    let Some((mut mcm, proxy)) = mcm_behind_proxy(backend, base.path(), "mcm-duel").await else {
        return;
    };
    let mut cms: Vec<Node> = Vec::new();
    for i in 0..3 {
        let ip = format!("127.0.0.{}", i + 2);
        cms.extend(Node::on(backend, base.path(), &format!("cm-duel-{i}"), &ip).await);
    }
    for cm in &mut cms {
        cm.start();
        cm.admin().await;
        let out = cm.cli(&[
            "cm",
            &format!(
                "set mcm ip {} passphrase {PASSPHRASE} username admin",
                proxy.addr
            ),
        ]);
        assert!(out.contains("Registered"), "{out}");
    }
    let mut mcm_admin = mcm.admin().await;
    let cms_json: Vec<serde_json::Value> = mcm_admin.get("/api/v1/cms").await.unwrap();
    let cm_ids: Vec<i64> = cms
        .iter()
        .map(|cm| {
            cms_json
                .iter()
                .find(|c| c["name"] == cm.name.as_str())
                .unwrap()["id"]
                .as_i64()
                .unwrap()
        })
        .collect();

    for round in 0..rounds {
        let steps = 40;
        let mut admins: Vec<Option<Client>> = Vec::new();
        for cm in &cms {
            admins.push(Some(cm.admin().await));
        }
        // The node restored from an older copy this round: a CM, or the MCM (None).
        let restored = (round % 2 == 0).then_some((round / 2) % cms.len());
        let backup = base.path().join(format!("backup-{round}"));
        for step in 0..steps {
            if step == 5 || step == 30 {
                let node = match restored {
                    Some(i) => &mut cms[i],
                    None => &mut mcm,
                };
                if step == 5 {
                    node.snapshot(&backup).await;
                } else {
                    println!(
                        "round {round}: {} restored from its copy of step 5",
                        node.name
                    );
                    node.restore(&backup).await;
                }
                if let Some(i) = restored {
                    admins[i] = Some(cms[i].admin().await);
                }
            }
            let action = rng.random_range(0..100);
            let target = rng.random_range(0..cms.len());
            match action {
                0..45 => {
                    if let Some(client) = &admins[target] {
                        let events = (0..rng.random_range(1..15))
                            .map(|_| event(&mut rng, target))
                            .collect();
                        if let Err(e) = client.post_events(&EventBatch { events }).await {
                            panic!("seed {seed}: a running CM refused events: {e}");
                        }
                    }
                }
                45..60 => {
                    if let Some(client) = &admins[target] {
                        let page = client.incidents(&IncidentListParams::default()).await;
                        if let Ok(page) = page
                            && !page.items.is_empty()
                        {
                            let pick = &page.items[rng.random_range(0..page.items.len())];
                            let to =
                                ["acknowledged", "in_progress", "complete"][rng.random_range(0..3)];
                            let moved = client
                                .change_status(
                                    pick.incident_id,
                                    to,
                                    &format!("round {round} step {step}"),
                                )
                                .await;
                            // A move the workflow forbids is a 409; anything else is a fault.
                            if let Err(e) = moved
                                && e.status() != Some(reqwest::StatusCode::CONFLICT)
                            {
                                panic!("seed {seed}: a running CM failed a status change: {e}");
                            }
                        }
                    }
                }
                60..70 => {
                    mcm.kill9();
                    tokio::time::sleep(Duration::from_millis(rng.random_range(0..400))).await;
                    mcm.start();
                }
                70..82 => {
                    cms[target].kill9();
                    admins[target] = None;
                    tokio::time::sleep(Duration::from_millis(rng.random_range(0..300))).await;
                    cms[target].start();
                    admins[target] = Some(cms[target].admin().await);
                }
                82..92 => proxy.cut(),
                _ => {
                    proxy.refuse(true);
                    tokio::time::sleep(Duration::from_millis(rng.random_range(100..800))).await;
                    proxy.refuse(false);
                }
            }
            tokio::time::sleep(Duration::from_millis(rng.random_range(0..60))).await;
        }
        // Everyone up, the network whole: the MCM must converge to exactly the CMs' state.
        proxy.refuse(false);
        mcm_admin = mcm.admin().await;
        for (i, cm) in cms.iter().enumerate() {
            let admin = cm.admin().await;
            let mut last = (BTreeMap::new(), BTreeMap::new());
            let mut equal = false;
            for _ in 0..300 {
                let truth = non_benign(&admin).await;
                let copy = mcm_copy(&mcm_admin, cm_ids[i]).await;
                if truth == copy {
                    equal = true;
                    break;
                }
                last = (truth, copy);
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
            assert!(
                equal,
                "seed {seed}, round {round}: the MCM's copy of {} differs:\nCM:  {:?}\nMCM: {:?}\n{}",
                cm.name,
                last.0,
                last.1,
                cm.cli(&["cm", "show mcm"])
            );
        }
        let total: usize = {
            let mut n = 0;
            for cm in &cms {
                n += non_benign(&cm.admin().await).await.len();
            }
            n
        };
        println!("round {round}: converged on {total} incidents");
    }
}

/// Every incident of a list (all pages) as id → (version, endpoint): the endpoint tells
/// an incident of a lost timeline from a new one with the same id and version.
async fn contents(client: &Client, cm: Option<i64>) -> BTreeMap<i64, (i64, String)> {
    every_incident(client, cm)
        .await
        .into_iter()
        .filter(|i| i.risk != "benign")
        .map(|i| (i.incident_id, (i.version, i.endpoint_ip)))
        .collect()
}

/// A CM restored from an older copy while its MCM is unreachable, which then takes more
/// changes than the MCM had acknowledged before it hears from the MCM again: its first
/// batch alone would look in order to the MCM; the CM must still notice and resync.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cm_restored_while_cut_off_resyncs_when_it_is_back() {
    let base = tempfile::tempdir().unwrap();
    let (mcm, proxy) = mcm_behind_proxy(Backend::Sqlite, base.path(), "mcm-cut")
        .await
        .expect("SQLite needs no server");
    let mut cm = Node::new(base.path(), "cm-cut", "127.0.0.2");
    cm.start();
    cm.admin().await;
    let out = cm.cli(&[
        "cm",
        &format!("set mcm ip {} passphrase {PASSPHRASE}", proxy.addr),
    ]);
    assert!(out.contains("Registered"), "{out}");
    let mcm_admin = mcm.admin().await;
    let cms: Vec<serde_json::Value> = mcm_admin.get("/api/v1/cms").await.unwrap();
    let cm_id = cms[0]["id"].as_i64().unwrap();
    let post = |admin: Client, net: u8, n: u8| async move {
        let events = (1..=n)
            .map(|i| {
                let mut e = aerie_client::traffic::Traffic::new(u64::from(i), 1)
                    .next_event(chrono::Utc::now());
                e.severity = 0.9;
                e.endpoint_ip = format!("10.{net}.0.{i}");
                e
            })
            .collect();
        admin.post_events(&EventBatch { events }).await.unwrap();
    };
    let converged = |cm_admin: Client| {
        let mcm_admin = mcm_admin.clone();
        async move {
            for _ in 0..150 {
                if contents(&cm_admin, None).await == contents(&mcm_admin, Some(cm_id)).await {
                    return true;
                }
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
            false
        }
    };

    post(cm.admin().await, 1, 10).await;
    assert!(converged(cm.admin().await).await);
    let backup = base.path().join("cm-backup");
    cm.snapshot(&backup).await;
    post(cm.admin().await, 2, 30).await;
    assert!(
        converged(cm.admin().await).await,
        "the MCM acknowledged more"
    );

    proxy.refuse(true);
    cm.restore(&backup).await;
    post(cm.admin().await, 3, 60).await; // beyond what the MCM acknowledged
    proxy.refuse(false);
    let admin = cm.admin().await;
    assert!(
        converged(admin.clone()).await,
        "the MCM's copy is exact again:\nCM:  {:?}\nMCM: {:?}",
        contents(&admin, None).await,
        contents(&mcm_admin, Some(cm_id)).await
    );
}
