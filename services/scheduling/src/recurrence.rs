//! Recurring series: the RFC 5545 RRULE subset a clinic needs — weekly on chosen days, every
//! `INTERVAL` weeks, ending after `COUNT` occurrences or on an `UNTIL` date (§3.3.10,
//! §3.8.5.3) — expanded by the `rrule` crate in the location's local time, each occurrence
//! then placed in time by [`crate::clock`] (so 18:00 stays 18:00 local across a change).

use chrono::{DateTime, Duration, NaiveDate, NaiveDateTime, TimeZone, Weekday};
use chrono_tz::Tz;
use iop_core::Error;
use rrule::{Frequency, NWeekday, RRule, Unvalidated};

use crate::clock;
use crate::interval::Span;

/// The most occurrences a series may have: a year of five sessions a week. Each one is
/// conflict-checked when the series is booked.
pub const MAX_OCCURRENCES: usize = 260;

/// A weekly series.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Weekly {
    /// Every `interval` weeks (1-52).
    pub interval: u16,
    /// On these days, Monday first.
    pub days: Vec<Weekday>,
    pub end: End,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum End {
    /// After this many occurrences.
    Count(u32),
    /// On this local date, inclusive.
    Until(NaiveDate),
}

impl Weekly {
    /// Reads an RRULE (with or without its `RRULE:` name). `UNTIL` may be a date or a UTC
    /// time (RFC 5545: UTC when the start has a zone); a time is read as its local date in
    /// `tz`. Anything beyond the subset is refused with the part named under `field`.
    pub fn parse(field: &str, text: &str, tz: Tz) -> Result<Self, Error> {
        let text = text.trim();
        let text = text.strip_prefix("RRULE:").unwrap_or(text);
        let rule: RRule<Unvalidated> = text
            .parse()
            .map_err(|e| Error::field(field, format!("is not an RRULE ({e})")))?;
        let unsupported = |part: &str| {
            Error::field(
                field,
                format!(
                    "{part} is not supported: a series is FREQ=WEEKLY with BYDAY, INTERVAL and COUNT or UNTIL"
                ),
            )
        };
        if rule.get_freq() != Frequency::Weekly {
            return Err(unsupported("a frequency other than WEEKLY"));
        }
        for (part, used) in [
            ("BYSETPOS", !rule.get_by_set_pos().is_empty()),
            ("BYMONTH", !rule.get_by_month().is_empty()),
            ("BYMONTHDAY", !rule.get_by_month_day().is_empty()),
            ("BYYEARDAY", !rule.get_by_year_day().is_empty()),
            ("BYWEEKNO", !rule.get_by_week_no().is_empty()),
            ("BYHOUR", !rule.get_by_hour().is_empty()),
            ("BYMINUTE", !rule.get_by_minute().is_empty()),
            ("BYSECOND", !rule.get_by_second().is_empty()),
        ] {
            if used {
                return Err(unsupported(part));
            }
        }
        let mut days = Vec::new();
        for d in rule.get_by_weekday() {
            match d {
                NWeekday::Every(day) if !days.contains(day) => days.push(*day),
                NWeekday::Every(_) => {}
                NWeekday::Nth(..) => return Err(unsupported("a numbered BYDAY (e.g. 1MO)")),
            }
        }
        days.sort_by_key(Weekday::num_days_from_monday);
        let end = match (rule.get_count(), rule.get_until()) {
            (Some(n), None) => End::Count(n),
            (None, Some(until)) => {
                let date = if until.timezone().name() == "UTC" {
                    clock::local(tz, until.with_timezone(&chrono::Utc)).date()
                } else {
                    until.date_naive()
                };
                End::Until(date)
            }
            _ => {
                return Err(Error::field(field, "needs COUNT or UNTIL: a series ends"));
            }
        };
        let weekly = Self {
            interval: rule.get_interval(),
            days,
            end,
        };
        weekly.check(field)?;
        Ok(weekly)
    }

    fn check(&self, field: &str) -> Result<(), Error> {
        if !(1..=52).contains(&self.interval) {
            return Err(Error::field(field, "INTERVAL must be 1 to 52 weeks"));
        }
        if let End::Count(n) = self.end
            && (n == 0 || n as usize > MAX_OCCURRENCES)
        {
            return Err(Error::field(
                field,
                format!("COUNT must be 1 to {MAX_OCCURRENCES}"),
            ));
        }
        Ok(())
    }

