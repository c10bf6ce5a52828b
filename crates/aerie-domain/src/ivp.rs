//! The Infection Verification Package: a script an administrator runs on an endpoint to
//! check it for an incident's indicators. Indicator values are attacker-controlled; every
//! one reaches the script as a single-quoted literal ([`sh_quote`], [`ps_quote`]) and is
//! only ever passed as data to a fixed function, never spliced into code.

use std::collections::BTreeSet;

use crate::{event::Event, incident::IncidentId, indicator::CncHost};

/// What the script looks for.
#[derive(Clone, PartialEq, Eq, Debug, Default)]
pub struct Indicators {
    /// Files the malware wrote: path, and the SHA-256 the file must have to count (when
    /// the sensor took one).
    pub files: BTreeSet<(String, Option<String>)>,
    /// CnC servers: IP addresses and host names.
    pub cnc: BTreeSet<String>,
    /// Autostart entries: registry values (`HK…\Key\Value`) or files.
    pub persistence: BTreeSet<String>,
}

impl Indicators {
    pub fn of(events: &[Event]) -> Indicators {
        let mut out = Indicators::default();
        out.add(events);
        out
    }

    /// Adds the indicators of more events.
    pub fn add(&mut self, events: &[Event]) {
        let out = self;
        for b in events.iter().map(|e| &e.event.behaviour) {
            for f in &b.files {
                let sha = f.sha256.as_ref().map(|s| s.as_str().to_owned());
                out.files.insert((f.path.as_str().to_owned(), sha));
            }
            for c in &b.cnc {
                match CncHost::parse(c.as_str()) {
                    Some(CncHost::Ip(ip)) => out.cnc.insert(ip.to_string()),
                    Some(CncHost::Domain(d)) => out.cnc.insert(d),
                    None => false,
                };
            }
            for p in &b.persistence {
                out.persistence.insert(p.as_str().to_owned());
            }
        }
    }

    /// How many indicators there are of all kinds.
    pub fn len(&self) -> usize {
        self.files.len() + self.cnc.len() + self.persistence.len()
    }

    pub fn is_empty(&self) -> bool {
        self.files.is_empty() && self.cnc.is_empty() && self.persistence.is_empty()
    }
}

fn is_registry(entry: &str) -> bool {
    entry.to_ascii_uppercase().starts_with("HK")
}

/// `s` as one POSIX shell word: single quotes, with each `'` written as `'\''`.
pub fn sh_quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', r"'\''"))
}

/// `s` as a PowerShell verbatim string. PowerShell also closes single-quoted strings on
/// the typographic quotes U+2018–U+201B, so those are doubled too.
pub fn ps_quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('\'');
    for c in s.chars() {
        if matches!(c, '\'' | '\u{2018}' | '\u{2019}' | '\u{201A}' | '\u{201B}') {
            out.push(c);
        }
        out.push(c);
    }
    out.push('\'');
    out
}

const POSIX_PRELUDE: &str = r#"set -u
root=${IVP_ROOT:-}
found=0
say() { printf '%s\n' "$*"; }
hash_of() {
  if command -v sha256sum >/dev/null 2>&1; then sha256sum < "$1" | cut -d' ' -f1
  else shasum -a 256 < "$1" | cut -d' ' -f1; fi
}
check_file() {
  p="$root$1"
  if [ -f "$p" ]; then
    if [ -z "$2" ] || [ "$(hash_of "$p")" = "$2" ]; then
      say "INFECTED  file present: $1"; found=1
    else
      say "ok        file differs: $1"
    fi
  else
    say "ok        file absent: $1"
  fi
}
check_persistence() {
  if [ -e "$root$1" ]; then say "INFECTED  autostart entry: $1"; found=1
  else say "ok        no autostart entry: $1"; fi
}
connections() { ss -tnH 2>/dev/null || netstat -tn 2>/dev/null; }
check_cnc() {
  addrs=$1
  case $1 in *[!0-9a-fA-F.:]*) addrs=$(getent hosts "$1" 2>/dev/null | cut -d' ' -f1) ;; esac
  for a in $addrs; do
    if connections | grep -F -q -e " $a:" -e "[$a]:"; then
      say "INFECTED  connected to CnC: $1 ($a)"; found=1; return
    fi
  done
  say "ok        no connection to CnC: $1"
}
"#;

