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
            return refusal.unwrap_or(Allowed);
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

/// How `need` refuses `who`, if it does.
fn refusal(need: Need, who: Who) -> Option<Outcome> {
    match (need, who.permissions()) {
        (Need::Public, _) => None,
        (Need::CmCredential | Need::CmProof | Need::FeedCredential, _) => Some(Unauthenticated),
        (_, None) => Some(Unauthenticated),
        (Need::Login, Some(_)) => None,
        (Need::Can(p), Some(has)) => (!has.contains(&p)).then_some(Forbidden),
    }
}

// ---------------------------------------------------------------------------------------
// THE POLICY.

/// Every route of the OpenAPI document, and what it needs.
///
/// Reads need `view`. Today the reads marked "login only" take the caller without
/// checking a permission; every role has `view` (a custom role must include it), so the
/// outcome is the same for every caller here.
#[rustfmt::skip]
fn api_routes() -> Vec<Row> {
    use Need::*;
    use On::*;
    vec![
        // The daemon, sessions, the caller's own account.
        r("GET /healthz",                                           Both, Public),
        // The body names who logs in; the caller's own credential plays no part.
        r("POST /api/v1/login",                                     Both, Public),
        r("POST /api/v1/logout",                                    Both, Login),
        r("GET /api/v1/api-keys",                                   Both, Login),
        r("POST /api/v1/api-keys",                                  Both, Login),
        r("POST /api/v1/api-keys/{id}/rotate",                      Both, Login),
        r("DELETE /api/v1/api-keys/{id}",                           Both, Login),
        r("POST /api/v1/password",                                  Both, Login),
        // Sensors. The MCM takes events and artifacts too (into a table it never shows).
        r("POST /api/v1/events",                                    Both, Can(SendEvents)),
        r("POST /api/v1/artifacts",                                 Both, Can(SendEvents)),
        // This appliance's incidents. On the MCM they are addressed through their CM
        // (below); these answer 404 there, after the usual checks.
        r("GET /api/v1/incidents",                                  Both, Can(View)), // login only
        r("GET /api/v1/incidents/{id}",                             Cm,   Can(View)).elsewhere(THEN_404), // login only
        r("POST /api/v1/incidents/{id}/status",                     Cm,   Can(Triage)).elsewhere(THEN_404),
        r("POST /api/v1/incidents/{id}/comments",                   Cm,   Can(Triage)).elsewhere(THEN_404),
        r("GET /api/v1/incidents/{id}/artifacts/{sha256}",          Cm,   Can(View)).elsewhere(THEN_404), // login only
        r("GET /api/v1/incidents/{id}/ivp/{platform}",              Cm,   Can(View)).elsewhere(THEN_404), // login only
        r("POST /api/v1/incidents/{id}/mitigations",                Cm,   Can(Mitigate)).elsewhere(THEN_404),
        r("DELETE /api/v1/incidents/{id}/mitigations/{mitigation}", Cm,   Can(Mitigate)).elsewhere(THEN_404),
        r("POST /api/v1/incidents/{id}/whitelist",                  Cm,   Can(Whitelist)).elsewhere(THEN_404),
        // Lists and settings of this appliance. The MCM keeps no whitelist: adding is a
        // 400 there, and no entry exists to remove.
        r("GET /api/v1/mitigations",                                Both, Can(View)), // login only
        r("GET /api/v1/whitelist",                                  Both, Can(View)), // login only
        r("POST /api/v1/whitelist",                                 Cm,   Can(Whitelist)).elsewhere(THEN_400),
        r("DELETE /api/v1/whitelist/{id}",                          Cm,   Can(Whitelist)).elsewhere(THEN_404),
        r("POST /api/v1/feeds/credential",                          Both, Can(Administer)),
        // Fetched by firewalls with the feed credential (its positive path is in
        // investigation.rs).
        r("GET /feeds/{file}",                                      Both, FeedCredential),
        // Users, roles, the audit log.
        r("GET /api/v1/users",                                      Both, Can(Administer)),
        r("POST /api/v1/users",                                     Both, Can(Administer)),
        r("PATCH /api/v1/users/{id}",                               Both, Can(Administer)),
        r("GET /api/v1/users/{id}/api-keys",                        Both, Can(Administer)),
        r("POST /api/v1/users/{id}/api-keys",                       Both, Can(Administer)),
        r("DELETE /api/v1/users/{id}/api-keys/{key}",               Both, Can(Administer)),
        r("GET /api/v1/roles",                                      Both, Can(Administer)),
        r("POST /api/v1/roles",                                     Both, Can(Administer)),
        r("DELETE /api/v1/roles/{name}",                            Both, Can(Administer)),
        r("GET /api/v1/audit",                                      Both, Can(Administer)),
        r("GET /api/v1/audit/verify",                               Both, Can(Administer)),
        // The MCM: its CMs, and their incidents live from the CM that owns them. The MCM
        // checks the permission, then the CM checks it again.
        r("GET /api/v1/cms",                                        Mcm,  Can(View)).elsewhere(THEN_404), // login only
        r("GET /api/v1/incidents/{cm}/{id}",                        Mcm,  Can(View)).elsewhere(THEN_404), // login only
        r("POST /api/v1/incidents/{cm}/{id}/{action}",              Mcm,  Can(Triage)).variant("status").elsewhere(THEN_404),
        r("POST /api/v1/incidents/{cm}/{id}/{action}",              Mcm,  Can(Triage)).variant("comments").elsewhere(THEN_404),
        r("POST /api/v1/incidents/{cm}/{id}/{action}",              Mcm,  Can(Mitigate)).variant("mitigations").elsewhere(THEN_404),
        r("POST /api/v1/incidents/{cm}/{id}/{action}",              Mcm,  Can(Whitelist)).variant("whitelist").elsewhere(THEN_404),
    ]
}

