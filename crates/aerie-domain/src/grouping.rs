//! Grouping a batch of events into incidents: which open incident takes each event, and
//! which new incidents the batch opens.

use std::{collections::HashMap, net::IpAddr};

use crate::{
    event::NewEvent,
    incident::{Incident, IncidentFacts},
    status::Status,
};

/// An incident a batch changed: one that existed (with its stored record) or a new one.
#[derive(Clone, Debug, PartialEq)]
pub struct Touched {
    pub existing: Option<Incident>,
    pub facts: IncidentFacts,
}

/// The outcome of grouping a batch.
#[derive(Clone, Debug, PartialEq)]
pub struct Grouping {
    /// Every incident the batch changed or opened, in order of first touch.
    pub touched: Vec<Touched>,
    /// For each event, in order: the index into `touched` and whether it opened it.
    pub placements: Vec<(usize, bool)>,
}

/// Groups `events` in order. Each joins the accepting incident of its endpoint with the
/// latest activity (see [`IncidentFacts::accepts`]) among `candidates` (the stored open
/// incidents near the batch) and the incidents opened earlier in the batch; otherwise it
/// opens a new incident.
pub fn group(candidates: Vec<Incident>, events: &[NewEvent]) -> Grouping {
    struct Slot {
        existing: Option<Incident>,
        facts: IncidentFacts,
        status: Status,
        touched_at: Option<usize>,
    }
    let mut slots: Vec<Slot> = Vec::with_capacity(candidates.len() + events.len());
    let mut by_endpoint: HashMap<IpAddr, Vec<usize>> = HashMap::new();
    for incident in candidates {
        by_endpoint
            .entry(incident.facts.endpoint_ip)
            .or_default()
            .push(slots.len());
        let (facts, status) = (incident.facts.clone(), incident.status);
        slots.push(Slot {
            existing: Some(incident),
            facts,
            status,
            touched_at: None,
        });
    }
    let mut touched_order = Vec::new();
    let mut event_slots = Vec::with_capacity(events.len());
    for e in events {
        let of_endpoint = by_endpoint.entry(e.endpoint.ip).or_default();
        let best = of_endpoint
            .iter()
            .copied()
            .filter(|&s| slots[s].facts.accepts(slots[s].status, e))
            .max_by_key(|&s| (slots[s].facts.last_activity, s));
        let (slot, opened) = match best {
            Some(s) => {
                slots[s].facts.absorb(e);
                (s, false)
            }
            None => {
                of_endpoint.push(slots.len());
                slots.push(Slot {
                    existing: None,
                    facts: IncidentFacts::open(e),
                    status: Status::New,
                    touched_at: None,
                });
                (slots.len() - 1, true)
            }
        };
        if slots[slot].touched_at.is_none() {
            slots[slot].touched_at = Some(touched_order.len());
            touched_order.push(slot);
        }
        event_slots.push((slot, opened));
    }
    let placements = event_slots
        .iter()
        .map(|&(s, opened)| (slots[s].touched_at.expect("touched"), opened))
        .collect();
    let mut touched: Vec<Option<Touched>> = Vec::with_capacity(touched_order.len());
    touched.resize_with(touched_order.len(), || None);
    for (i, slot) in slots.into_iter().enumerate() {
        if let Some(at) = slot.touched_at {
            debug_assert_eq!(touched_order[at], i);
            touched[at] = Some(Touched {
                existing: slot.existing,
                facts: slot.facts,
            });
        }
    }
    Grouping {
        touched: touched
            .into_iter()
            .map(|t| t.expect("every touched slot"))
            .collect(),
        placements,
    }
}

#[cfg(test)]
mod tests {
    use chrono::{DateTime, TimeDelta};

    use super::*;
    use crate::incident::IncidentId;

    fn ev(ip: &str, secs: i64) -> NewEvent {
        let t0 = DateTime::parse_from_rfc3339("2026-11-26T10:00:00Z")
            .unwrap()
            .to_utc();
        NewEvent::sample(ip.parse().unwrap(), t0 + TimeDelta::seconds(secs), 0.5)
    }

    fn stored(id: i64, e: &NewEvent, status: Status) -> Incident {
        Incident {
            id: IncidentId::new(id),
            facts: IncidentFacts::open(e),
            status,
            version: 1,
            change_seq: id,
        }
    }

    #[test]
    fn joins_stored_and_batch_incidents() {
        let old = stored(7, &ev("10.0.0.1", 0), Status::Acknowledged);
        let closed = stored(8, &ev("10.0.0.2", 0), Status::Complete);
        let events = [
            ev("10.0.0.1", 60),
            ev("10.0.0.2", 60),
            ev("10.0.0.2", 120),
            ev("10.0.0.1", 1000),
        ];
        let g = group(vec![old, closed], &events);
        assert_eq!(
            g.placements,
            vec![(0, false), (1, true), (1, false), (2, true)]
        );
        assert_eq!(g.touched.len(), 3, "the complete incident is untouched");
        assert_eq!(
            g.touched[0].existing.as_ref().unwrap().id,
            IncidentId::new(7)
        );
        assert_eq!(g.touched[0].facts.event_count, 2);
        assert!(g.touched[1].existing.is_none());
        assert_eq!(g.touched[1].facts.event_count, 2);
        assert_eq!(g.touched[2].facts.first_seen, events[3].time);
    }

    #[test]
    fn untouched_candidates_are_dropped() {
        let g = group(
            vec![stored(1, &ev("10.0.0.9", 0), Status::New)],
            &[ev("10.0.0.1", 0)],
        );
        assert_eq!(g.touched.len(), 1);
        assert!(g.touched[0].existing.is_none());
    }
}
