//! Local wall-clock times in a location's IANA time zone, and the instants they name.
//!
//! A clinic thinks in local time ("Mondays 9:00–17:00 in Los Angeles"); bookings are stored
//! as instants. Two local times are special on a change day, and are decided here, once:
//!
//! - **A time that does not exist** (skipped when clocks spring forward: 02:30 in
//!   Los Angeles on 2026-03-08) is read with the offset in force before the change, so it
//!   lands as far after the change as it was meant to be after the last valid minute:
//!   02:30 → 03:30 PDT. Hours of 02:00–02:45 that day are worked 03:00–03:45; hours of
//!   02:00–03:00 are none (03:00–03:00).
//! - **A time that exists twice** (clocks fall back: 01:30 on 2026-11-01) is the first of
//!   the two (01:30 PDT, not 01:30 PST).
//!
//! These are RFC 5545 §3.3.5's rules for a DATE-TIME with a TZID, and what calendar
//! applications reading our feeds will do.

use chrono::{DateTime, Days, LocalResult, NaiveDate, NaiveDateTime, NaiveTime, TimeZone, Utc};
use chrono_tz::Tz;
use iop_core::Error;

/// The zone of an IANA name such as `America/Los_Angeles`; an error naming `field` for any
/// other text.
pub fn zone(field: &str, name: &str) -> Result<Tz, Error> {
    name.parse::<Tz>()
        .map_err(|_| Error::field(field, NOT_A_ZONE))
}

/// What [`zone`] says of a name that is not one.
pub const NOT_A_ZONE: &str = "is not an IANA time zone, e.g. America/Los_Angeles";

/// The instant of the local time `local` in `tz` (see the module's rules for change days).
pub fn instant(tz: Tz, local: NaiveDateTime) -> DateTime<Utc> {
    match tz.from_local_datetime(&local) {
        LocalResult::Single(t) => t.with_timezone(&Utc),
        LocalResult::Ambiguous(first, _) => first.with_timezone(&Utc),
        LocalResult::None => {
            // Read with the offset in force before the gap: the one a day earlier (zones
            // never change twice within a day).
            let before = local.checked_sub_days(Days::new(1)).unwrap_or(local);
            let offset = tz.offset_from_local_datetime(&before).earliest();
            match offset {
                Some(offset) => {
                    use chrono::Offset;
                    let seconds = i64::from(offset.fix().local_minus_utc());
                    (local - chrono::Duration::seconds(seconds)).and_utc()
                }
                None => local.and_utc(),
            }
        }
    }
}

/// The instant `time` on `date` in `tz`.
pub fn at(tz: Tz, date: NaiveDate, time: NaiveTime) -> DateTime<Utc> {
    instant(tz, date.and_time(time))
}

/// The local date and time of `t` in `tz`.
pub fn local(tz: Tz, t: DateTime<Utc>) -> NaiveDateTime {
    t.with_timezone(&tz).naive_local()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn la() -> Tz {
        zone("time_zone", "America/Los_Angeles").unwrap()
    }

    fn t(s: &str) -> DateTime<Utc> {
        s.parse().unwrap()
    }

    fn local(s: &str) -> NaiveDateTime {
        s.parse().unwrap()
    }

    #[test]
    fn an_unknown_zone_names_the_field() {
        let err = zone("location.time_zone", "Pacific Time").unwrap_err();
        assert!(err.to_string().starts_with("location.time_zone:"), "{err}");
    }

    #[test]
    fn nine_in_the_morning_stays_nine_across_both_changes() {
        // PST (UTC-8) before 2026-03-08, PDT (UTC-7) until 2026-11-01, PST after.
        assert_eq!(
            instant(la(), local("2026-03-02T09:00:00")),
            t("2026-03-02T17:00:00Z")
        );
        assert_eq!(
            instant(la(), local("2026-03-09T09:00:00")),
            t("2026-03-09T16:00:00Z")
        );
        assert_eq!(
            instant(la(), local("2026-10-26T09:00:00")),
            t("2026-10-26T16:00:00Z")
        );
        assert_eq!(
            instant(la(), local("2026-11-02T09:00:00")),
            t("2026-11-02T17:00:00Z")
        );
    }

    #[test]
    fn a_skipped_time_moves_forward_by_the_gap() {
        // 02:30 does not exist on 2026-03-08: it is 03:30 PDT.
        assert_eq!(
            instant(la(), local("2026-03-08T02:30:00")),
            t("2026-03-08T10:30:00Z")
        );
        assert_eq!(
            super::local(la(), t("2026-03-08T10:30:00Z")),
            local("2026-03-08T03:30:00")
        );
        // The edges: 01:59 PST and 03:00 PDT are one minute apart.
        assert_eq!(
            instant(la(), local("2026-03-08T01:59:00")),
            t("2026-03-08T09:59:00Z")
        );
        assert_eq!(
            instant(la(), local("2026-03-08T03:00:00")),
            t("2026-03-08T10:00:00Z")
        );
    }

    #[test]
    fn a_doubled_time_is_the_first_of_the_two() {
        // 01:30 happens at 08:30Z (PDT) and again at 09:30Z (PST) on 2026-11-01.
        assert_eq!(
            instant(la(), local("2026-11-01T01:30:00")),
            t("2026-11-01T08:30:00Z")
        );
        assert_eq!(
            instant(la(), local("2026-11-01T02:00:00")),
            t("2026-11-01T10:00:00Z")
        );
    }

    #[test]
    fn zones_east_of_utc_skip_forward_too() {
        let berlin = zone("time_zone", "Europe/Berlin").unwrap();
        // 2026-03-29 02:00 CET → 03:00 CEST; 02:30 is 03:30 CEST = 01:30Z.
        assert_eq!(
            instant(berlin, local("2026-03-29T02:30:00")),
            t("2026-03-29T01:30:00Z")
        );
    }
}
