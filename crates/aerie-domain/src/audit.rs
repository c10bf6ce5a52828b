//! The audit log: every state-changing action, append-only and tamper-evident. Each
//! entry's hash covers its own fields and the previous entry's hash, so changing,
//! removing or reordering any entry breaks every hash after it.

use chrono::{DateTime, Utc};
use sha2::{Digest, Sha256};

/// The `prev_hash` of the first entry.
pub const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// What happened, before it is chained.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct AuditRecord {
    pub at: DateTime<Utc>,
    /// Who: a user name, `USER@mcm` for an MCM user, `cli` for the appliance CLI.
    pub actor: String,
    /// What, e.g. `incident.status`, `mitigation.apply`, `user.create`.
    pub action: String,
    /// On what, e.g. `incident 42`.
    pub target: String,
    pub detail: String,
}

/// A chained entry.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct AuditEntry {
    pub seq: i64,
    pub record: AuditRecord,
    pub prev_hash: String,
    pub hash: String,
}

/// The hash of entry `seq` holding `r` after an entry hashed `prev`: SHA-256 over the
/// length-prefixed fields, hex.
pub fn chain_hash(prev: &str, seq: i64, r: &AuditRecord) -> String {
    let mut h = Sha256::new();
    let ms = r.at.timestamp_millis().to_string();
    let seq = seq.to_string();
    for field in [prev, &seq, &ms, &r.actor, &r.action, &r.target, &r.detail] {
        h.update((field.len() as u64).to_be_bytes());
        h.update(field.as_bytes());
    }
    h.finalize().iter().map(|b| format!("{b:02x}")).collect()
}

/// Where a chain stops holding.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct ChainBreak {
    pub seq: i64,
    pub reason: String,
}

/// Checks entries that continue a chain whose last entry was `prev_seq` hashed `prev_hash`
/// (0 and [`GENESIS`] at the start); returns the last (seq, hash) to continue from.
pub fn verify<'a>(
    entries: impl IntoIterator<Item = &'a AuditEntry>,
    prev_seq: i64,
    prev_hash: &str,
) -> Result<(i64, String), ChainBreak> {
    let (mut seq, mut hash) = (prev_seq, prev_hash.to_owned());
    for e in entries {
        let broken = |reason: &str| ChainBreak {
            seq: e.seq,
            reason: reason.to_owned(),
        };
        if e.seq != seq + 1 {
            return Err(ChainBreak {
                seq: seq + 1,
                reason: format!("entry {} is missing (next stored is {})", seq + 1, e.seq),
            });
        }
        if e.prev_hash != hash {
            return Err(broken(
                "its previous-hash does not match the entry before it",
            ));
        }
        if chain_hash(&e.prev_hash, e.seq, &e.record) != e.hash {
            return Err(broken("its contents do not match its hash"));
        }
        (seq, hash) = (e.seq, e.hash.clone());
    }
    Ok((seq, hash))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chain(n: i64) -> Vec<AuditEntry> {
        let mut prev = GENESIS.to_owned();
        (1..=n)
            .map(|seq| {
                let record = AuditRecord {
                    at: DateTime::from_timestamp_millis(seq * 1000).unwrap(),
                    actor: "alice".into(),
                    action: "incident.status".into(),
                    target: format!("incident {seq}"),
                    detail: "acknowledged".into(),
                };
                let hash = chain_hash(&prev, seq, &record);
                let e = AuditEntry {
                    seq,
                    record,
                    prev_hash: prev.clone(),
                    hash: hash.clone(),
                };
                prev = hash;
                e
            })
            .collect()
    }

    #[test]
    fn intact_chain_verifies_and_any_change_breaks_it() {
        let c = chain(5);
        assert_eq!(verify(&c, 0, GENESIS).unwrap().0, 5);
        // continues from a checkpoint
        assert!(verify(&c[2..], 2, &c[1].hash).is_ok());

        let mut edited = c.clone();
        edited[2].record.detail = "complete".into();
        assert_eq!(verify(&edited, 0, GENESIS).unwrap_err().seq, 3);

        let mut removed = c.clone();
        removed.remove(1);
        assert_eq!(verify(&removed, 0, GENESIS).unwrap_err().seq, 2);

        let mut rehashed = c.clone();
        rehashed[3].record.actor = "mallory".into();
        rehashed[3].hash = chain_hash(&rehashed[3].prev_hash, 4, &rehashed[3].record);
        let err = verify(&rehashed, 0, GENESIS).unwrap_err();
        assert_eq!(err.seq, 5, "a re-hashed entry breaks the link after it");
    }

    #[test]
    fn fields_cannot_bleed_into_each_other() {
        let mut a = chain(1).remove(0).record;
        let mut b = a.clone();
        a.actor = "ab".into();
        a.action = "c".into();
        b.actor = "a".into();
        b.action = "bc".into();
        assert_ne!(chain_hash(GENESIS, 1, &a), chain_hash(GENESIS, 1, &b));
    }
}
