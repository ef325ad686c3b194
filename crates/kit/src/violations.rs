//! Field violations: every broken rule of a request, each under its field path, reported
//! together (400 / INVALID_ARGUMENT with `google.rpc.BadRequest`).

use iop_core::{Error, FieldViolation};

/// Collects every broken rule of a request, each under its field path.
pub struct Violations<'a> {
    prefix: &'a str,
    list: Vec<FieldViolation>,
}

impl<'a> Violations<'a> {
    pub fn new(prefix: &'a str) -> Self {
        Self {
            prefix,
            list: Vec::new(),
        }
    }

    pub fn push(&mut self, field: &str, description: &str) {
        self.list.push(FieldViolation {
            field: format!("{}{field}", self.prefix),
            description: description.to_owned(),
        });
    }

    /// Checks free text against its kind (see [`crate::text`]).
    pub fn text(&mut self, field: &str, value: &str, rule: crate::text::Rule) {
        if let Some(broken) = rule.check(value) {
            self.push(field, &broken);
        }
    }

    /// The request's own fields broke a rule: INVALID_ARGUMENT / 400.
    pub fn finish(self) -> Result<(), Error> {
        if self.list.is_empty() {
            Ok(())
        } else {
            Err(Error::InvalidFields(self.list))
        }
    }

    /// The stored resource (or a request field measured against it) does not meet the rule of
    /// the action: FAILED_PRECONDITION / 409. A fuzzer or client reading the API contract
    /// cannot know stored state, so these are never reported as a malformed request.
    pub fn finish_unmet(self) -> Result<(), Error> {
        if self.list.is_empty() {
            Ok(())
        } else {
            Err(Error::Unmet(self.list))
        }
    }
}
