//! ArcSight Common Event Format (CEF:0): the header's seven fields and the extension's
//! `key=value` pairs, each escaped by its own rule, and the events Aerie maps into it
//! (`docs/siem.md` lists every field).
//!
//! Incident text is attacker-controlled. Escaping is total (every field, every value)
//! and a message that must be shortened loses whole extension pairs, never part of an
//! escape.

use aerie_domain::{audit::AuditEntry, incident::Incident, risk::Risk};

/// The header's vendor and product.
pub const VENDOR: &str = "Aerie";
pub const PRODUCT: &str = "ATP Central Manager";

/// A header field: `\` and `|` escaped; CR and LF (which no header may hold) written as
/// `\r` and `\n`.
pub fn escape_header(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '|' => out.push_str("\\|"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            c => out.push(c),
        }
    }
    out
}

/// An extension value: `\` and `=` escaped, CR and LF written as `\r` and `\n`.
pub fn escape_value(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '=' => out.push_str("\\="),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            c => out.push(c),
        }
    }
    out
}

/// The inverse of [`escape_value`] (and of [`escape_header`] for a header field): what a
/// SIEM reads back.
pub fn unescape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('n') => out.push('\n'),
            Some('r') => out.push('\r'),
            Some(other) => out.push(other),
            None => out.push('\\'),
        }
    }
    out
}

/// One CEF event before rendering.
#[derive(Clone, Debug, PartialEq)]
pub struct Cef {
    pub signature_id: String,
    pub name: String,
    /// 0 (lowest) to 10.
    pub severity: u8,
    pub extension: Vec<(&'static str, String)>,
}

impl Cef {
    pub fn new(signature_id: impl Into<String>, name: impl Into<String>, severity: u8) -> Self {
        Cef {
            signature_id: signature_id.into(),
            name: name.into(),
            severity: severity.min(10),
            extension: Vec::new(),
        }
    }

    /// Adds `key=value`; `key` is one of CEF's alphanumeric keys.
    pub fn ext(mut self, key: &'static str, value: impl ToString) -> Self {
        debug_assert!(key.chars().all(|c| c.is_ascii_alphanumeric()));
        self.extension.push((key, value.to_string()));
        self
    }

    /// Adds `key=value` when there is a value.
    pub fn ext_opt(self, key: &'static str, value: Option<impl ToString>) -> Self {
        match value {
            Some(v) => self.ext(key, v),
            None => self,
        }
    }

    /// The event as one line, with this build's version in the header.
    pub fn render(&self) -> String {
        self.render_within(usize::MAX)
    }

