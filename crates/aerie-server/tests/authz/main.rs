//! The authorization matrix: every route of the JSON API and every state-changing form of
//! the web UI, on a CM and on an MCM (with that CM registered to it, so that the MCM's
//! incident actions go live to a real CM), as every kind of caller, checked against one
//! table that reads as the product's authorization policy.
//!
//! - The API's routes come from the OpenAPI document: a (method, path) the document has
//!   and [`api_routes`] lacks fails the test, and so does a row the document lacks. Routes
//!   the router serves without documenting them are in [`undocumented_routes`], driven
//!   all the same (and checked to be still undocumented).
//! - The UI's forms come from its pages: a POST form that a page shows and [`ui_forms`]
//!   lacks fails the test, and so does a row no page shows.
//! - What each caller must get follows from the row: where the route exists, what it
//!   needs, and what it answers on the other side (and what it checks before finding that
//!   out). Allowed callers act on real objects, fresh ones where an action uses them up,
//!   so "allowed" means 2xx, not just "not refused".
//!
//! Every mismatch is collected and printed as a routes × callers grid before the test
//! fails (`--nocapture` shows the grid of a passing run too).
//!
//! Not covered here: the CM's own second check of an action the MCM forwards (the MCM
//! refuses first, so a refused MCM user never reaches the CM; forging the MCM's proxy
//! token is federation.rs's business), and the positive paths of the federation and feed
//! credentials (federation.rs, investigation.rs).

#[path = "../common/mod.rs"]
mod common;

use std::{
    collections::{BTreeSet, HashMap},
    fmt,
    time::Instant,
};

use base64::Engine;
use futures::{StreamExt, stream};
use reqwest::{Method, header};
use serde_json::{Value, json};

use common::{TestServer, batch, cm_id_of, convert, event, eventually, node, register};

mod requests;
mod send;
mod setup;
mod table;
use requests::*;
use send::*;
use setup::*;
use table::*;

// ---------------------------------------------------------------------------------------
// Who calls, and what their roles allow.

/// The kinds of caller every route is tried with.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, PartialOrd, Ord)]
enum Who {
    Admin,
    Analyst,
    Viewer,
    /// A custom role made with `POST /api/v1/roles` holding only `view`.
    ViewOnly,
    /// A user with the admin role who was disabled (`PATCH /api/v1/users/{id}`) after
    /// logging in: the session and keys they hold are dead.
    Disabled,
    /// No credential at all.
    Anonymous,
}

const CALLERS: [Who; 6] = [
    Who::Admin,
    Who::Analyst,
    Who::Viewer,
    Who::ViewOnly,
    Who::Disabled,
    Who::Anonymous,
];

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Perm {
    View,
    SendEvents,
    Triage,
    Mitigate,
    Whitelist,
    Administer,
}

use Perm::*;

impl Who {
    /// What the caller's role allows; `None` when the caller is not (or no longer) a
    /// logged-in, enabled user. The seeded roles as the README gives them.
    fn permissions(self) -> Option<&'static [Perm]> {
        match self {
            Who::Admin => Some(&[View, SendEvents, Triage, Mitigate, Whitelist, Administer]),
            Who::Analyst => Some(&[View, SendEvents, Triage, Mitigate, Whitelist]),
            Who::Viewer | Who::ViewOnly => Some(&[View]),
            Who::Disabled | Who::Anonymous => None,
        }
    }

    fn label(self) -> &'static str {
        match self {
            Who::Admin => "admin",
            Who::Analyst => "analyst",
            Who::Viewer => "viewer",
            Who::ViewOnly => "view-only",
            Who::Disabled => "disabled",
            Who::Anonymous => "anonymous",
        }
    }

    /// Its column in the grid.
    fn abbrev(self) -> &'static str {
        match self {
            Who::Admin => "adm",
            Who::Analyst => "ana",
            Who::Viewer => "vwr",
            Who::ViewOnly => "v/o",
            Who::Disabled => "dis",
            Who::Anonymous => "ano",
        }
    }

    /// The account and its role on each appliance (admin's password is the initial one).
    fn account(self) -> Option<(&'static str, &'static str)> {
        match self {
            Who::Admin => Some(("admin", "admin")),
            Who::Analyst => Some(("ana", "analyst")),
            Who::Viewer => Some(("vic", "viewer")),
            Who::ViewOnly => Some(("peek", VIEW_ONLY_ROLE)),
            Who::Disabled => Some(("gone", "admin")),
            Who::Anonymous => None,
        }
    }
}

