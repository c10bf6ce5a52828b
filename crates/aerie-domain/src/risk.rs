//! Severity (a sensor's score) and the risk level derived from it.

use crate::DomainError;

/// A detection's severity: 0.0 (harmless) to 1.0 (certain and severe).
#[derive(Clone, Copy, PartialEq, PartialOrd, Debug, Default)]
pub struct Severity(f64);

impl Severity {
    pub const BENIGN: Severity = Severity(0.0);

    pub fn parse(field: &str, value: f64) -> Result<Self, DomainError> {
        if !(0.0..=1.0).contains(&value) {
            return Err(DomainError::new(field, "must be a number from 0.0 to 1.0"));
        }
        Ok(Self(value))
    }

    pub fn value(self) -> f64 {
        self.0
    }

    pub fn risk(self) -> Risk {
        match self.0 {
            s if s >= 0.75 => Risk::Critical,
            s if s >= 0.5 => Risk::High,
            s if s >= 0.25 => Risk::Medium,
            s if s > 0.0 => Risk::Low,
            _ => Risk::Benign,
        }
    }

    pub fn max(self, other: Severity) -> Severity {
        if other.0 > self.0 { other } else { self }
    }
}

crate::string_enum! {
    /// The risk level shown to analysts. Benign incidents never leave their CM.
    pub enum Risk {
        Benign = "benign",
        Low = "low",
        Medium = "medium",
        High = "high",
        Critical = "critical",
    }
}

impl Risk {
    /// 0 (benign) to 4 (critical); what the store sorts by.
    pub fn rank(self) -> i64 {
        self as i64
    }

    pub fn from_rank(rank: i64) -> Option<Risk> {
        Self::ALL.iter().copied().find(|r| r.rank() == rank)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn risk_bands() {
        let r = |s| Severity::parse("s", s).unwrap().risk();
        assert_eq!(r(0.0), Risk::Benign);
        assert_eq!(r(0.01), Risk::Low);
        assert_eq!(r(0.25), Risk::Medium);
        assert_eq!(r(0.5), Risk::High);
        assert_eq!(r(0.75), Risk::Critical);
        assert_eq!(r(1.0), Risk::Critical);
        assert!(Severity::parse("s", 1.01).is_err());
        assert!(Severity::parse("s", f64::NAN).is_err());
    }

    #[test]
    fn rank_round_trips() {
        for &r in Risk::ALL {
            assert_eq!(Risk::from_rank(r.rank()), Some(r));
            assert_eq!(r.as_str().parse::<Risk>(), Ok(r));
        }
    }
}
