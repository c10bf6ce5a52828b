//! System Settings: what an operator changes on the System Settings page or with
//! `set system …`, as one typed record. The host name lives with the appliance's
//! identity (`set hostname`) and is edited on the same page.

use serde::{Deserialize, Serialize};

use crate::DomainError;

pub use chrono_tz::Tz;

/// Longest login banner, in characters.
pub const MAX_BANNER_CHARS: usize = 2000;

/// The System Settings record. Fields left `None` defer to the daemon's configuration.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct SystemSettings {
    /// The IANA time zone times are shown in (`UTC` when unset).
    pub time_zone: Option<TimeZone>,
    /// Minutes a login session lasts; overrides `session_ttl_minutes` of the configuration.
    pub session_ttl_minutes: Option<u64>,
    /// Shown above the login form (plain text, escaped).
    pub login_banner: String,
    /// The HTTPS port used from the next start, unless the configuration names a listen
    /// address.
    pub listen_port: Option<u16>,
    /// Software Updates: apply signed updates on the next :00 or :30 by themselves.
    pub software_updates: bool,
}

/// An IANA time zone name, checked against the time zone database.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct TimeZone(chrono_tz::Tz);

impl TimeZone {
    pub fn parse(field: &str, raw: &str) -> Result<TimeZone, DomainError> {
        let raw = raw.trim();
        raw.parse::<chrono_tz::Tz>().map(TimeZone).map_err(|_| {
            DomainError::new(
                field,
                format!(
                    "{raw:?} is not a time zone of the IANA database, e.g. UTC, Europe/Berlin \
                     or America/Los_Angeles"
                ),
            )
        })
    }

    pub fn tz(&self) -> chrono_tz::Tz {
        self.0
    }

    pub fn name(&self) -> &'static str {
        self.0.name()
    }
}

impl TryFrom<String> for TimeZone {
    type Error = DomainError;
    fn try_from(raw: String) -> Result<Self, DomainError> {
        TimeZone::parse("time_zone", &raw)
    }
}

impl From<TimeZone> for String {
    fn from(tz: TimeZone) -> String {
        tz.name().to_owned()
    }
}

/// A session lifetime in minutes: 1 minute to 30 days.
pub fn check_session_ttl(field: &str, raw: &str) -> Result<u64, DomainError> {
    raw.trim()
        .parse::<u64>()
        .ok()
        .filter(|m| (1..=30 * 24 * 60).contains(m))
        .ok_or_else(|| {
            DomainError::new(
                field,
                format!("{raw:?} is not a number of minutes from 1 to 43200 (30 days)"),
            )
        })
}

/// A TCP port for the HTTPS listener: 1 to 65535.
pub fn check_port(field: &str, raw: &str) -> Result<u16, DomainError> {
    raw.trim()
        .parse::<u16>()
        .ok()
        .filter(|p| *p != 0)
        .ok_or_else(|| DomainError::new(field, format!("{raw:?} is not a port from 1 to 65535")))
}

/// A login banner: at most [`MAX_BANNER_CHARS`] characters, no control characters but
/// line breaks and tabs; surrounding blank space trimmed.
pub fn check_banner(field: &str, raw: &str) -> Result<String, DomainError> {
    let text = raw.trim().replace("\r\n", "\n");
    if text.chars().count() > MAX_BANNER_CHARS {
        return Err(DomainError::new(
            field,
            format!("the banner has at most {MAX_BANNER_CHARS} characters"),
        ));
    }
    if let Some(c) = text
        .chars()
        .find(|c| c.is_control() && *c != '\n' && *c != '\t')
    {
        return Err(DomainError::new(
            field,
            format!(
                "the banner may not hold the control character U+{:04X}",
                c as u32
            ),
        ));
    }
    Ok(text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn time_zones_are_checked_against_the_database() {
        assert_eq!(
            TimeZone::parse("tz", " Europe/Berlin ").unwrap().name(),
            "Europe/Berlin"
        );
        let err = TimeZone::parse("tz", "Mars/Olympus").unwrap_err();
        assert!(err.message.contains("IANA"), "{err}");
        let json = serde_json::to_string(&TimeZone::parse("tz", "UTC").unwrap()).unwrap();
        assert_eq!(json, "\"UTC\"");
        assert!(serde_json::from_str::<TimeZone>("\"Nowhere\"").is_err());
    }

    #[test]
    fn numbers_and_banners_are_bounded() {
        assert_eq!(check_session_ttl("t", "90").unwrap(), 90);
        assert!(check_session_ttl("t", "0").is_err());
        assert!(check_session_ttl("t", "43201").is_err());
        assert_eq!(check_port("p", "8443").unwrap(), 8443);
        assert!(check_port("p", "0").is_err());
        assert!(check_port("p", "65536").is_err());
        assert_eq!(
            check_banner("b", "  Authorized use only.\r\nAll access is logged. ").unwrap(),
            "Authorized use only.\nAll access is logged."
        );
        assert!(check_banner("b", "bell\u{7}").is_err());
        assert!(check_banner("b", &"x".repeat(MAX_BANNER_CHARS + 1)).is_err());
    }
}
