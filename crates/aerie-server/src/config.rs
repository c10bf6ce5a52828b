//! The daemon's configuration: defaults < `DIR/aerie.toml` < `AERIE_*` environment <
//! command-line flags, validated once into a [`Config`].

use std::{
    fmt,
    net::SocketAddr,
    path::{Path, PathBuf},
};

use serde::Deserialize;

/// One source of settings; unset fields defer to the layer below.
#[derive(Deserialize, Default, Debug, Clone, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct ConfigLayer {
    /// Address and port of the HTTPS listener, e.g. `0.0.0.0:443`.
    pub listen: Option<String>,
    /// `sqlite:PATH` or `postgres://…`; the default is `aerie.db` in the data dir.
    pub database_url: Option<String>,
    /// A file holding the database URL (keeps the password out of the config file).
    pub database_url_file: Option<PathBuf>,
    /// The appliance's host name (certificate, CM name). Default: the system's.
    pub hostname: Option<String>,
    /// Largest accepted request body, in bytes.
    pub max_body_bytes: Option<usize>,
    /// Minutes a login session lasts.
    pub session_ttl_minutes: Option<u64>,
    /// The URL the MCM reaches this CM at, e.g. `https://cm1.example:443`. Default: the
    /// listen address, or the host name when listening on all addresses.
    pub public_url: Option<String>,
    /// Seconds a client has for the TLS handshake and for each request's headers (an
    /// HTTP/1 keep-alive connection waiting for its next request closes after as long).
    pub header_timeout_secs: Option<u64>,
    /// Seconds a connection may pass without a byte either way before it is closed.
    pub idle_timeout_secs: Option<u64>,
    /// Open connections accepted at most; further ones are closed at once.
    pub max_connections: Option<usize>,
    /// TESTS ONLY: an Ed25519 public key (base64) trusted for licenses and updates
    /// instead of the vendor's. Refused in a release build and in FIPS mode.
    pub vendor_public_key_override: Option<String>,
    /// A file holding the token a scraper may read `/metrics` with
    /// (`Authorization: Bearer TOKEN`), at least 32 characters.
    pub metrics_token_file: Option<PathBuf>,
    /// Addresses or networks (`10.0.0.5`, `10.1.0.0/16`) that may read `/metrics`
    /// without a credential.
    pub metrics_allow: Option<Vec<String>>,
}

impl ConfigLayer {
    /// Reads `DIR/aerie.toml`; a missing file is an empty layer.
    pub fn from_file(path: &Path) -> Result<ConfigLayer, ConfigError> {
        match std::fs::read_to_string(path) {
            Ok(text) => toml::from_str(&text)
                .map_err(|e| ConfigError(format!("{}: {}", path.display(), e.message()))),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(ConfigLayer::default()),
            Err(e) => Err(ConfigError(format!("cannot read {}: {e}", path.display()))),
        }
    }

    /// Reads the `AERIE_*` variables from `vars`.
    pub fn from_env(vars: impl Fn(&str) -> Option<String>) -> Result<ConfigLayer, ConfigError> {
        let number = |name: &str| -> Result<Option<u64>, ConfigError> {
            vars(name)
                .map(|v| {
                    v.parse()
                        .map_err(|_| ConfigError(format!("{name}={v:?} is not a number")))
                })
                .transpose()
        };
        Ok(ConfigLayer {
            listen: vars("AERIE_LISTEN"),
            database_url: vars("AERIE_DATABASE_URL"),
            database_url_file: vars("AERIE_DATABASE_URL_FILE").map(PathBuf::from),
            hostname: vars("AERIE_HOSTNAME"),
            max_body_bytes: number("AERIE_MAX_BODY_BYTES")?.map(|n| n as usize),
            session_ttl_minutes: number("AERIE_SESSION_TTL_MINUTES")?,
            public_url: vars("AERIE_PUBLIC_URL"),
            header_timeout_secs: number("AERIE_HEADER_TIMEOUT_SECS")?,
            idle_timeout_secs: number("AERIE_IDLE_TIMEOUT_SECS")?,
            max_connections: number("AERIE_MAX_CONNECTIONS")?.map(|n| n as usize),
            vendor_public_key_override: vars("AERIE_VENDOR_PUBLIC_KEY_OVERRIDE"),
            metrics_token_file: vars("AERIE_METRICS_TOKEN_FILE").map(PathBuf::from),
            metrics_allow: vars("AERIE_METRICS_ALLOW").map(|v| {
                v.split(',')
                    .map(|a| a.trim().to_owned())
                    .filter(|a| !a.is_empty())
                    .collect()
            }),
        })
    }

