//! Vendor licenses: which customer may run which appliance, for how long, with what.

use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::signed::{self, SignedError, VendorKey};

/// The kind string of a signed license document.
pub const LICENSE_KIND: &str = "license";

/// The two appliance roles a license (or an update bundle) can be for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DeviceType {
    /// A Central Manager (JATP "Core/CM").
    Cm,
    /// A Manager of Central Managers.
    Mcm,
}

impl DeviceType {
    fn with_article(self) -> &'static str {
        match self {
            DeviceType::Cm => "a CM",
            DeviceType::Mcm => "an MCM",
        }
    }
}

impl fmt::Display for DeviceType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            DeviceType::Cm => "CM",
            DeviceType::Mcm => "MCM",
        })
    }
}

impl FromStr for DeviceType {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_lowercase().as_str() {
            "cm" => Ok(DeviceType::Cm),
            "mcm" => Ok(DeviceType::Mcm),
            _ => Err(format!("{s:?} is not a device type: expected cm or mcm")),
        }
    }
}

/// A license as the vendor signed it. Unknown fields are ignored, so a newer vendor tool can
/// add fields without breaking older appliances.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct License {
    /// The vendor's license id.
    pub id: String,
    /// The licensed customer, as shown to operators.
    pub customer: String,
    /// The appliance role this license is for.
    pub device: DeviceType,
    /// The id of the one appliance this license is bound to.
    pub appliance_id: String,
    /// Feature names the license enables.
    #[serde(default)]
    pub features: Vec<String>,
    /// Valid from this instant on.
    pub not_before: DateTime<Utc>,
    /// Valid until this instant (exclusive).
    pub not_after: DateTime<Utc>,
    /// End of support (updates); `None` means support runs as long as the license.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub support_until: Option<DateTime<Utc>>,
    /// How many CMs an MCM may manage; `None` means no limit.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_cms: Option<u32>,
}

impl License {
    /// Whether the license is in force at `now`.
    pub fn is_valid_at(&self, now: DateTime<Utc>) -> bool {
        self.not_before <= now && now < self.not_after
    }

    /// Whether the appliance may install updates at `now`: the license is in force and
    /// support, if it ends separately, has not ended.
    pub fn allows_updates(&self, now: DateTime<Utc>) -> bool {
        self.is_valid_at(now) && self.support_until.is_none_or(|end| now < end)
    }

    /// Whole days until the license expires, 0 once it has.
    pub fn days_left(&self, now: DateTime<Utc>) -> i64 {
        (self.not_after - now).num_days().max(0)
    }

    /// Whether `feature` is among the licensed features.
    pub fn has_feature(&self, feature: &str) -> bool {
        self.features.iter().any(|f| f == feature)
    }

    /// Checks the fields a signature cannot vouch for making sense.
    pub fn validate(&self) -> Result<(), LicenseRefusal> {
        let invalid = |why: &str| Err(LicenseRefusal::Invalid(why.into()));
        if self.id.trim().is_empty() {
            return invalid("the license id is empty");
        }
        if self.customer.trim().is_empty() {
            return invalid("the customer name is empty");
        }
        if self.appliance_id.trim().is_empty() {
            return invalid("the appliance id is empty");
        }
        if self.not_after <= self.not_before {
            return invalid("it ends before it starts (not_after <= not_before)");
        }
        if self.features.iter().any(|f| f.trim().is_empty()) {
            return invalid("a feature name is empty");
        }
        if self.max_cms == Some(0) {
            return invalid("max_cms is 0");
        }
        Ok(())
    }
}