/// The POSIX shell IVP (Linux, macOS). Exit status 1 when infected, 0 when clean. Set
/// `IVP_ROOT` to check a mounted disk image instead of `/`.
pub fn posix_script(incident: IncidentId, ind: &Indicators) -> String {
    let mut s = format!(
        "#!/bin/sh\n# Aerie Infection Verification Package for incident {incident}.\n\
         # Checks this host for the incident's indicators; prints one line per check.\n\
         # Exit status: 0 clean, 1 infected. IVP_ROOT=/mnt/image checks a mounted image.\n"
    );
    s.push_str(POSIX_PRELUDE);
    for (path, sha) in &ind.files {
        let sha = sha.as_deref().unwrap_or("");
        s.push_str(&format!(
            "check_file {} {}\n",
            sh_quote(path),
            sh_quote(sha)
        ));
    }
    for p in ind.persistence.iter().filter(|p| !is_registry(p)) {
        s.push_str(&format!("check_persistence {}\n", sh_quote(p)));
    }
    for c in &ind.cnc {
        s.push_str(&format!("check_cnc {}\n", sh_quote(c)));
    }
    s.push_str(
        "if [ \"$found\" -eq 1 ]; then say 'RESULT: INFECTED'; exit 1; fi\n\
         say 'RESULT: CLEAN'\nexit 0\n",
    );
    s
}

const POWERSHELL_PRELUDE: &str = r#"$ErrorActionPreference = 'SilentlyContinue'
$script:found = $false
function Test-IvpFile([string]$Path, [string]$Sha256) {
  if (Test-Path -LiteralPath $Path -PathType Leaf) {
    $actual = (Get-FileHash -LiteralPath $Path -Algorithm SHA256).Hash.ToLowerInvariant()
    if (-not $Sha256 -or $actual -eq $Sha256) { Write-Output "INFECTED  file present: $Path"; $script:found = $true; return }
    Write-Output "ok        file differs: $Path"; return
  }
  Write-Output "ok        file absent: $Path"
}
function Test-IvpAutostart([string]$Entry) {
  $hit = $false
  if ($Entry -like 'HK*') {
    $key = 'Registry::' + $Entry.Substring(0, $Entry.LastIndexOf('\'))
    $name = $Entry.Substring($Entry.LastIndexOf('\') + 1)
    $hit = $null -ne (Get-ItemProperty -LiteralPath $key -Name $name)
  } else { $hit = Test-Path -LiteralPath $Entry }
  if ($hit) { Write-Output "INFECTED  autostart entry: $Entry"; $script:found = $true }
  else { Write-Output "ok        no autostart entry: $Entry" }
}
function Test-IvpCnc([string]$Server) {
  $addrs = @($Server)
  if (-not ($Server -as [ipaddress])) { $addrs = @(Resolve-DnsName -Name $Server | Where-Object { $_.IPAddress } | ForEach-Object { $_.IPAddress }) }
  $remote = @(Get-NetTCPConnection | ForEach-Object { $_.RemoteAddress })
  foreach ($a in $addrs) { if ($remote -contains $a) { Write-Output "INFECTED  connected to CnC: $Server ($a)"; $script:found = $true; return } }
  Write-Output "ok        no connection to CnC: $Server"
}
"#;

/// The PowerShell IVP (Windows). Exit status 1 when infected, 0 when clean.
pub fn powershell_script(incident: IncidentId, ind: &Indicators) -> String {
    let mut s = format!(
        "# Aerie Infection Verification Package for incident {incident}.\n\
         # Checks this host for the incident's indicators; prints one line per check.\n\
         # Exit status: 0 clean, 1 infected.\n"
    );
    s.push_str(POWERSHELL_PRELUDE);
    for (path, sha) in &ind.files {
        let sha = sha.as_deref().unwrap_or("");
        s.push_str(&format!(
            "Test-IvpFile {} {}\n",
            ps_quote(path),
            ps_quote(sha)
        ));
    }
    for p in &ind.persistence {
        s.push_str(&format!("Test-IvpAutostart {}\n", ps_quote(p)));
    }
    for c in &ind.cnc {
        s.push_str(&format!("Test-IvpCnc {}\n", ps_quote(c)));
    }
    s.push_str(
        "if ($script:found) { Write-Output 'RESULT: INFECTED'; exit 1 }\n\
         Write-Output 'RESULT: CLEAN'\nexit 0\n",
    );
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quoting() {
        assert_eq!(sh_quote("a'b"), r"'a'\''b'");
        assert_eq!(sh_quote("$(x)`y`"), "'$(x)`y`'");
        assert_eq!(ps_quote("a'b"), "'a''b'");
        assert_eq!(ps_quote("a\u{2019}b"), "'a\u{2019}\u{2019}b'");
    }

    /// Every PowerShell literal stays one string: after dropping doubled quotes, no
    /// single-quote character is left inside it.
    #[test]
    fn powershell_literals_never_close_early() {
        let quotes = ['\'', '\u{2018}', '\u{2019}', '\u{201A}', '\u{201B}'];
        for hostile in [
            "'; Remove-Item C:\\ -Recurse; '",
            "\u{2018}+(calc)+\u{2019}",
            "''''",
        ] {
            let q = ps_quote(hostile);
            let inner: Vec<char> = q[1..q.len() - 1].chars().collect();
            let mut i = 0;
            while i < inner.len() {
                if quotes.contains(&inner[i]) {
                    assert!(i + 1 < inner.len() && inner[i + 1] == inner[i], "{q}");
                    i += 2;
                } else {
                    i += 1;
                }
            }
        }
    }
}