/// NOT IN THE DOCUMENT: routes `crates/aerie-server/src/api/mod.rs` serves that the
/// OpenAPI document does not list (the test fails when one shows up there: move it to
/// [`api_routes`]).
#[rustfmt::skip]
fn undocumented_routes() -> Vec<Row> {
    use Need::*;
    use On::*;
    vec![
        r("GET /api/v1/openapi.json",                                    Both, Public),
        // The router's `/api/v1/incidents/{id}/{incident}/{*action}` takes any method; the
        // document gives it as POST only. Its DELETE and its reads:
        r("DELETE /api/v1/incidents/{cm}/{id}/mitigations/{mitigation}", Mcm,  Can(Mitigate)).elsewhere(THEN_404),
        r("GET /api/v1/incidents/{cm}/{id}/artifacts/{sha256}",          Mcm,  Can(View)).elsewhere(THEN_404), // login only
        r("GET /api/v1/incidents/{cm}/{id}/ivp/{platform}",              Mcm,  Can(View)).elsewhere(THEN_404), // login only
        // Federation, called by CMs (docs/protocol.md): no user credential opens these.
        // Their positive path is federation.rs's. The challenge, the registration's first
        // step, hands a nonce to anyone; the registration is refused (401) without a
        // nonce and proof. A CM answers 404 to both before looking at anything.
        r("POST /api/v1/federation/challenge",                           Mcm,  Public).elsewhere(ONLY_404),
        r("POST /api/v1/federation/register",                            Mcm,  CmProof).elsewhere(ONLY_404),
        // The CM credential is checked first, on either side (a CM knows no CM credential).
        r("POST /api/v1/federation/proxy-token",                         Mcm,  CmCredential).elsewhere(THEN_401),
        r("POST /api/v1/federation/sync",                                Mcm,  CmCredential).elsewhere(THEN_401),
        r("GET /api/v1/federation/manifest",                             Mcm,  CmCredential).elsewhere(THEN_401),
    ]
}

