//! Calendar dates and instants as the services keep and send them: UTC days, ISO 8601 text
//! in the database (it sorts as dates do), `iop.common.v1.Date` on the wire.

use chrono::{Datelike, NaiveDate};
use iop_proto::common as pbc;

/// Today in UTC, the calendar every date rule here uses.
pub fn today() -> NaiveDate {
    chrono::Utc::now().date_naive()
}

/// The UTC calendar day of an instant in microseconds.
pub fn date_of(us: i64) -> NaiveDate {
    chrono::DateTime::from_timestamp_micros(us)
        .map(|d| d.date_naive())
        .unwrap_or(NaiveDate::MIN)
}

/// The earliest birth, referral or admission date that makes sense: anything before (year 0,
/// a negative year, a typo of 1026 for 2026) is refused.
pub const EARLIEST_DATE: NaiveDate = match NaiveDate::from_ymd_opt(1900, 1, 1) {
    Some(d) => d,
    None => NaiveDate::MIN,
};

/// A date as stored: ISO 8601 text, which also sorts as dates do.
pub fn date_text(d: NaiveDate) -> String {
    d.format("%Y-%m-%d").to_string()
}

/// A stored date back; `None` when the text is not one.
pub fn parse_date_text(s: &str) -> Option<NaiveDate> {
    NaiveDate::parse_from_str(s, "%Y-%m-%d").ok()
}

/// An instant as RFC 3339 UTC to the second, for messages.
pub fn rfc3339(us: i64) -> String {
    chrono::DateTime::from_timestamp_micros(us)
        .map(|d| d.to_rfc3339_opts(chrono::SecondsFormat::Secs, true))
        .unwrap_or_default()
}

/// A date as `iop.common.v1.Date`.
pub fn date_to_proto(d: NaiveDate) -> pbc::Date {
    pbc::Date {
        year: d.year(),
        month: d.month() as i32,
        day: d.day() as i32,
    }
}

/// An `iop.common.v1.Date` back; `None` when it is no calendar date (February 30th).
pub fn date_from_proto(d: &pbc::Date) -> Option<NaiveDate> {
    NaiveDate::from_ymd_opt(
        d.year,
        u32::try_from(d.month).ok()?,
        u32::try_from(d.day).ok()?,
    )
}

crate::text_enum! {
    /// A day of the week, as the protos (`iop.scheduling.v1.DayOfWeek`) and the database
    /// say it.
    pub enum Day: iop_proto::scheduling::DayOfWeek {
        Monday = "monday",
        Tuesday = "tuesday",
        Wednesday = "wednesday",
        Thursday = "thursday",
        Friday = "friday",
        Saturday = "saturday",
        Sunday = "sunday",
    }
}

impl Day {
    pub fn weekday(self) -> chrono::Weekday {
        match self {
            Self::Monday => chrono::Weekday::Mon,
            Self::Tuesday => chrono::Weekday::Tue,
            Self::Wednesday => chrono::Weekday::Wed,
            Self::Thursday => chrono::Weekday::Thu,
            Self::Friday => chrono::Weekday::Fri,
            Self::Saturday => chrono::Weekday::Sat,
            Self::Sunday => chrono::Weekday::Sun,
        }
    }

    pub fn of(day: chrono::Weekday) -> Self {
        Self::ALL[day.num_days_from_monday() as usize]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_round_trip_and_impossible_ones_are_none() {
        let d = NaiveDate::from_ymd_opt(2026, 2, 28).unwrap();
        assert_eq!(date_from_proto(&date_to_proto(d)), Some(d));
        assert_eq!(parse_date_text(&date_text(d)), Some(d));
        let feb30 = pbc::Date {
            year: 2026,
            month: 2,
            day: 30,
        };
        assert_eq!(date_from_proto(&feb30), None);
        let negative = pbc::Date {
            year: 2026,
            month: -1,
            day: 1,
        };
        assert_eq!(date_from_proto(&negative), None);
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00Z");
    }
}
