//! Slot search: free times of a length for one clinician or any of several, optionally with
//! a room free too, inside a window — each clinician's working time less their bookings and
//! holds (and the room's) — earliest first, then by clinician, resumable after the last one
//! returned.

use chrono::Duration;

use crate::interval::{self, Span};

/// One clinician's working time and what they have booked or held, both within the window
/// (or beyond: both are cut to it).
#[derive(Debug, Clone)]
pub struct Clinician<'a> {
    pub id: &'a str,
    pub working: Vec<Span>,
    pub busy: Vec<Span>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Slot<'a> {
    pub span: Span,
    pub clinician: &'a str,
}

/// What to look for.
#[derive(Debug, Clone, Copy)]
pub struct Search<'b> {
    pub window: Span,
    pub length: Duration,
    /// Slots start on multiples of this (15 minutes: on the quarter hour).
    pub step: Duration,
    /// The room's bookings and holds, when a room is wanted.
    pub room_busy: Option<&'b [Span]>,
    /// Resume after this slot (a page token): the next page starts past it.
    pub after: Option<(chrono::DateTime<chrono::Utc>, &'b str)>,
    pub limit: usize,
}

/// The first `search.limit` free slots, earliest first, then by clinician id.
pub fn search<'a>(clinicians: &[Clinician<'a>], search: &Search<'_>) -> Vec<Slot<'a>> {
    let room = search
        .room_busy
        .map(|b| interval::union(b.to_vec()))
        .unwrap_or_default();
    let mut all: Vec<Slot<'a>> = Vec::new();
    for c in clinicians {
        let working: Vec<Span> = interval::union(
            c.working
                .iter()
                .filter_map(|s| {
                    Span::new(
                        s.start.max(search.window.start),
                        s.end.min(search.window.end),
                    )
                })
                .collect(),
        );
        let mut busy = c.busy.clone();
        busy.extend_from_slice(&room);
        let free = interval::subtract(&working, &interval::union(busy));
        // Each clinician's slots come out sorted; at most `limit` of them can make the page.
        all.extend(
            interval::slots(&free, search.length, search.step)
                .map(|span| Slot {
                    span,
                    clinician: c.id,
                })
                .filter(|s| match search.after {
                    Some((start, id)) => (s.span.start, s.clinician) > (start, id),
                    None => true,
                })
                .take(search.limit),
        );
    }
    all.sort_by(|a, b| (a.span.start, a.clinician).cmp(&(b.span.start, b.clinician)));
    all.truncate(search.limit);
    all
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{DateTime, Utc};

    fn t(hm: &str) -> DateTime<Utc> {
        format!("2026-12-07T{hm}:00Z").parse().unwrap()
    }

    fn span(a: &str, b: &str) -> Span {
        Span::new(t(a), t(b)).unwrap()
    }

    fn find<'a>(
        cs: &[Clinician<'a>],
        room: Option<&[Span]>,
        after: Option<(DateTime<Utc>, &str)>,
        limit: usize,
    ) -> Vec<(String, &'a str)> {
        let s = Search {
            window: span("00:00", "23:59"),
            length: Duration::minutes(50),
            step: Duration::minutes(30),
            room_busy: room,
            after,
            limit,
        };
        search(cs, &s)
            .into_iter()
            .map(|s| (s.span.start.format("%H:%M").to_string(), s.clinician))
            .collect()
    }

    #[test]
    fn earliest_first_across_clinicians_around_bookings_and_the_room() {
        let cs = [
            Clinician {
                id: "lee",
                working: vec![span("09:00", "12:00")],
                busy: vec![span("09:00", "10:00")],
            },
            Clinician {
                id: "kim",
                working: vec![span("09:30", "11:00")],
                busy: vec![],
            },
        ];
        assert_eq!(
            find(&cs, None, None, 10),
            [
                ("09:30".into(), "kim"),
                ("10:00".into(), "kim"),
                ("10:00".into(), "lee"),
                ("10:30".into(), "lee"),
                ("11:00".into(), "lee"),
            ]
        );
        // The room is taken 10:00-11:00: only slots clear of it remain.
        let room = [span("10:00", "11:00")];
        assert_eq!(find(&cs, Some(&room), None, 10), [("11:00".into(), "lee")]);
    }

    #[test]
    fn pages_resume_after_the_last_slot() {
        let cs = [
            Clinician {
                id: "lee",
                working: vec![span("09:00", "12:00")],
                busy: vec![],
            },
            Clinician {
                id: "kim",
                working: vec![span("09:00", "12:00")],
                busy: vec![],
            },
        ];
        let first = find(&cs, None, None, 3);
        assert_eq!(
            first,
            [
                ("09:00".into(), "kim"),
                ("09:00".into(), "lee"),
                ("09:30".into(), "kim")
            ]
        );
        let next = find(&cs, None, Some((t("09:30"), "kim")), 3);
        assert_eq!(
            next,
            [
                ("09:30".into(), "lee"),
                ("10:00".into(), "kim"),
                ("10:00".into(), "lee")
            ]
        );
    }
}