const VIEW_ONLY_ROLE: &str = "look";
const PASSWORD: &str = "matrix-passw0rd";
/// A user the login routes log in (the caller's own credential plays no part there).
const PROBE: &str = "probe";

// ---------------------------------------------------------------------------------------
// The policy table's vocabulary.

#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
enum Side {
    Cm,
    Mcm,
}

impl Side {
    fn label(self) -> &'static str {
        match self {
            Side::Cm => "CM",
            Side::Mcm => "MCM",
        }
    }
}

/// Where a route does its job.
#[derive(Clone, Copy, Debug)]
enum On {
    Cm,
    Mcm,
    Both,
}

impl On {
    fn includes(self, side: Side) -> bool {
        matches!(
            (self, side),
            (On::Both, _) | (On::Cm, Side::Cm) | (On::Mcm, Side::Mcm)
        )
    }
}

/// What a route needs of its caller.
#[derive(Clone, Copy, Debug)]
enum Need {
    /// Nobody is asked who they are.
    Public,
    /// Any logged-in, enabled user: their own session, keys and password.
    Login,
    /// A permission of the caller's role. Reads need `View`.
    Can(Perm),
    /// The credential the MCM issued to a registered CM (federation peer endpoints). No
    /// user credential is one.
    CmCredential,
    /// A registration: a fresh nonce signed with the key derived from the passphrase.
    /// No user credential is one.
    CmProof,
    /// The feed credential firewalls and EDRs fetch the block lists with. No user
    /// credential is one.
    FeedCredential,
}

/// What a route checks before it finds that it is on the wrong side.
#[derive(Clone, Copy, Debug)]
enum Checked {
    Nothing,
    /// Only that the caller is logged in; the permission would come after the side.
    Login,
    /// Everything the row's `need` says.
    Everything,
}

/// The class of an answer.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Outcome {
    /// 2xx. The UI: a page, or a redirect with a success message (or none).
    Allowed,
    /// 401. The UI: a redirect to the login page.
    Unauthenticated,
    /// 403. The UI: a 403 page or a redirect whose message names the missing permission.
    Forbidden,
    /// Any other status. The UI: an error page with that status.
    Status(u16),
    /// The UI only: an error message not about who the caller is or may do (a redirect
    /// with an error message, or a refused form token).
    Failed,
}

use Outcome::*;

impl fmt::Display for Outcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Allowed => write!(f, "2xx"),
            Unauthenticated => write!(f, "401"),
            Forbidden => write!(f, "403"),
            Status(s) => write!(f, "{s}"),
            Failed => write!(f, "err"),
        }
    }
}

/// One route (or one variant of a route: an incident action the MCM forwards, a config
/// form's `action`) and its policy.
#[derive(Clone, Debug)]
struct Row {
    method: &'static str,
    path: &'static str,
    variant: &'static str,
    on: On,
    need: Need,
    /// For a route on one side only: what the other side answers, and what it checks
    /// before.
    elsewhere: Option<(Outcome, Checked)>,
    /// What a caller holding the right gets where the route is (the form's own checks
    /// may refuse the harmless request the table sends, after the right is checked).
    granted: Outcome,
}

/// A row for `route` ("METHOD /path").
fn r(route: &'static str, on: On, need: Need) -> Row {
    let (method, path) = route.split_once(' ').expect("METHOD /path");
    Row {
        method,
        path,
        variant: "",
        on,
        need,
        elsewhere: None,
        granted: Allowed,
    }
}

