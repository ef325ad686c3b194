//! Field violations: every broken rule of a request, each under its field path, reported
//! together (400 / INVALID_ARGUMENT with `google.rpc.BadRequest`). A rule the published
//! schema states (a length, a pattern, a required field) is [`Violations::push`]; one it can
//! only describe in prose (a date relative to today, two fields in order) is
//! [`Violations::rule`], answered 422 when nothing else is wrong ([`Error::Unprocessable`]).

use iop_core::{Error, FieldViolation};

/// Collects every broken rule of a request, each under its field path.
pub struct Violations<'a> {
    prefix: &'a str,
    /// In the order found, each marked whether it is beyond the published schema.
    list: Vec<(FieldViolation, bool)>,
}

impl<'a> Violations<'a> {
    pub fn new(prefix: &'a str) -> Self {
        Self {
            prefix,
            list: Vec::new(),
        }
    }

    pub fn push(&mut self, field: &str, description: &str) {
        self.add(field, description, false);
    }

    fn add(&mut self, field: &str, description: &str, beyond_schema: bool) {
        let violation = FieldViolation {
            field: format!("{}{field}", self.prefix),
            description: description.to_owned(),
        };
        self.list.push((violation, beyond_schema));
    }

    /// A rule the OpenAPI document cannot state as JSON Schema, only describe: a date
    /// relative to today, one field ordered against another.
    pub fn rule(&mut self, field: &str, description: &str) {
        self.add(field, description, true);
    }

    /// No item of a list twice: each repeat named as `field[i]`.
    pub fn unique<T: PartialEq>(&mut self, field: &str, items: &[T]) {
        for (i, item) in items.iter().enumerate() {
            if items[..i].contains(item) {
                self.push(&format!("{field}[{i}]"), "is listed twice");
            }
        }
    }

    /// Checks free text against its kind (see [`crate::text`]).
    pub fn text(&mut self, field: &str, value: &str, rule: crate::text::Rule) {
        if let Some(broken) = rule.check(value) {
            self.push(field, &broken);
        }
    }

    /// The request's own fields broke a rule: INVALID_ARGUMENT / 400 naming every one when
    /// any breaks the published schema, 422 when only rules beyond it are broken.
    pub fn finish(self) -> Result<(), Error> {
        if self.list.is_empty() {
            return Ok(());
        }
        let only_beyond = self.list.iter().all(|(_, beyond)| *beyond);
        let list = self.list.into_iter().map(|(v, _)| v).collect();
        Err(if only_beyond {
            Error::Unprocessable(list)
        } else {
            Error::InvalidFields(list)
        })
    }

    /// The stored resource (or a request field measured against it) does not meet the rule of
    /// the action: FAILED_PRECONDITION / 409. A fuzzer or client reading the API contract
    /// cannot know stored state, so these are never reported as a malformed request.
    pub fn finish_unmet(self) -> Result<(), Error> {
        if self.list.is_empty() {
            Ok(())
        } else {
            Err(Error::Unmet(
                self.list.into_iter().map(|(v, _)| v).collect(),
            ))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rules_beyond_the_schema_are_unprocessable_only_when_nothing_else_is_wrong() {
        let mut v = Violations::new("note.");
        v.rule("end_time", "must be after start_time");
        match v.finish() {
            Err(Error::Unprocessable(list)) => assert_eq!(list[0].field, "note.end_time"),
            other => panic!("{other:?}"),
        }
        let mut v = Violations::new("note.");
        v.rule("end_time", "must be after start_time");
        v.push("kind", "is required");
        match v.finish() {
            Err(Error::InvalidFields(list)) => assert_eq!(list.len(), 2),
            other => panic!("{other:?}"),
        }
        assert!(Violations::new("").finish().is_ok());
    }
}