/// Why a license was not accepted.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum LicenseRefusal {
    /// The envelope or its signature is bad.
    #[error("license refused: {0}")]
    Signature(#[from] SignedError),
    /// Past `not_after`.
    #[error("the license expired on {}: ask the vendor for a renewed license", not_after.format("%Y-%m-%d"))]
    Expired { not_after: DateTime<Utc> },
    /// Before `not_before`.
    #[error(
        "the license is valid only from {}: check this appliance's clock, or load it then",
        not_before.format("%Y-%m-%d %H:%M UTC")
    )]
    NotYetValid { not_before: DateTime<Utc> },
    /// Issued for the other appliance role.
    #[error("this license is for {}; this appliance is {}", licensed.with_article(), this.with_article())]
    WrongDevice {
        licensed: DeviceType,
        this: DeviceType,
    },
    /// Bound to another appliance.
    #[error("this license is bound to appliance {licensed}; this appliance's id is {this}")]
    WrongAppliance { licensed: String, this: String },
    /// Signed, but its fields make no sense.
    #[error("the license is invalid: {0}")]
    Invalid(String),
}

/// Verifies a pasted license text and checks that it fits this appliance at `now`.
pub fn check_license(
    text: &str,
    trusted: &[VendorKey],
    this_device: DeviceType,
    this_appliance: &str,
    now: DateTime<Utc>,
) -> Result<License, LicenseRefusal> {
    let license: License = signed::verify(text, LICENSE_KIND, trusted)?;
    license.validate()?;
    if license.device != this_device {
        return Err(LicenseRefusal::WrongDevice {
            licensed: license.device,
            this: this_device,
        });
    }
    if !license
        .appliance_id
        .trim()
        .eq_ignore_ascii_case(this_appliance.trim())
    {
        return Err(LicenseRefusal::WrongAppliance {
            licensed: license.appliance_id,
            this: this_appliance.into(),
        });
    }
    if now < license.not_before {
        return Err(LicenseRefusal::NotYetValid {
            not_before: license.not_before,
        });
    }
    if now >= license.not_after {
        return Err(LicenseRefusal::Expired {
            not_after: license.not_after,
        });
    }
    Ok(license)
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn sample() -> License {
        License {
            id: "L-1".into(),
            customer: "Acme".into(),
            device: DeviceType::Mcm,
            appliance_id: "abc".into(),
            features: vec!["gss".into()],
            not_before: Utc.with_ymd_and_hms(2025, 1, 1, 0, 0, 0).unwrap(),
            not_after: Utc.with_ymd_and_hms(2026, 1, 31, 0, 0, 0).unwrap(),
            support_until: None,
            max_cms: Some(10),
        }
    }

    #[test]
    fn messages_read_well() {
        let e = LicenseRefusal::WrongDevice {
            licensed: DeviceType::Mcm,
            this: DeviceType::Cm,
        };
        assert_eq!(
            e.to_string(),
            "this license is for an MCM; this appliance is a CM"
        );
        let e = LicenseRefusal::Expired {
            not_after: sample().not_after,
        };
        assert!(
            e.to_string()
                .starts_with("the license expired on 2026-01-31"),
            "{e}"
        );
    }

    #[test]
    fn days_left_and_support() {
        let mut l = sample();
        let now = Utc.with_ymd_and_hms(2026, 1, 21, 0, 0, 0).unwrap();
        assert_eq!(l.days_left(now), 10);
        assert_eq!(l.days_left(l.not_after + chrono::Duration::days(3)), 0);
        assert!(l.allows_updates(now));
        l.support_until = Some(now - chrono::Duration::days(1));
        assert!(!l.allows_updates(now));
        assert!(!sample().allows_updates(sample().not_after));
    }

    #[test]
    fn validate_catches_nonsense() {
        let mut l = sample();
        l.not_after = l.not_before;
        assert!(matches!(l.validate(), Err(LicenseRefusal::Invalid(_))));
        let mut l = sample();
        l.customer = " ".into();
        assert!(matches!(l.validate(), Err(LicenseRefusal::Invalid(_))));
        let mut l = sample();
        l.id.clear();
        assert!(matches!(l.validate(), Err(LicenseRefusal::Invalid(_))));
        assert!(sample().validate().is_ok());
    }

    #[test]
    fn device_type_text() {
        assert_eq!(serde_json::to_string(&DeviceType::Mcm).unwrap(), "\"mcm\"");
        assert_eq!("CM".parse::<DeviceType>().unwrap(), DeviceType::Cm);
        assert!("core".parse::<DeviceType>().is_err());
    }
}
