//! When a clinician works: weekly hours in the location's local time ("Mondays 9:00–17:00
//! America/Los_Angeles", the same wall-clock hours all year), plus exceptions — time off,
//! holidays, extra hours — as spans of time.

use chrono::{Datelike, NaiveDate, NaiveTime, Weekday};
use chrono_tz::Tz;
use iop_core::Error;
use iop_kit::violations::Violations;

use crate::clock;
use crate::interval::{self, Span};

/// Hours on one weekday, local time; `end` after `start` (no shift past midnight).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WeeklyHours {
    pub day: Weekday,
    pub start: NaiveTime,
    pub end: NaiveTime,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExceptionKind {
    /// Not working (leave, a holiday, training).
    TimeOff,
    /// Working beyond the weekly hours.
    Extra,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Exception {
    pub kind: ExceptionKind,
    pub span: Span,
}

/// At most this many weekly entries (two shifts a day, every day).
pub const MAX_WEEKLY_HOURS: usize = 14;

/// The rules of a week of hours, each violation under `field[i]`.
pub fn check(field: &str, hours: &[WeeklyHours]) -> Result<(), Error> {
    let mut v = Violations::new("");
    if hours.len() > MAX_WEEKLY_HOURS {
        v.push(
            field,
            &format!("must have at most {MAX_WEEKLY_HOURS} entries"),
        );
    }
    for (i, h) in hours.iter().enumerate() {
        if h.end <= h.start {
            v.push(&format!("{field}[{i}].end"), "must be after start");
        }
        let overlaps = hours[..i]
            .iter()
            .any(|o| o.day == h.day && o.start < h.end && h.start < o.end);
        if overlaps {
            v.push(&format!("{field}[{i}]"), "overlaps other hours that day");
        }
    }
    v.finish()
}

/// The time the clinician works on the local dates `from..=to`, as instants, sorted and
/// merged: weekly hours (each placed by [`clock`], so a DST change day keeps its wall-clock
/// hours), plus extra hours, less time off.
pub fn working(
    tz: Tz,
    hours: &[WeeklyHours],
    exceptions: &[Exception],
    from: NaiveDate,
    to: NaiveDate,
) -> Vec<Span> {
    let mut spans = Vec::new();
    for date in from.iter_days().take_while(|d| *d <= to) {
        for h in hours.iter().filter(|h| h.day == date.weekday()) {
            if let Some(s) = Span::new(clock::at(tz, date, h.start), clock::at(tz, date, h.end)) {
                spans.push(s);
            }
        }
    }
    let window = Span::new(
        clock::at(tz, from, NaiveTime::MIN),
        clock::at(tz, to.succ_opt().unwrap_or(to), NaiveTime::MIN),
    );
    let clip = |s: &Span| window.and_then(|w| Span::new(s.start.max(w.start), s.end.min(w.end)));
    spans.extend(
        exceptions
            .iter()
            .filter(|e| e.kind == ExceptionKind::Extra)
            .filter_map(|e| clip(&e.span)),
    );
    let off = interval::union(
        exceptions
            .iter()
            .filter(|e| e.kind == ExceptionKind::TimeOff)
            .map(|e| e.span)
            .collect(),
    );
    interval::subtract(&interval::union(spans), &off)
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{DateTime, Duration, Utc};

    fn la() -> Tz {
        clock::zone("time_zone", "America/Los_Angeles").unwrap()
    }

    fn t(s: &str) -> DateTime<Utc> {
        s.parse().unwrap()
    }

    fn d(s: &str) -> NaiveDate {
        s.parse().unwrap()
    }

    fn hm(s: &str) -> NaiveTime {
        NaiveTime::parse_from_str(s, "%H:%M").unwrap()
    }

    fn hours(day: Weekday, a: &str, b: &str) -> WeeklyHours {
        WeeklyHours {
            day,
            start: hm(a),
            end: hm(b),
        }
    }

    #[test]
    fn mondays_nine_to_five_stay_local_across_both_changes() {
        let week = [hours(Weekday::Mon, "09:00", "17:00")];
        let spring = working(la(), &week, &[], d("2026-03-02"), d("2026-03-09"));
        assert_eq!(
            spring,
            [
                Span::new(t("2026-03-02T17:00:00Z"), t("2026-03-03T01:00:00Z")).unwrap(),
                Span::new(t("2026-03-09T16:00:00Z"), t("2026-03-10T00:00:00Z")).unwrap(),
            ]
        );
        let fall = working(la(), &week, &[], d("2026-10-26"), d("2026-11-02"));
        assert_eq!(fall[0].start, t("2026-10-26T16:00:00Z"));
        assert_eq!(fall[1].start, t("2026-11-02T17:00:00Z"));
        assert!(fall.iter().all(|s| s.length() == Duration::hours(8)));
    }

    #[test]
    fn change_days_are_as_long_as_the_clock_says() {
        // Sunday 01:00-04:00 local: 2 real hours when the clock springs forward, 4 when it
        // falls back.
        let week = [hours(Weekday::Sun, "01:00", "04:00")];
        let spring = working(la(), &week, &[], d("2026-03-08"), d("2026-03-08"));
        assert_eq!(spring[0].length(), Duration::hours(2));
        let fall = working(la(), &week, &[], d("2026-11-01"), d("2026-11-01"));
        assert_eq!(fall[0].length(), Duration::hours(4));
        // Hours wholly inside the skipped hour move forward with it (see `clock`), and hours
        // from the start of the skipped hour to its end are none.
        let gap = [hours(Weekday::Sun, "02:00", "02:45")];
        assert_eq!(
            working(la(), &gap, &[], d("2026-03-08"), d("2026-03-08")),
            [Span::new(t("2026-03-08T10:00:00Z"), t("2026-03-08T10:45:00Z")).unwrap()]
        );
        let whole = [hours(Weekday::Sun, "02:00", "03:00")];
        assert!(working(la(), &whole, &[], d("2026-03-08"), d("2026-03-08")).is_empty());
    }

    #[test]
    fn time_off_and_extra_hours_apply() {
        let week = [
            hours(Weekday::Mon, "09:00", "17:00"),
            hours(Weekday::Tue, "09:00", "12:00"),
        ];
        let exceptions = [
            // Monday afternoon off (13:00-17:00 PST = 21:00-01:00Z).
            Exception {
                kind: ExceptionKind::TimeOff,
                span: Span::new(t("2026-12-07T21:00:00Z"), t("2026-12-08T01:00:00Z")).unwrap(),
            },
            // Tuesday evening group 18:00-20:00 PST.
            Exception {
                kind: ExceptionKind::Extra,
                span: Span::new(t("2026-12-09T02:00:00Z"), t("2026-12-09T04:00:00Z")).unwrap(),
            },
        ];
        let got = working(la(), &week, &exceptions, d("2026-12-07"), d("2026-12-08"));
        assert_eq!(
            got,
            [
                Span::new(t("2026-12-07T17:00:00Z"), t("2026-12-07T21:00:00Z")).unwrap(),
                Span::new(t("2026-12-08T17:00:00Z"), t("2026-12-08T20:00:00Z")).unwrap(),
                Span::new(t("2026-12-09T02:00:00Z"), t("2026-12-09T04:00:00Z")).unwrap(),
            ]
        );
    }

    #[test]
    fn a_week_of_hours_is_checked() {
        let bad = [
            hours(Weekday::Mon, "09:00", "08:00"),
            hours(Weekday::Tue, "09:00", "12:00"),
            hours(Weekday::Tue, "11:00", "13:00"),
        ];
        let err = check("hours", &bad).unwrap_err().to_string();
        assert!(
            err.contains("hours[0].end") && err.contains("hours[2]"),
            "{err}"
        );
        assert!(check("hours", &bad[1..2]).is_ok());
    }
}
