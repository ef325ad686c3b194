//! Which occurrences of a proposed booking overlap what is already booked or held for the
//! same clinician, room or patient — every one of them, named, not only the first: a series
//! is refused with the list of its conflicting occurrences.

use std::collections::HashMap;

use crate::interval::Span;

/// What a booking occupies.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Resource {
    Clinician(String),
    Room(String),
    Patient(String),
}

/// An existing appointment or hold: its id, what it occupies, when.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Held {
    pub id: String,
    pub resources: Vec<Resource>,
    pub span: Span,
}

/// One occurrence (by its index in the proposal) against one existing booking.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Conflict {
    pub occurrence: usize,
    pub span: Span,
    pub resource: Resource,
    /// The id of the booking it overlaps.
    pub with: String,
}

/// What is booked, by resource, sorted by start, for answering overlap questions in
/// `O(log n + overlaps)`.
#[derive(Debug, Default)]
pub struct Booked {
    by_resource: HashMap<Resource, Timeline>,
}

#[derive(Debug, Default)]
struct Timeline {
    /// Sorted by start.
    spans: Vec<(Span, String)>,
    /// `reach[i]`: the latest end among `spans[..=i]`.
    reach: Vec<chrono::DateTime<chrono::Utc>>,
}

impl Booked {
    pub fn new(held: &[Held]) -> Self {
        let mut by_resource: HashMap<Resource, Timeline> = HashMap::new();
        for h in held {
            for r in &h.resources {
                by_resource
                    .entry(r.clone())
                    .or_default()
                    .spans
                    .push((h.span, h.id.clone()));
            }
        }
        for t in by_resource.values_mut() {
            t.spans.sort_by_key(|(s, _)| *s);
            let mut reach = Vec::with_capacity(t.spans.len());
            for (s, _) in &t.spans {
                let last = reach.last().copied().unwrap_or(s.end);
                reach.push(last.max(s.end));
            }
            t.reach = reach;
        }
        Self { by_resource }
    }

    /// The bookings of `resource` that overlap `span`.
    pub fn overlapping<'a>(&'a self, resource: &Resource, span: &Span) -> Vec<&'a str> {
        let Some(t) = self.by_resource.get(resource) else {
            return Vec::new();
        };
        // Only bookings starting before `span` ends can overlap it; walk back from there
        // while some earlier booking still reaches past `span`'s start.
        let mut i = t.spans.partition_point(|(s, _)| s.start < span.end);
        let mut found = Vec::new();
        while i > 0 && t.reach[i - 1] > span.start {
            i -= 1;
            let (s, id) = &t.spans[i];
            if s.overlaps(span) {
                found.push(id.as_str());
            }
        }
        found.reverse();
        found
    }

    /// Every conflict of the occurrences `proposed`, each occupying `resources`.
    pub fn conflicts(&self, resources: &[Resource], proposed: &[Span]) -> Vec<Conflict> {
        let mut out = Vec::new();
        for (occurrence, span) in proposed.iter().enumerate() {
            for resource in resources {
                for with in self.overlapping(resource, span) {
                    out.push(Conflict {
                        occurrence,
                        span: *span,
                        resource: resource.clone(),
                        with: with.to_owned(),
                    });
                }
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{DateTime, Duration, Utc};

    fn t(day: u32, hm: &str) -> DateTime<Utc> {
        format!("2026-12-{day:02}T{hm}:00Z").parse().unwrap()
    }

    fn span(day: u32, a: &str, b: &str) -> Span {
        Span::new(t(day, a), t(day, b)).unwrap()
    }

    fn kim() -> Resource {
        Resource::Clinician("kim".into())
    }

    fn room() -> Resource {
        Resource::Room("group-1".into())
    }

    fn ana() -> Resource {
        Resource::Patient("ana".into())
    }

    #[test]
    fn every_conflicting_occurrence_is_named_with_what_it_meets() {
        let booked = Booked::new(&[
            Held {
                id: "a1".into(),
                resources: vec![kim(), ana()],
                span: span(7, "17:00", "18:00"),
            },
            Held {
                id: "h1".into(),
                resources: vec![room()],
                span: span(14, "16:30", "17:10"),
            },
            Held {
                id: "a2".into(),
                resources: vec![kim()],
                span: span(21, "18:00", "19:00"),
            },
        ]);
        // Mondays 17:00-18:00 for four weeks, Kim in group room 1 with another patient.
        let proposed: Vec<Span> = (0..4).map(|w| span(7 + 7 * w, "17:00", "18:00")).collect();
        let got = booked.conflicts(&[kim(), room(), Resource::Patient("ben".into())], &proposed);
        let named: Vec<(usize, Resource, &str)> = got
            .iter()
            .map(|c| (c.occurrence, c.resource.clone(), c.with.as_str()))
            .collect();
        assert_eq!(named, [(0, kim(), "a1"), (1, room(), "h1")]);
        // Touching is not overlapping (occurrence 2 ends when a2 starts).
        assert!(got.iter().all(|c| c.occurrence != 2));
    }

    #[test]
    fn a_long_booking_earlier_still_counts() {
        // A day-long hold starting before a short one: the walk back must not stop at the
        // short one.
        let booked = Booked::new(&[
            Held {
                id: "long".into(),
                resources: vec![room()],
                span: span(7, "08:00", "20:00"),
            },
            Held {
                id: "short".into(),
                resources: vec![room()],
                span: span(7, "09:00", "09:30"),
            },
        ]);
        assert_eq!(
            booked.overlapping(&room(), &span(7, "15:00", "16:00")),
            ["long"]
        );
        assert_eq!(
            booked.overlapping(&room(), &span(7, "09:15", "09:20")),
            ["long", "short"]
        );
        assert!(
            booked
                .overlapping(&room(), &span(7, "20:00", "21:00"))
                .is_empty()
        );
        assert!(
            booked
                .overlapping(&kim(), &span(7, "09:00", "10:00"))
                .is_empty()
        );
    }

    #[test]
    fn agrees_with_a_plain_scan() {
        // A deterministic mix of lengths and starts, checked against the obvious O(n·m) scan.
        let held: Vec<Held> = (0..400u32)
            .map(|i| {
                let start = t(1, "00:00") + Duration::minutes(i64::from(i * 37 % 10_000));
                let len = Duration::minutes(i64::from(10 + i * 53 % 300));
                Held {
                    id: format!("b{i}"),
                    resources: vec![kim()],
                    span: Span::new(start, start + len).unwrap(),
                }
            })
            .collect();
        let booked = Booked::new(&held);
        for j in 0..200u32 {
            let start = t(1, "00:00") + Duration::minutes(i64::from(j * 71 % 10_000));
            let probe = Span::new(start, start + Duration::minutes(45)).unwrap();
            let mut fast: Vec<&str> = booked.overlapping(&kim(), &probe);
            let mut slow: Vec<&str> = held
                .iter()
                .filter(|h| h.span.overlaps(&probe))
                .map(|h| h.id.as_str())
                .collect();
            fast.sort_unstable();
            slow.sort_unstable();
            assert_eq!(fast, slow, "{probe:?}");
        }
    }
}
