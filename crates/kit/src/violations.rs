//! Field violations: every broken rule of a request, each under its field path, reported
//! together (400 / INVALID_ARGUMENT with `google.rpc.BadRequest`).

use iop_core::{Error, FieldViolation};

/// The longest name (of a person, a program, an organization) a service keeps.
pub const MAX_NAME_LEN: usize = 200;
/// The longest single piece of free text (a reason, a note line) a service keeps.
pub const MAX_TEXT_LEN: usize = 500;

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

    pub fn required_name(&mut self, field: &str, value: &str) {
        if value.trim().is_empty() {
            self.push(field, "is required");
        } else {
            self.optional_text(field, value, MAX_NAME_LEN);
        }
    }

    pub fn optional_text(&mut self, field: &str, value: &str, max: usize) {
        if value.chars().count() > max {
            self.push(field, &format!("must be at most {max} characters"));
        } else if value.chars().any(|c| c.is_control()) {
            self.push(field, "must not contain control characters");
        }
    }

    /// Like [`Self::optional_text`], for prose: line breaks and tabs are fine.
    pub fn optional_text_multiline(&mut self, field: &str, value: &str, max: usize) {
        if value.chars().count() > max {
            self.push(field, &format!("must be at most {max} characters"));
        } else if value
            .chars()
            .any(|c| c.is_control() && !matches!(c, '\n' | '\r' | '\t'))
        {
            self.push(field, "must not contain control characters");
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
