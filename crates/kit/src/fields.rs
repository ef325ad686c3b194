//! Reading the optional fields of a request message: an id that may be empty, a date that
//! may be absent — each an error naming its field when present but malformed.

use chrono::NaiveDate;
use iop_core::Error;

/// `None` for an empty id; else the id `parse` reads (a bad one is an error naming `field`).
pub fn optional_id<T>(
    field: &str,
    s: &str,
    parse: impl FnOnce(&str, &str) -> Result<T, Error>,
) -> Result<Option<T>, Error> {
    if s.is_empty() {
        Ok(None)
    } else {
        parse(field, s).map(Some)
    }
}

/// `None` for an absent date; a day no calendar has (February 30th) is an error naming
/// `field`.
pub fn optional_date(
    field: &str,
    d: Option<&iop_proto::common::Date>,
) -> Result<Option<NaiveDate>, Error> {
    d.map(|d| {
        crate::dates::date_from_proto(d)
            .ok_or_else(|| Error::field(field, "is not a calendar date"))
    })
    .transpose()
}