    /// The event in at most `max` bytes where it can be: trailing extension pairs are
    /// left out whole until it fits (the header and the first pair always stay).
    pub fn render_within(&self, max: usize) -> String {
        let mut line = format!(
            "CEF:0|{}|{}|{}|{}|{}|{}|",
            escape_header(VENDOR),
            escape_header(PRODUCT),
            escape_header(env!("CARGO_PKG_VERSION")),
            escape_header(&self.signature_id),
            escape_header(&self.name),
            self.severity
        );
        for (n, (key, value)) in self.extension.iter().enumerate() {
            let pair = format!(
                "{}{key}={}",
                if n == 0 { "" } else { " " },
                escape_value(value)
            );
            if n > 0 && line.len() + pair.len() > max {
                break;
            }
            line.push_str(&pair);
        }
        line
    }
}

/// CEF severity of a risk level.
pub fn severity(risk: Risk) -> u8 {
    match risk {
        Risk::Benign => 0,
        Risk::Low => 3,
        Risk::Medium => 5,
        Risk::High => 8,
        Risk::Critical => 10,
    }
}

/// An incident as it was created (version 1) or changed, on CM `cm_name`.
pub fn incident(i: &Incident, cm_name: &str) -> Cef {
    let f = &i.facts;
    let signature = if i.version <= 1 {
        "incident-new"
    } else {
        "incident-update"
    };
    Cef::new(signature, f.threat_name.as_str(), severity(i.risk()))
        .ext("rt", f.last_activity.timestamp_millis())
        .ext("externalId", i.id.get())
        .ext("cs1Label", "CM Name")
        .ext("cs1", cm_name)
        .ext("cs2Label", "Status")
        .ext("cs2", i.status.as_str())
        .ext("cat", f.category.as_str())
        .ext("start", f.first_seen.timestamp_millis())
        .ext("dst", f.endpoint_ip)
        .ext_opt("dhost", f.endpoint_name.as_ref().map(|t| t.as_str()))
        .ext_opt("suser", f.endpoint_user.as_ref().map(|t| t.as_str()))
        .ext_opt("src", f.source_ip)
        .ext_opt("request", f.source_name.as_ref().map(|t| t.as_str()))
        .ext_opt("fileHash", f.file_sha256.as_ref().map(|h| h.as_str()))
        .ext("cnt", f.event_count)
        .ext("cn1Label", "Version")
        .ext("cn1", i.version)
        .ext("cs3Label", "Risk")
        .ext("cs3", i.risk().as_str())
        .ext("cs4Label", "Collector")
        .ext("cs4", f.collector_type.as_str())
        .ext_opt("cs5Label", f.endpoint_os.as_ref().map(|_| "Endpoint OS"))
        .ext_opt("cs5", f.endpoint_os.as_ref().map(|t| t.as_str()))
        .ext_opt(
            "cs6Label",
            f.source_country.as_ref().map(|_| "Source Country"),
        )
        .ext_opt("cs6", f.source_country.as_ref().map(|c| c.as_str()))
}

/// An audit-log entry: a login, an analyst's or an admin's action, on `host`.
pub fn audit(e: &AuditEntry, host: &str) -> Cef {
    let r = &e.record;
    let failed = r.action.contains("fail") || r.action.contains("refused");
    Cef::new(
        format!("audit-{}", r.action),
        r.action.as_str(),
        if failed { 5 } else { 3 },
    )
    .ext("rt", r.at.timestamp_millis())
    .ext("externalId", e.seq)
    .ext("cs1Label", "CM Name")
    .ext("cs1", host)
    .ext("suser", &r.actor)
    .ext("act", &r.action)
    .ext("duid", &r.target)
    .ext("msg", &r.detail)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_escapes_pipe_and_backslash_not_equals() {
        assert_eq!(escape_header(r"a|b\c=d"), r"a\|b\\c=d");
        assert_eq!(escape_header("x\ny\r"), r"x\ny\r");
    }

    #[test]
    fn values_escape_equals_backslash_and_newlines_not_pipe() {
        assert_eq!(escape_value(r"a=b\c|d"), r"a\=b\\c|d");
        assert_eq!(escape_value("l1\nl2\r"), r"l1\nl2\r");
    }

    #[test]
    fn escapes_round_trip() {
        for s in [r"x\=y", "a\nb", r"\\n", "plain", r"end\", "<script>|=\\"] {
            assert_eq!(unescape(&escape_value(s)), s);
            assert_eq!(unescape(&escape_header(s)), s);
        }
    }

    #[test]
    fn a_short_limit_drops_whole_pairs() {
        let cef = Cef::new("s", "n", 12)
            .ext("msg", "a=b")
            .ext("cs1", r"\\\\\\\\")
            .ext("cs2", "tail");
        let full = cef.render();
        assert!(
            full.ends_with(r"msg=a\=b cs1=\\\\\\\\\\\\\\\\ cs2=tail"),
            "{full}"
        );
        assert!(full.contains("|10|"), "severity is capped at 10: {full}");
        let cut = cef.render_within(full.len() - 1);
        assert!(cut.ends_with(r"cs1=\\\\\\\\\\\\\\\\"), "{cut}");
        let first_only = cef.render_within(10);
        assert!(first_only.ends_with(r"msg=a\=b"), "{first_only}");
    }
}