/// Every form of the web UI that changes something (`POST` routes of
/// `crates/aerie-server/src/ui/mod.rs`), submitted from a form-login session with the
/// page's CSRF token. The forms call the API's handlers, so they need what the API
/// needs; a refusal is a redirect carrying the message, except where noted.
#[rustfmt::skip]
fn ui_forms() -> Vec<Row> {
    use Need::*;
    use On::*;
    let admin = |route, action| r(route, Both, Can(Administer)).variant(action);
    vec![
        // The session.
        r("POST /login",                         Both, Public),
        r("POST /logout",                        Both, Login),
        r("POST /config/password",               Both, Login),
        // Config → Users and Roles (the `action` field picks the form).
        admin("POST /config/users", "create"),
        admin("POST /config/users", "role"),
        admin("POST /config/users", "disable"),
        admin("POST /config/users", "enable"),
        admin("POST /config/users", "password"),
        admin("POST /config/users", "key"),
        admin("POST /config/users", "revoke_key"),
        admin("POST /config/roles", "create"),
        admin("POST /config/roles", "delete"),
        // Uploads, CM only: a refused permission is a 403 page; the MCM answers 404 before
        // it looks at the permission.
        r("POST /uploads",                       Cm,   Can(SendEvents)).elsewhere(LOGIN_THEN_404),
        // A CM's incident page. On the MCM the same handlers refuse after the permission
        // check, with an error message ("this appliance is the MCM").
        r("POST /incidents/{id}/status",         Cm,   Can(Triage)).elsewhere(THEN_ERROR),
        r("POST /incidents/{id}/comment",        Cm,   Can(Triage)).elsewhere(THEN_ERROR),
        r("POST /incidents/{id}/mitigate",       Cm,   Can(Mitigate)).elsewhere(THEN_ERROR),
        r("POST /incidents/{id}/revoke",         Cm,   Can(Mitigate)).elsewhere(THEN_ERROR),
        r("POST /incidents/{id}/whitelist",      Cm,   Can(Whitelist)).elsewhere(THEN_ERROR),
        // The MCM's incident page, forwarded to the owning CM. A CM answers 404 (a page)
        // before it looks at the permission.
        r("POST /incidents/{cm}/{id}/status",    Mcm,  Can(Triage)).elsewhere(LOGIN_THEN_404),
        r("POST /incidents/{cm}/{id}/comment",   Mcm,  Can(Triage)).elsewhere(LOGIN_THEN_404),
        r("POST /incidents/{cm}/{id}/mitigate",  Mcm,  Can(Mitigate)).elsewhere(LOGIN_THEN_404),
        r("POST /incidents/{cm}/{id}/revoke",    Mcm,  Can(Mitigate)).elsewhere(LOGIN_THEN_404),
        r("POST /incidents/{cm}/{id}/whitelist", Mcm,  Can(Whitelist)).elsewhere(LOGIN_THEN_404),
    ]
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
}

fn req(method: Method, path: String, body: Body) -> Req {
    Req {
        method,
        path,
        body,
        spare: false,
    }
}

fn get(path: impl Into<String>) -> Req {
    req(Method::GET, path.into(), Body::Empty)
}

fn post(path: impl Into<String>, body: Value) -> Req {
    req(Method::POST, path.into(), Body::Json(body))
}

fn delete(path: impl Into<String>) -> Req {
    req(Method::DELETE, path.into(), Body::Empty)
}

/// The request a row stands for, as `who` on `fx`'s appliance; `None` for a row it does
/// not know.
fn api_request(row: &Row, fx: &Fx, who: Who) -> Option<Req> {
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
        ("GET", "/healthz" | "/api/v1/openapi.json", _) => get(row.path),
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
        ("POST", "/api/v1/password", _) => post(
            row.path,
            json!({"current_password": creds.password, "new_password": creds.password}),
        ),
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
        ("GET", "/api/v1/mitigations" | "/api/v1/whitelist", _) => get(row.path),
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
        ("POST", "/api/v1/federation/proxy-token", _) => {
            post(row.path, json!({"token": "px_not-a-token"}))
        }
        ("POST", "/api/v1/federation/sync", _) => post(row.path, json!({})),
        ("GET", "/api/v1/federation/manifest", _) => get(row.path),
        _ => return None,
    })
}

/// A screenshot seed per (side, caller): every upload is new content.
fn seed(side: Side, who: Who) -> u64 {
    1000 + 10 * side as u64 + who as u64
}