    /// `self` over `lower`: each field set here wins.
    pub fn over(self, lower: ConfigLayer) -> ConfigLayer {
        ConfigLayer {
            listen: self.listen.or(lower.listen),
            database_url: self.database_url.or(lower.database_url),
            database_url_file: self.database_url_file.or(lower.database_url_file),
            hostname: self.hostname.or(lower.hostname),
            max_body_bytes: self.max_body_bytes.or(lower.max_body_bytes),
            session_ttl_minutes: self.session_ttl_minutes.or(lower.session_ttl_minutes),
            public_url: self.public_url.or(lower.public_url),
            header_timeout_secs: self.header_timeout_secs.or(lower.header_timeout_secs),
            idle_timeout_secs: self.idle_timeout_secs.or(lower.idle_timeout_secs),
            max_connections: self.max_connections.or(lower.max_connections),
            vendor_public_key_override: self
                .vendor_public_key_override
                .or(lower.vendor_public_key_override),
            metrics_token_file: self.metrics_token_file.or(lower.metrics_token_file),
            metrics_allow: self.metrics_allow.or(lower.metrics_allow),
        }
    }
}

/// A configuration value that cannot be used, with what to do about it.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("configuration: {0}")]
pub struct ConfigError(pub String);

/// A database URL whose password never reaches a log.
#[derive(Clone, PartialEq)]
pub struct DatabaseUrl(String);

impl DatabaseUrl {
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for DatabaseUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&redact_url(&self.0))
    }
}

impl fmt::Display for DatabaseUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&redact_url(&self.0))
    }
}

/// `postgres://user:secret@host/db` → `postgres://user:***@host/db`.
fn redact_url(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_owned();
    };
    let Some((auth, host)) = rest.rsplit_once('@') else {
        return url.to_owned();
    };
    match auth.split_once(':') {
        Some((user, _)) => format!("{scheme}://{user}:***@{host}"),
        None => url.to_owned(),
    }
}

/// The validated configuration of one daemon.
#[derive(Debug, Clone)]
pub struct Config {
    pub data_dir: PathBuf,
    pub listen: SocketAddr,
    /// The listen address was given (file, environment or flag) rather than defaulted:
    /// it then wins over the System Settings port.
    pub listen_configured: bool,
    pub database_url: DatabaseUrl,
    pub hostname: String,
    pub max_body_bytes: usize,
    pub session_ttl_minutes: u64,
    pub public_url: Option<String>,
    pub header_timeout: std::time::Duration,
    pub idle_timeout: std::time::Duration,
    pub max_connections: usize,
    /// The test override of the vendor key ([`ConfigLayer::vendor_public_key_override`]).
    pub vendor_key_override: Option<aerie_license::VendorKey>,
    /// Who may read `/metrics` besides admins.
    pub metrics: MetricsAccess,
}

/// The scrape token's SHA-256 and the addresses that need no credential for `/metrics`.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct MetricsAccess {
    pub token_sha256: Option<[u8; 32]>,
    pub allow: Vec<ipnet::IpNet>,
}

impl MetricsAccess {
    /// The shortest scrape token accepted.
    pub const MIN_TOKEN_CHARS: usize = 32;

    fn resolve(token_file: Option<&Path>, allow: &[String]) -> Result<Self, ConfigError> {
        let token_sha256 = match token_file {
            None => None,
            Some(file) => {
                let token = std::fs::read_to_string(file)
                    .map_err(|e| ConfigError(format!("cannot read {}: {e}", file.display())))?;
                let token = token.trim();
                if token.chars().count() < Self::MIN_TOKEN_CHARS {
                    return Err(ConfigError(format!(
                        "the metrics token in {} has {} characters; use at least {} (e.g. `openssl rand -hex 32`)",
                        file.display(),
                        token.chars().count(),
                        Self::MIN_TOKEN_CHARS
                    )));
                }
                Some(sha256(token))
            }
        };
        let allow = allow
            .iter()
            .map(|a| {
                a.parse::<ipnet::IpNet>()
                    .or_else(|_| a.parse::<std::net::IpAddr>().map(ipnet::IpNet::from))
                    .map_err(|_| {
                        ConfigError(format!(
                            "metrics_allow {a:?} is not an address or network, e.g. 10.0.0.5 or 10.1.0.0/16"
                        ))
                    })
            })
            .collect::<Result<_, _>>()?;
        Ok(MetricsAccess {
            token_sha256,
            allow,
        })
    }

    /// Whether `peer` may read without a credential.
    pub fn allows(&self, peer: std::net::IpAddr) -> bool {
        let peer = match peer {
            std::net::IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(peer, std::net::IpAddr::V4),
            v4 => v4,
        };
        self.allow.iter().any(|n| n.contains(&peer))
    }

