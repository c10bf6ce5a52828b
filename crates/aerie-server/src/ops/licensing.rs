//! Licensing: the signed license installed on this appliance, checked against the vendor
//! key this binary carries, the appliance's role and id, and the time. Without a valid
//! license everything keeps working except updates (the seed: an MCM "must be provisioned
//! with an MCM license in order to be upgraded").

use chrono::Utc;

use aerie_domain::appliance::ApplianceRole;
use aerie_license::{DeviceType, License, LicenseRefusal, VendorKey};

use crate::rights::Operator;
use crate::{audit, error::OpError, state::AppState};

/// The setting holding the installed license text.
const SETTING: &str = "license.text";

/// The vendor's Ed25519 public keys (base64 of the raw 32 bytes), newest first. The
/// private key is kept offline by the release manager, never in this repository.
const VENDOR_KEYS: &[&str] = &["/zpFXPl8/OriYmdcTKyeZ3D7RBqBzhY/9BVFkBth6es="];

/// The keys trusted for licenses and update indexes: the vendor's, or the test override.
pub fn trusted(state: &AppState) -> Vec<VendorKey> {
    match state.config.vendor_key_override {
        Some(key) => vec![key],
        None => VENDOR_KEYS
            .iter()
            .map(|k| k.parse().expect("the built-in vendor keys parse"))
            .collect(),
    }
}

fn device(role: ApplianceRole) -> DeviceType {
    match role {
        ApplianceRole::Cm => DeviceType::Cm,
        ApplianceRole::Mcm => DeviceType::Mcm,
    }
}

/// What this appliance is, for a license to name.
pub struct ThisAppliance {
    pub device: DeviceType,
    /// The stable id a license binds to.
    pub id: String,
    pub trusted: Vec<VendorKey>,
    /// The vendor key is overridden for tests.
    pub test_key: bool,
}

pub async fn this_appliance(state: &AppState) -> Result<ThisAppliance, OpError> {
    Ok(ThisAppliance {
        device: device(state.appliance.role().await?),
        id: crate::federation::cm::appliance_id(&state.federation).await?,
        trusted: trusted(state),
        test_key: state.config.vendor_key_override.is_some(),
    })
}

/// The installed license and whether it holds now.
pub enum Installed {
    None,
    Valid(License),
    /// Installed, but it does not hold (now): expired, or the appliance's role changed.
    Invalid {
        license: Option<License>,
        why: String,
    },
}

pub async fn installed(state: &AppState) -> Result<Installed, OpError> {
    let Some(text) = state.store.setting(SETTING).await? else {
        return Ok(Installed::None);
    };
    let this = this_appliance(state).await?;
    Ok(
        match aerie_license::check_license(&text, &this.trusted, this.device, &this.id, Utc::now())
        {
            Ok(license) => Installed::Valid(license),
            Err(why) => Installed::Invalid {
                license: aerie_license::verify(
                    &text,
                    aerie_license::license::LICENSE_KIND,
                    &this.trusted,
                )
                .ok(),
                why: why.to_string(),
            },
        },
    )
}

/// A valid license, or why updates are refused.
pub async fn for_updates(state: &AppState) -> Result<License, OpError> {
    let this = this_appliance(state).await?;
    let needs = match this.device {
        DeviceType::Mcm => "an MCM license",
        DeviceType::Cm => "a CM license",
    };
    match installed(state).await? {
        Installed::Valid(license) if !license.allows_updates(Utc::now()) => {
            Err(OpError::conflict(format!(
                "updates need {needs} with support: support ended on {}",
                license
                    .support_until
                    .map(|d| d.format("%Y-%m-%d").to_string())
                    .unwrap_or_default()
            )))
        }
        Installed::Valid(license) => Ok(license),
        Installed::None => Err(OpError::conflict(format!(
            "updates need {needs}: none is installed (Config › Licensing)"
        ))),
        Installed::Invalid { why, .. } => Err(OpError::conflict(format!(
            "updates need {needs}: the installed one does not hold — {why}"
        ))),
    }
}

/// Installs a license text after checking it fits this appliance now.
pub async fn install(state: &AppState, by: Operator<'_>, text: &str) -> Result<String, OpError> {
    let text = text.trim();
    if text.is_empty() {
        return Err(OpError::invalid("license", "paste the license text"));
    }
    let this = this_appliance(state).await?;
    let license =
        aerie_license::check_license(text, &this.trusted, this.device, &this.id, Utc::now())
            .map_err(|e| {
                OpError::invalid(
                    "license",
                    match e {
                        LicenseRefusal::Signature(_) => e.to_string(),
                        _ => format!("license refused: {e}"),
                    },
                )
            })?;
    state.store.set_setting(SETTING, text).await?;
    audit::record(
        state,
        by.name(),
        "license.install",
        "license",
        format!(
            "{} for {} ({}), until {}",
            license.id,
            license.customer,
            license.device,
            license.not_after.format("%Y-%m-%d")
        ),
    )
    .await?;
    Ok(format!(
        "License {} for {} installed: valid until {} ({} days).",
        license.id,
        license.customer,
        license.not_after.format("%Y-%m-%d"),
        license.days_left(Utc::now())
    ))
}