enum UiBody {
    Form(Vec<(&'static str, String)>),
    Upload(Vec<u8>),
}

struct UiReq {
    path: String,
    body: UiBody,
    spare: bool,
}

/// The form a UI row stands for, as `who` on `fx`'s appliance (the CSRF field is added
/// when it is sent); `None` for a row it does not know.
fn ui_request(row: &Row, fx: &Fx, who: Who) -> Option<UiReq> {
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

// ---------------------------------------------------------------------------------------
// Sending and classifying.

/// What came back, classified, with a line saying why.
struct Got {
    outcome: Outcome,
    detail: String,
}

/// What a row without a request gets (a new row needs one).
fn unbuilt(builder: &str) -> Got {
    Got {
        outcome: Status(0),
        detail: format!("{builder} has no request for this row: add one"),
    }
}

fn short(text: &str) -> String {
    let text = text.trim().replace('\n', " ");
    match text.char_indices().nth(140) {
        Some((i, _)) => format!("{}…", &text[..i]),
        None => text,
    }
}

async fn send_api(fx: &Fx<'_>, who: Who, r: Req) -> Got {
    let creds = &fx.callers[&who];
    let token = if r.spare {
        &creds.spare_token
    } else {
        &creds.token
    };
    let client = match token {
        Some(t) => fx.server.anon.with_token(t),
        None => fx.server.anon.clone(),
    };
    let mut builder = client.request(r.method, &r.path);
    builder = match r.body {
        Body::Empty => builder,
        Body::Json(v) => builder.json(&v),
        Body::Bytes(b) => builder
            .header(header::CONTENT_TYPE, "application/octet-stream")
            .body(b),
    };
    let resp = match builder.send().await {
        Ok(resp) => resp,
        Err(e) => {
            return Got {
                outcome: Status(0),
                detail: format!("no answer: {e}"),
            };
        }
    };
    let status = resp.status();
    let body = resp.text().await.unwrap_or_default();
    let outcome = match status.as_u16() {
        200..=299 => Allowed,
        401 => Unauthenticated,
        403 => Forbidden,
        other => Status(other),
    };
    Got {
        outcome,
        detail: format!("{status}: {}", short(&body)),
    }
}

async fn send_ui(fx: &Fx<'_>, http: &reqwest::Client, who: Who, r: UiReq) -> Got {
    let creds = &fx.callers[&who];
    let (cookie, csrf) = if r.spare {
        (&creds.spare_cookie, &creds.spare_csrf)
    } else {
        (&creds.cookie, &creds.csrf)
    };
    let mut builder = http
        .post(fx.server.url(&r.path))
        .header(header::ORIGIN, fx.server.url(""));
    if let Some(c) = cookie {
        builder = builder.header(header::COOKIE, c);
    }
    builder = match r.body {
        UiBody::Form(mut fields) => {
            fields.push(("_csrf", csrf.clone()));
            builder.form(&fields)
        }
        UiBody::Upload(bytes) => {
            let boundary = "authz-matrix-boundary";
            let mut body = format!(
                "--{boundary}\r\nContent-Disposition: form-data; name=\"_csrf\"\r\n\r\n{csrf}\r\n\
                 --{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"sample.bin\"\r\n\
                 Content-Type: application/octet-stream\r\n\r\n"
            )
            .into_bytes();
            body.extend_from_slice(&bytes);
            body.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
            builder
                .header(
                    header::CONTENT_TYPE,
                    format!("multipart/form-data; boundary={boundary}"),
                )
                .body(body)
        }
    };
    match builder.send().await {
        Ok(resp) => classify_page(resp).await,
        Err(e) => Got {
            outcome: Status(0),
            detail: format!("no answer: {e}"),
        },
    }
}

#[derive(serde::Deserialize)]
struct Flash {
    ok: bool,
    text: String,
}

/// A UI answer as an [`Outcome`]: redirects by their flash message (or to the login
/// page), pages by their status.
async fn classify_page(resp: reqwest::Response) -> Got {
    let status = resp.status();
    let cookies: Vec<String> = resp
        .headers()
        .get_all(header::SET_COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .map(str::to_owned)
        .collect();
    let location = resp
        .headers()
        .get(header::LOCATION)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    let body = resp.text().await.unwrap_or_default();
    let flash = cookies
        .iter()
        .filter_map(|c| c.strip_prefix("aerie_flash="))
        .filter_map(|c| c.split(';').next())
        .find_map(|v| {
            let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
                .decode(v)
                .ok()?;
            serde_json::from_slice::<Flash>(&bytes).ok()
        });
    let logged_out = cookies.iter().any(|c| c.starts_with("aerie_session=;"));
    let about_permission = |t: &str| t.contains("needs the") && t.contains("permission");
    let page_error = body
        .split("<p class=\"error\">")
        .nth(1)
        .and_then(|rest| rest.split("</p>").next())
        .unwrap_or(body.as_str())
        .to_owned();
    let (outcome, detail) = if status.is_redirection() {
        match flash {
            Some(f) if f.ok => (Allowed, f.text),
            Some(f) if about_permission(&f.text) => (Forbidden, f.text),
            Some(f) => (Failed, f.text),
            None if location == "/login" && !logged_out => {
                (Unauthenticated, "to the login page".to_owned())
            }
            None => (Allowed, format!("to {location}")),
        }
    } else if status.is_success() {
        (Allowed, String::new())
    } else if status.as_u16() == 403 && about_permission(&page_error) {
        (Forbidden, page_error)
    } else if status.as_u16() == 403 {
        (Failed, page_error)
    } else if status.as_u16() == 401 {
        (Unauthenticated, page_error)
    } else {
        (Status(status.as_u16()), page_error)
    };
    Got {
        outcome,
        detail: format!("{status}: {}", short(&detail)),
    }
}

// ---------------------------------------------------------------------------------------
// Setting up.

/// An HTTPS client for the UI that does not follow redirects (the test's certificates
/// are self-signed; loopback only).
fn raw_client() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .danger_accept_invalid_certs(true)
        .build()
        .unwrap()
}

/// Logs in through the form; returns the session cookie and a CSRF token of its pages.
async fn form_login(
    s: &TestServer,
    http: &reqwest::Client,
    user: &str,
    password: &str,
) -> (String, String) {
    let resp = http
        .post(s.url("/login"))
        .header(header::ORIGIN, s.url(""))
        .form(&[("username", user), ("password", password)])
        .send()
        .await
        .unwrap();
    let cookie = resp
        .headers()
        .get_all(header::SET_COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|v| v.starts_with("aerie_session="))
        .map(|v| v.split(';').next().unwrap().to_owned())
        .unwrap_or_else(|| panic!("form login of {user}: no session cookie"));
    let page = http
        .get(s.url("/config/password"))
        .header(header::COOKIE, &cookie)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let csrf = page
        .split("name=\"_csrf\" value=\"")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .expect("a CSRF field")
        .to_owned();
    (cookie, csrf)
}

async fn call(c: &aerie_client::Client, method: Method, path: &str, body: Value) -> Value {
    c.send(c.request(method.clone(), path).json(&body))
        .await
        .unwrap_or_else(|e| panic!("setup: {method} {path}: {e}"))
}

/// The users of one appliance, logged in every way the matrix uses; the disabled one
/// disabled after logging in. Returns the callers and the users the admin forms change.
async fn people(
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
fn operations(doc: &Value) -> BTreeSet<(String, String)> {
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
fn post_forms(page: &str) -> Vec<(String, String)> {
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
async fn forms_shown(fx: &Fx<'_>, http: &reqwest::Client) -> BTreeSet<(String, String)> {
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
fn check_document(doc: &Value) -> Vec<String> {
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
async fn check_forms(fx: &Fx<'_>, http: &reqwest::Client) -> Vec<String> {
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

/// Whom a set of objects is for: a side (its appliance and target users), a caller, a
/// channel.
type For<'a> = (
    Side,
    &'a TestServer,
    &'a HashMap<Channel, i64>,
    Who,
    Channel,
);

/// The CM's incidents, mitigations and whitelist entries, and each appliance's roles
/// and user keys, for every (side, caller, channel) to use up; plus the shared incident
/// (with a screenshot, IVP indicators and an active mitigation) and its screenshot.
async fn objects(
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

type Results = HashMap<(Channel, usize, Side, Who), Got>;

/// Every row on both appliances as every caller, eight requests at a time.
async fn run(sides: [&Fx<'_>; 2], api: &[Row], ui: &[Row], http: &reqwest::Client) -> Results {
    let jobs: Vec<(Channel, usize, &Fx, Who)> =
        [(Channel::Api, api.len()), (Channel::Ui, ui.len())]
            .into_iter()
            .flat_map(|(ch, len)| (0..len).map(move |i| (ch, i)))
            .flat_map(|(ch, i)| sides.map(|fx| (ch, i, fx)))
            .flat_map(|(ch, i, fx)| CALLERS.map(|w| (ch, i, fx, w)))
            .collect();
    stream::iter(jobs)
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
        .await
}

/// The grid of what every caller got ('!' where it is not what the table says), and a
/// line for every mismatch.
fn verdict(api: &[Row], ui: &[Row], results: &Results) -> (String, Vec<String>) {
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