    /// Whether `token` is the scrape token (compared in constant time).
    pub fn accepts(&self, token: &str) -> bool {
        let Some(expected) = &self.token_sha256 else {
            return false;
        };
        aws_lc_rs::constant_time::verify_slices_are_equal(&sha256(token), expected).is_ok()
    }
}

fn sha256(text: &str) -> [u8; 32] {
    let d = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, text.as_bytes());
    d.as_ref().try_into().expect("SHA-256 is 32 bytes")
}

impl Config {
    pub const DEFAULT_LISTEN: &str = "0.0.0.0:443";
    pub const DEFAULT_MAX_BODY_BYTES: usize = 2 * 1024 * 1024;
    pub const DEFAULT_SESSION_TTL_MINUTES: u64 = 12 * 60;
    pub const DEFAULT_HEADER_TIMEOUT_SECS: u64 = 10;
    /// Above the live updates' 15 s keep-alive, so an open Incidents page stays connected.
    pub const DEFAULT_IDLE_TIMEOUT_SECS: u64 = 60;
    pub const DEFAULT_MAX_CONNECTIONS: usize = 4096;

    /// Layers file, environment and flags over the defaults and validates the result. The
    /// file is `DIR/aerie.toml`, or `$AERIE_CONFIG_FILE` (the package's
    /// `/etc/aerie/aerie.toml`).
    pub fn load(data_dir: &Path, flags: ConfigLayer) -> Result<Config, ConfigError> {
        let path = match std::env::var_os("AERIE_CONFIG_FILE") {
            Some(path) => PathBuf::from(path),
            None => data_dir.join("aerie.toml"),
        };
        let file = ConfigLayer::from_file(&path)?;
        let env = ConfigLayer::from_env(|name| std::env::var(name).ok())?;
        Config::resolve(data_dir, flags.over(env).over(file))
    }

    /// Validates a merged layer.
    pub fn resolve(data_dir: &Path, layer: ConfigLayer) -> Result<Config, ConfigError> {
        let listen_configured = layer.listen.is_some();
        let listen_text = layer
            .listen
            .unwrap_or_else(|| Self::DEFAULT_LISTEN.to_owned());
        let listen = listen_text.parse().map_err(|_| {
            ConfigError(format!(
                "listen {listen_text:?} is not ADDRESS:PORT, e.g. 0.0.0.0:443 or [::]:8443"
            ))
        })?;
        let url = match (layer.database_url, layer.database_url_file) {
            (Some(_), Some(_)) => {
                return Err(ConfigError(
                    "set database_url or database_url_file, not both".to_owned(),
                ));
            }
            (Some(url), None) => url,
            (None, Some(file)) => std::fs::read_to_string(&file)
                .map_err(|e| ConfigError(format!("cannot read {}: {e}", file.display())))?
                .trim()
                .to_owned(),
            (None, None) => aerie_store::SqlStore::sqlite_url(data_dir),
        };
        if !["sqlite:", "postgres://", "postgresql://"]
            .iter()
            .any(|p| url.starts_with(p))
        {
            return Err(ConfigError(format!(
                "database URL {} must start with sqlite: or postgres://",
                redact_url(&url)
            )));
        }
        let hostname = match layer.hostname {
            Some(h) => h,
            None => system_hostname(),
        };
        check_hostname(&hostname)?;
        let max_body_bytes = layer.max_body_bytes.unwrap_or(Self::DEFAULT_MAX_BODY_BYTES);
        if !(1024..=64 * 1024 * 1024).contains(&max_body_bytes) {
            return Err(ConfigError(
                "max_body_bytes must be from 1024 to 67108864".to_owned(),
            ));
        }
        let session_ttl_minutes = layer
            .session_ttl_minutes
            .unwrap_or(Self::DEFAULT_SESSION_TTL_MINUTES);
        if !(1..=30 * 24 * 60).contains(&session_ttl_minutes) {
            return Err(ConfigError(
                "session_ttl_minutes must be from 1 to 43200".to_owned(),
            ));
        }
        let header_timeout_secs = layer
            .header_timeout_secs
            .unwrap_or(Self::DEFAULT_HEADER_TIMEOUT_SECS);
        if !(1..=300).contains(&header_timeout_secs) {
            return Err(ConfigError(
                "header_timeout_secs must be from 1 to 300".to_owned(),
            ));
        }
        let idle_timeout_secs = layer
            .idle_timeout_secs
            .unwrap_or(Self::DEFAULT_IDLE_TIMEOUT_SECS);
        if !(1..=3600).contains(&idle_timeout_secs) {
            return Err(ConfigError(
                "idle_timeout_secs must be from 1 to 3600".to_owned(),
            ));
        }
        let max_connections = layer
            .max_connections
            .unwrap_or(Self::DEFAULT_MAX_CONNECTIONS);
        if !(1..=1_000_000).contains(&max_connections) {
            return Err(ConfigError(
                "max_connections must be from 1 to 1000000".to_owned(),
            ));
        }
        if let Some(url) = &layer.public_url
            && !url.starts_with("https://")
        {
            return Err(ConfigError(format!(
                "public_url {url:?} must start with https://"
            )));
        }
        let vendor_key_override = match &layer.vendor_public_key_override {
            None => None,
            Some(_) if !cfg!(debug_assertions) => {
                return Err(ConfigError(
                    "vendor_public_key_override is for tests and is refused in a release build"
                        .to_owned(),
                ));
            }
            Some(key) => Some(
                key.parse()
                    .map_err(|e| ConfigError(format!("vendor_public_key_override: {e}")))?,
            ),
        };
        let metrics = MetricsAccess::resolve(
            layer.metrics_token_file.as_deref(),
            layer.metrics_allow.as_deref().unwrap_or_default(),
        )?;
        Ok(Config {
            vendor_key_override,
            metrics,
            public_url: layer.public_url,
            data_dir: data_dir.to_owned(),
            listen,
            listen_configured,
            database_url: DatabaseUrl(url),
            hostname,
            max_body_bytes,
            session_ttl_minutes,
            header_timeout: std::time::Duration::from_secs(header_timeout_secs),
            idle_timeout: std::time::Duration::from_secs(idle_timeout_secs),
            max_connections,
        })
    }
}