/// On the other side: the usual checks, then 404.
const THEN_404: (Outcome, Checked) = (Status(404), Checked::Everything);
/// On the other side: the usual checks, then 400.
const THEN_400: (Outcome, Checked) = (Status(400), Checked::Everything);
/// On the other side: the usual checks, then an error message (the UI).
const THEN_ERROR: (Outcome, Checked) = (Failed, Checked::Everything);
/// On the other side: the login, then 404 (no permission check).
const LOGIN_THEN_404: (Outcome, Checked) = (Status(404), Checked::Login);
/// On the other side: 404 before anything.
const ONLY_404: (Outcome, Checked) = (Status(404), Checked::Nothing);
/// On the other side: the credential first, and no credential is known there (401).
const THEN_401: (Outcome, Checked) = (Unauthenticated, Checked::Everything);

impl Row {
    fn variant(self, variant: &'static str) -> Row {
        Row { variant, ..self }
    }

    /// A caller with the right passes to the form's own checks, which refuse the
    /// request sent (it must change nothing another row relies on).
    fn then_refused(self) -> Row {
        Row {
            granted: Failed,
            ..self
        }
    }

    fn elsewhere(self, answer: (Outcome, Checked)) -> Row {
        Row {
            elsewhere: Some(answer),
            ..self
        }
    }

    fn name(&self) -> String {
        match self.variant {
            "" => format!("{} {}", self.method, self.path),
            v => format!("{} {} [{v}]", self.method, self.path),
        }
    }

    /// What `who` must get from this route on `side`.
    fn expected(&self, side: Side, who: Who) -> Outcome {
        let refusal = refusal(self.need, who);
        if self.on.includes(side) {
            return refusal.unwrap_or(self.granted);
        }
        let (answer, checked) = self.elsewhere.unwrap_or_else(|| {
            panic!(
                "{} exists on one side: say what the other answers",
                self.name()
            )
        });
        match checked {
            Checked::Nothing => answer,
            Checked::Login if who.permissions().is_none() => Unauthenticated,
            Checked::Login => answer,
            Checked::Everything => refusal.unwrap_or(answer),
        }
    }
}

// ---------------------------------------------------------------------------------------
// The objects the requests act on.

#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
enum Channel {
    Api,
    Ui,
}

/// One caller's credentials on one appliance. Empty for the anonymous caller; dead ones
/// for the disabled caller.
#[derive(Default)]
struct Creds {
    password: String,
    token: Option<String>,
    /// A second session, for the logout routes to end.
    spare_token: Option<String>,
    cookie: Option<String>,
    csrf: String,
    spare_cookie: Option<String>,
    spare_csrf: String,
    /// Two of the caller's own API keys: to rotate, to revoke.
    own_keys: (i64, i64),
}

/// Objects one (side, caller, channel) uses up. Incidents, mitigations and whitelist
/// entries live on the CM (the MCM's actions reach them through it); roles and user keys
/// on the side's own appliance.
struct Mine {
    /// An incident to move to acknowledged.
    status: i64,
    /// An incident and its endpoint, to quarantine.
    mitigate: (i64, String),
    /// An incident and its active mitigation, to revoke.
    revoke: (i64, i64),
    /// An incident and its endpoint, to whitelist.
    whitelist: (i64, String),
    /// A whitelist entry to remove.
    entry: i64,
    /// Addresses no incident has: to whitelist, to send an event from.
    spare_ips: (String, String),
    /// A custom role to delete.
    role: String,
    /// An API key of the side's target user, to revoke.
    user_key: i64,
}

/// One appliance and everything the requests there need.
struct Fx<'a> {
    side: Side,
    server: &'a TestServer,
    /// The registered CM's id on the MCM.
    cm_id: i64,
    /// An incident of the CM with a screenshot, IVP indicators and an active mitigation.
    shared: i64,
    sha256: String,
    /// Users the admin forms change.
    targets: HashMap<Channel, i64>,
    callers: HashMap<Who, Creds>,
    mine: HashMap<(Who, Channel), Mine>,
}

// ---------------------------------------------------------------------------------------
// The requests.

enum Body {
    Empty,
    Json(Value),
    Bytes(Vec<u8>),
}

