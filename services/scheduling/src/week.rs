//! A patient's week: scheduled and completed minutes per ISO week (ISO 8601, weeks from
//! Monday) in the clinic's time zone, by kind of visit — what the group service's IOP hour
//! rules (9 hours a week for adults, 6 for adolescents at ASAM level 2.1) add group time to.

use std::collections::BTreeMap;

use chrono::Datelike;
use chrono_tz::Tz;

use crate::clock;
use crate::interval::Span;

/// An appointment that counts: booked, checked in or completed (not cancelled, not a no-show).
#[derive(Debug, Clone)]
pub struct Visit<'a> {
    pub kind: &'a str,
    pub span: Span,
    pub completed: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WeekMinutes<'a> {
    /// ISO week-numbering year and week (`2026-W50`).
    pub year: i32,
    pub week: u32,
    pub kind: &'a str,
    pub scheduled: i64,
    pub completed: i64,
}

/// Minutes per ISO week of each visit's local start in `tz`, by kind, in week then kind
/// order. Scheduled minutes include the completed ones.
pub fn minutes<'a>(tz: Tz, visits: &[Visit<'a>]) -> Vec<WeekMinutes<'a>> {
    let mut weeks: BTreeMap<(i32, u32, &'a str), (i64, i64)> = BTreeMap::new();
    for v in visits {
        let week = clock::local(tz, v.span.start).date().iso_week();
        let m = v.span.length().num_minutes();
        let entry = weeks.entry((week.year(), week.week(), v.kind)).or_default();
        entry.0 += m;
        if v.completed {
            entry.1 += m;
        }
    }
    weeks
        .into_iter()
        .map(|((year, week, kind), (scheduled, completed))| WeekMinutes {
            year,
            week,
            kind,
            scheduled,
            completed,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{DateTime, Utc};

    fn t(s: &str) -> DateTime<Utc> {
        s.parse().unwrap()
    }

    fn visit<'a>(kind: &'a str, a: &str, b: &str, completed: bool) -> Visit<'a> {
        Visit {
            kind,
            span: Span::new(t(a), t(b)).unwrap(),
            completed,
        }
    }

    #[test]
    fn weeks_are_local_and_iso() {
        let la = clock::zone("time_zone", "America/Los_Angeles").unwrap();
        let visits = [
            // Sunday 2026-12-13 19:00 PST is Monday 03:00Z: still week 50 locally.
            visit(
                "individual_therapy",
                "2026-12-14T03:00:00Z",
                "2026-12-14T03:50:00Z",
                true,
            ),
            visit(
                "individual_therapy",
                "2026-12-08T17:00:00Z",
                "2026-12-08T17:50:00Z",
                false,
            ),
            visit(
                "family_session",
                "2026-12-10T01:00:00Z",
                "2026-12-10T02:00:00Z",
                true,
            ),
            // Monday 2026-12-14 09:00 PST: week 51.
            visit(
                "individual_therapy",
                "2026-12-14T17:00:00Z",
                "2026-12-14T17:50:00Z",
                false,
            ),
        ];
        let got = minutes(la, &visits);
        let rows: Vec<(u32, &str, i64, i64)> = got
            .iter()
            .map(|w| (w.week, w.kind, w.scheduled, w.completed))
            .collect();
        assert_eq!(
            rows,
            [
                (50, "family_session", 60, 60),
                (50, "individual_therapy", 100, 50),
                (51, "individual_therapy", 50, 0),
            ]
        );
        assert!(got.iter().all(|w| w.year == 2026));
    }
}