/// The kernel's host name, or `aerie` if it cannot be read.
pub fn system_hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_owned())
        .ok()
        .filter(|h| check_hostname(h).is_ok())
        .unwrap_or_else(|| "aerie".to_owned())
}

/// Checks a host name (see [`aerie_domain::net::HostName`]).
pub fn check_hostname(name: &str) -> Result<(), ConfigError> {
    aerie_domain::net::HostName::parse("hostname", name)
        .map(|_| ())
        .map_err(|e| ConfigError(format!("hostname: {}", e.message)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn layer(listen: &str) -> ConfigLayer {
        ConfigLayer {
            listen: Some(listen.into()),
            ..Default::default()
        }
    }

    #[test]
    fn higher_layers_win() {
        let flags = layer("127.0.0.1:1");
        let env = ConfigLayer {
            hostname: Some("from-env".into()),
            ..layer("127.0.0.1:2")
        };
        let file = ConfigLayer {
            max_body_bytes: Some(4096),
            ..layer("127.0.0.1:3")
        };
        let c = Config::resolve(Path::new("/d"), flags.over(env).over(file)).unwrap();
        assert_eq!(c.listen.port(), 1);
        assert_eq!(c.hostname, "from-env");
        assert_eq!(c.max_body_bytes, 4096);
        assert_eq!(c.database_url.expose(), "sqlite:/d/aerie.db");
    }

    #[test]
    fn defaults_and_errors() {
        let c = Config::resolve(Path::new("/d"), ConfigLayer::default()).unwrap();
        assert_eq!(c.listen.to_string(), "0.0.0.0:443");
        let bad = |l: ConfigLayer| Config::resolve(Path::new("/d"), l).unwrap_err().0;
        assert!(bad(layer("localhost")).contains("ADDRESS:PORT"));
        let db = ConfigLayer {
            database_url: Some("mysql://x".into()),
            ..Default::default()
        };
        assert!(bad(db).contains("sqlite: or postgres://"));
        let host = ConfigLayer {
            hostname: Some("-bad".into()),
            ..Default::default()
        };
        assert!(bad(host).contains("host name"));
    }

    #[test]
    fn secrets_are_redacted() {
        let url = DatabaseUrl("postgres://aerie:hunter2@db:5432/aerie".into());
        assert_eq!(format!("{url:?}"), "postgres://aerie:***@db:5432/aerie");
        assert!(!format!("{url}").contains("hunter2"));
    }

    #[test]
    fn toml_rejects_unknown_keys() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("aerie.toml");
        std::fs::write(&path, "listne = \"1.2.3.4:5\"\n").unwrap();
        assert!(
            ConfigLayer::from_file(&path)
                .unwrap_err()
                .0
                .contains("unknown field")
        );
        std::fs::write(&path, "listen = \"1.2.3.4:5\"\n").unwrap();
        assert_eq!(
            ConfigLayer::from_file(&path).unwrap().listen.as_deref(),
            Some("1.2.3.4:5")
        );
    }

    #[test]
    fn env_numbers_are_checked() {
        let env = |name: &str| (name == "AERIE_MAX_BODY_BYTES").then(|| "lots".to_owned());
        assert!(
            ConfigLayer::from_env(env)
                .unwrap_err()
                .0
                .contains("AERIE_MAX_BODY_BYTES")
        );
    }
}
