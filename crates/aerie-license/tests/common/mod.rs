#![allow(dead_code)]

use aerie_license::{BundleEntry, BundleKind, DeviceType, Index, License, Version};
use chrono::{DateTime, TimeZone, Utc};

pub fn at(y: i32, m: u32, d: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(y, m, d, 12, 0, 0).unwrap()
}

pub fn license() -> License {
    License {
        id: "LIC-0001".into(),
        customer: "Acme Corp".into(),
        device: DeviceType::Mcm,
        appliance_id: "0f8e2c1a-mcm-1".into(),
        features: vec!["gss".into()],
        not_before: at(2025, 2, 1),
        not_after: at(2026, 1, 31),
        support_until: None,
        max_cms: Some(25),
    }
}

pub fn v(s: &str) -> Version {
    s.parse().unwrap()
}

pub fn entry(version: &str, kind: BundleKind, file: &str) -> BundleEntry {
    BundleEntry {
        version: v(version),
        kind,
        min_from_version: None,
        file: file.into(),
        sha256: "0".repeat(64),
        size: 0,
        released_at: at(2025, 6, 1),
        device: None,
    }
}

pub fn index(bundles: Vec<BundleEntry>) -> Index {
    Index {
        product: "aerie".into(),
        issued_at: at(2025, 6, 1),
        expires_at: at(2025, 7, 1),
        bundles,
    }
}