struct Req {
    method: Method,
    path: String,
    body: Body,
    /// Uses the caller's spare session (it ends it).
    spare: bool,
    /// Logs in afresh first (the password forms, run before it, ended the sessions).
    fresh: bool,
}

enum UiBody {
    Form(Vec<(&'static str, String)>),
    /// The same fields, as multipart/form-data (a page whose form also takes a file).
    Multipart(Vec<(&'static str, String)>),
    Upload(Vec<u8>),
}

struct UiReq {
    path: String,
    body: UiBody,
    spare: bool,
}

// ---------------------------------------------------------------------------------------
// Sending and classifying.

/// What came back, classified, with a line saying why.
struct Got {
    outcome: Outcome,
    detail: String,
}

#[derive(serde::Deserialize)]
struct Flash {
    ok: bool,
    text: String,
}

/// Whom a set of objects is for: a side (its appliance and target users), a caller, a
/// channel.
type For<'a> = (
    Side,
    &'a TestServer,
    &'a HashMap<Channel, i64>,
    Who,
    Channel,
);

type Results = HashMap<(Channel, usize, Side, Who), Got>;

// ---------------------------------------------------------------------------------------
// The test.

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_route_and_form_as_every_caller_on_cm_and_mcm() {
    let started = Instant::now();
    let mcm = node("mcm-authz", 1).await;
    convert(&mcm).await;
    let cm = node("cm-authz", 2).await;
    let (ok, out) = register(&cm, &mcm).await;
    assert!(ok, "{out}");
    let cm_id = cm_id_of(&mcm, "cm-authz").await;
    let http = raw_client();

    let doc: Value = cm.anon.get("/api/v1/openapi.json").await.unwrap();
    let mut problems = check_document(&doc);

    let ((cm_callers, cm_targets), (mcm_callers, mcm_targets)) =
        tokio::join!(people(&cm, &http), people(&mcm, &http));
    let (shared, sha256, mut mine) = objects(
        &cm,
        [
            (Side::Cm, &cm, &cm_targets),
            (Side::Mcm, &mcm, &mcm_targets),
        ],
    )
    .await;
    // The MCM's actions need the CM's incidents in its table.
    let count = 1 + 4 * 2 * 2 * CALLERS.len() as i64;
    let synced = eventually(30, || {
        let admin = mcm.admin.clone();
        async move {
            let cms: Vec<Value> = admin.get("/api/v1/cms").await.unwrap();
            cms.iter()
                .any(|c| c["id"] == cm_id && c["incident_count"].as_i64() >= Some(count))
        }
    })
    .await;
    assert!(synced, "the MCM did not get the CM's {count} incidents");
    let mut fixture = |side, server, callers, targets| Fx {
        side,
        server,
        cm_id,
        shared,
        sha256: sha256.clone(),
        targets,
        callers,
        mine: mine.remove(&side).unwrap(),
    };
    let fx_cm = fixture(Side::Cm, &cm, cm_callers, cm_targets);
    let fx_mcm = fixture(Side::Mcm, &mcm, mcm_callers, mcm_targets);
    let sides = [&fx_cm, &fx_mcm];
    for fx in sides {
        problems.extend(check_forms(fx, &http).await);
    }

    let (api, ui) = (
        api_routes()
            .into_iter()
            .chain(undocumented_routes())
            .collect::<Vec<_>>(),
        ui_forms(),
    );
    let setup = started.elapsed();
    let results = run(sides, &api, &ui, &http).await;
    let (grid, mismatches) = verdict(&api, &ui, &results);
    println!(
        "{grid}\n{} requests: {} API rows and {} UI rows, on 2 appliances, as {} callers; \
         set up in {:.1} s, all in {:.1} s",
        results.len(),
        api.len(),
        ui.len(),
        CALLERS.len(),
        setup.as_secs_f64(),
        started.elapsed().as_secs_f64()
    );
    problems.extend(mismatches);
    assert!(
        problems.is_empty(),
        "{grid}\n{} problem(s) ('!' in the grid marks a mismatch):\n  {}",
        problems.len(),
        problems.join("\n  ")
    );
}
