//! Read → check etag → write. A client sends back the etag it read (`If-Match`, or the
//! message's `etag`); a change made since is refused rather than overwritten. The write
//! itself is conditional on the version read (`… WHERE version = $n`), so two writers that
//! both passed the check cannot both win: the second gets [`stale`] too.

use iop_core::Error;

/// Refuses the change unless `given` is empty (no check asked for) or the current etag.
pub fn check(
    given: &str,
    current: &str,
    kind: &str,
    id: &impl std::fmt::Display,
) -> Result<(), Error> {
    if given.is_empty() || given == current {
        Ok(())
    } else {
        Err(stale(kind, id))
    }
}

/// The answer to a change made on a stale read: 409 / ABORTED, telling the client to read
/// again.
pub fn stale(kind: &str, id: &impl std::fmt::Display) -> Error {
    Error::Conflict(format!(
        "{kind} {id} was changed by someone else since you read it (etag mismatch); read it again and retry"
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_empty_or_current_etag_passes_a_stale_one_is_a_conflict() {
        assert!(check("", "3", "patient", &"p1").is_ok());
        assert!(check("3", "3", "patient", &"p1").is_ok());
        let err = check("2", "3", "patient", &"p1").unwrap_err();
        assert_eq!(err.code(), iop_core::ErrorCode::Conflict);
        assert!(
            err.to_string()
                .starts_with("patient p1 was changed by someone else")
        );
    }
}
