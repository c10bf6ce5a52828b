//! Syslog messages around a CEF line: the RFC 5424 header (or the legacy RFC 3164 one
//! the original appliance sent), and RFC 6587 octet counting for TCP and TLS.

use chrono::{DateTime, Utc};

/// Facility local0, what the original appliance used (`<134>` = local0.info).
const FACILITY: u8 = 16;
/// The APP-NAME / TAG.
pub const APP: &str = "aerie";

/// The syslog header a destination receives.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Format {
    /// RFC 5424: `<PRI>1 TIMESTAMP HOST APP PROCID MSGID - MSG`.
    #[default]
    Rfc5424,
    /// RFC 3164: `<PRI>Mmm dd hh:mm:ss HOST APP: MSG`.
    Rfc3164,
}

impl Format {
    pub fn as_str(self) -> &'static str {
        match self {
            Format::Rfc5424 => "rfc5424",
            Format::Rfc3164 => "rfc3164",
        }
    }
}

impl std::str::FromStr for Format {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "rfc5424" => Ok(Format::Rfc5424),
            "rfc3164" => Ok(Format::Rfc3164),
            _ => Err(format!(
                "{s:?} is not a syslog format: use rfc5424 or rfc3164"
            )),
        }
    }
}

/// The syslog severity (RFC 5424 §6.2.1) of a CEF severity.
pub fn severity(cef: u8) -> u8 {
    match cef {
        9.. => 2,   // critical
        7..=8 => 3, // error
        4..=6 => 4, // warning
        1..=3 => 5, // notice
        0 => 6,     // informational
    }
}

/// One syslog message: `host` must be a valid host name (no spaces), `msgid` a short
/// ASCII word.
pub fn message(
    format: Format,
    cef_severity: u8,
    at: DateTime<Utc>,
    host: &str,
    msgid: &str,
    body: &str,
) -> String {
    let pri = FACILITY * 8 + severity(cef_severity);
    match format {
        Format::Rfc5424 => format!(
            "<{pri}>1 {} {host} {APP} {} {msgid} - {body}",
            at.to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
            std::process::id()
        ),
        Format::Rfc3164 => format!(
            "<{pri}>{} {host} {APP}: {body}",
            at.format("%b %e %H:%M:%S")
        ),
    }
}

/// RFC 6587 octet counting: `LEN SP MSG`.
pub fn octet_counted(message: &str) -> String {
    format!("{} {message}", message.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc5424_header_and_octet_count() {
        let at = DateTime::parse_from_rfc3339("2026-12-08T04:05:06.789Z")
            .unwrap()
            .with_timezone(&Utc);
        let m = message(Format::Rfc5424, 10, at, "mcm-1", "incident", "CEF:0|x");
        let pid = std::process::id();
        assert_eq!(
            m,
            format!("<130>1 2026-12-08T04:05:06.789Z mcm-1 aerie {pid} incident - CEF:0|x")
        );
        assert_eq!(octet_counted("héllo"), "6 héllo");
        let legacy = message(Format::Rfc3164, 0, at, "cm", "incident", "CEF:0|y");
        assert_eq!(legacy, "<134>Dec  8 04:05:06 cm aerie: CEF:0|y");
    }
}