    /// The rule as RFC 5545 text, e.g. `FREQ=WEEKLY;INTERVAL=1;BYDAY=MO,WE;COUNT=12`: how it
    /// is stored and published in calendar feeds (with the start's `DTSTART;TZID=…`).
    pub fn to_rrule(&self) -> String {
        let days: Vec<&str> = self
            .days
            .iter()
            .map(|d| match d {
                Weekday::Mon => "MO",
                Weekday::Tue => "TU",
                Weekday::Wed => "WE",
                Weekday::Thu => "TH",
                Weekday::Fri => "FR",
                Weekday::Sat => "SA",
                Weekday::Sun => "SU",
            })
            .collect();
        let mut text = format!("FREQ=WEEKLY;INTERVAL={}", self.interval);
        if !days.is_empty() {
            text.push_str(&format!(";BYDAY={}", days.join(",")));
        }
        match self.end {
            End::Count(n) => text.push_str(&format!(";COUNT={n}")),
            End::Until(d) => text.push_str(&format!(";UNTIL={}", d.format("%Y%m%d"))),
        }
        text
    }

    /// Every occurrence of a series whose first one starts at `first` (local time in `tz`,
    /// on one of the series' days) and lasts `length`, earliest first. Refused when the first
    /// start is not on one of its days, or there would be more than [`MAX_OCCURRENCES`].
    pub fn occurrences(
        &self,
        field: &str,
        tz: Tz,
        first: NaiveDateTime,
        length: Duration,
    ) -> Result<Vec<Span>, Error> {
        use chrono::Datelike;
        if !self.days.is_empty() && !self.days.contains(&first.weekday()) {
            return Err(Error::field(
                field,
                format!(
                    "the first occurrence falls on a {}, not one of the series' days",
                    first.weekday()
                ),
            ));
        }
        // Expanded as floating local time (RFC 5545 §3.3.5 form 1), placed in the zone after.
        let floating = rrule::Tz::UTC;
        let mut rule = RRule::new(Frequency::Weekly)
            .interval(self.interval)
            .by_weekday(self.days.iter().map(|d| NWeekday::Every(*d)).collect());
        rule = match self.end {
            End::Count(n) => rule.count(n),
            End::Until(d) => {
                let last = d.and_hms_opt(23, 59, 59).unwrap_or(first);
                rule.until(floating.from_utc_datetime(&last))
            }
        };
        let start = floating.from_utc_datetime(&first);
        let set = rule
            .build(start)
            .map_err(|e| Error::field(field, format!("is not a valid series ({e})")))?;
        let limit = u16::try_from(MAX_OCCURRENCES + 1).unwrap_or(u16::MAX);
        let dates = set.all(limit).dates;
        if dates.len() > MAX_OCCURRENCES {
            return Err(Error::field(
                field,
                format!("has more than {MAX_OCCURRENCES} occurrences; end it sooner"),
            ));
        }
        Ok(dates
            .into_iter()
            .filter_map(|d: DateTime<rrule::Tz>| {
                let local_start = d.naive_utc();
                let start = clock::instant(tz, local_start);
                let end = clock::instant(tz, local_start + length);
                Span::new(start, end)
            })
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn la() -> Tz {
        clock::zone("time_zone", "America/Los_Angeles").unwrap()
    }

    fn local(s: &str) -> NaiveDateTime {
        s.parse().unwrap()
    }

    fn utc(s: &str) -> DateTime<chrono::Utc> {
        s.parse().unwrap()
    }

    #[test]
    fn parses_the_subset_and_writes_it_back() {
        let w = Weekly::parse("rule", "RRULE:FREQ=WEEKLY;BYDAY=TH,MO,WE;COUNT=12", la()).unwrap();
        assert_eq!(w.days, [Weekday::Mon, Weekday::Wed, Weekday::Thu]);
        assert_eq!(w.end, End::Count(12));
        assert_eq!(w.interval, 1);
        assert_eq!(
            w.to_rrule(),
            "FREQ=WEEKLY;INTERVAL=1;BYDAY=MO,WE,TH;COUNT=12"
        );
        assert_eq!(Weekly::parse("rule", &w.to_rrule(), la()).unwrap(), w);
        // A UTC UNTIL is read as its local date: 2027-01-01T05:00Z is Dec 31 in LA.
        let w = Weekly::parse(
            "rule",
            "FREQ=WEEKLY;INTERVAL=2;BYDAY=TU;UNTIL=20270101T050000Z",
            la(),
        )
        .unwrap();
        assert_eq!(
            w.end,
            End::Until(NaiveDate::from_ymd_opt(2026, 12, 31).unwrap())
        );
    }

    #[test]
    fn refuses_what_a_clinic_series_is_not() {
        for (rule, says) in [
            ("FREQ=DAILY;COUNT=3", "WEEKLY"),
            ("FREQ=WEEKLY;BYDAY=MO", "COUNT or UNTIL"),
            ("FREQ=WEEKLY;BYDAY=1MO;COUNT=3", "numbered"),
            ("FREQ=WEEKLY;BYMONTH=1;COUNT=3", "BYMONTH"),
            ("FREQ=WEEKLY;COUNT=1000", "COUNT must be"),
            ("FREQ=WEEKLY;INTERVAL=60;COUNT=3", "INTERVAL"),
            ("every monday", "is not an RRULE"),
        ] {
            let err = Weekly::parse("series.rule", rule, la())
                .unwrap_err()
                .to_string();
            assert!(
                err.starts_with("series.rule:") && err.contains(says),
                "{rule}: {err}"
            );
        }
    }

    #[test]
    fn evening_group_stays_at_six_local_across_the_fall_change() {
        // Mon/Wed 18:00-21:00 from Wed 2026-10-28: PDT until Nov 1, PST after.
        let w = Weekly::parse("rule", "FREQ=WEEKLY;BYDAY=MO,WE;COUNT=4", la()).unwrap();
        let got = w
            .occurrences(
                "rule",
                la(),
                local("2026-10-28T18:00:00"),
                Duration::hours(3),
            )
            .unwrap();
        let starts: Vec<_> = got.iter().map(|s| s.start).collect();
        assert_eq!(
            starts,
            [
                utc("2026-10-29T01:00:00Z"), // Wed 18:00 PDT
                utc("2026-11-03T02:00:00Z"), // Mon 18:00 PST
                utc("2026-11-05T02:00:00Z"),
                utc("2026-11-10T02:00:00Z"),
            ]
        );
        assert!(got.iter().all(|s| s.length() == Duration::hours(3)));
    }

    #[test]
    fn interval_and_until_end_the_series() {
        let w = Weekly::parse(
            "rule",
            "FREQ=WEEKLY;INTERVAL=2;BYDAY=TU;UNTIL=20261222",
            la(),
        )
        .unwrap();
        let got = w
            .occurrences(
                "rule",
                la(),
                local("2026-12-01T10:00:00"),
                Duration::minutes(50),
            )
            .unwrap();
        let local_days: Vec<String> = got
            .iter()
            .map(|s| {
                clock::local(la(), s.start)
                    .format("%m-%d %H:%M")
                    .to_string()
            })
            .collect();
        assert_eq!(local_days, ["12-01 10:00", "12-15 10:00"]);
    }

    #[test]
    fn the_first_start_must_be_on_a_series_day_and_the_series_bounded() {
        let w = Weekly::parse("rule", "FREQ=WEEKLY;BYDAY=MO;COUNT=3", la()).unwrap();
        let err = w
            .occurrences(
                "rule",
                la(),
                local("2026-12-01T10:00:00"),
                Duration::hours(1),
            )
            .unwrap_err();
        assert!(err.to_string().contains("Tue"), "{err}");
        let long = Weekly::parse(
            "rule",
            "FREQ=WEEKLY;BYDAY=MO,TU,WE,TH,FR,SA;UNTIL=20271231",
            la(),
        )
        .unwrap();
        let err = long
            .occurrences(
                "rule",
                la(),
                local("2026-12-07T10:00:00"),
                Duration::hours(1),
            )
            .unwrap_err();
        assert!(err.to_string().contains("more than 260"), "{err}");
    }
}
