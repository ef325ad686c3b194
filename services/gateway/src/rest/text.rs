//! The kinds of free text of `iop_kit::text` as OpenAPI schemas. A string field names its
//! kind with `#[schema(value_type = Name)]` (or `Option<Name>`, `Vec<Line>`); its JSON Schema
//! then carries the rule the service checks — length, characters, not blank — from the one
//! place it is written.

use utoipa::openapi::RefOr;
use utoipa::openapi::schema::{ObjectBuilder, Schema, SchemaType, Type};

fn schema(rule: iop_kit::text::Rule, description: &str) -> RefOr<Schema> {
    ObjectBuilder::new()
        .schema_type(SchemaType::Type(Type::String))
        .min_length((rule.min() > 0).then_some(rule.min()))
        .max_length(Some(rule.max))
        .pattern(Some(rule.pattern()))
        .description(Some(description))
        .into()
}

macro_rules! kinds {
    ($($(#[doc = $doc:literal])+ $name:ident = $rule:ident;)+) => {$(
        $(#[doc = $doc])+
        #[allow(dead_code)] // named only by `#[schema(value_type = …)]`
        pub struct $name;

        impl utoipa::PartialSchema for $name {
            fn schema() -> RefOr<Schema> {
                let doc: &[&str] = &[$($doc),+];
                let doc = doc.iter().map(|l| l.trim()).collect::<Vec<_>>().join(" ");
                schema(iop_kit::text::$rule, &doc)
            }
        }

        impl utoipa::ToSchema for $name {}
    )+};
}

kinds! {
    /// A name of a person, program, organization or group: one line, not blank.
    Name = NAME;
    /// A short text on one line.
    Text = TEXT;
    /// A few words on one line (pronouns).
    Label = LABEL;
    /// A code on one line (a postal code).
    Code = CODE;
    /// An email address; empty for none.
    EmailText = EMAIL;
    /// A longer single line (an address line, a reason).
    Line = LINE;
    /// A paragraph; may span lines.
    Paragraph = PARAGRAPH;
    /// A narrative; may span lines.
    Narrative = NARRATIVE;
    /// A narrative that must say something; may span lines.
    Statement = STATEMENT;
    /// An addendum to a signed note: must say something; may span lines.
    AddendumText = ADDENDUM;
    /// A whole document (a note's body); may span lines.
    Document = DOCUMENT;
}

/// `pattern`, or also the empty string when the field may be left empty.
fn shaped(pattern: &str, empty: bool, max: Option<usize>, description: &str) -> RefOr<Schema> {
    let pattern = match (
        empty,
        pattern.strip_prefix('^').and_then(|p| p.strip_suffix('$')),
    ) {
        (true, Some(inner)) => format!("^(?:{inner})?$"),
        _ => pattern.to_owned(),
    };
    ObjectBuilder::new()
        .schema_type(SchemaType::Type(Type::String))
        .max_length(max)
        .pattern(Some(pattern))
        .description(Some(description))
        .into()
}

macro_rules! shapes {
    ($($(#[doc = $doc:literal])+ $name:ident = $pattern:ident, $empty:literal, $max:expr;)+) => {$(
        $(#[doc = $doc])+
        #[allow(dead_code)] // named only by `#[schema(value_type = …)]`
        pub struct $name;

        impl utoipa::PartialSchema for $name {
            fn schema() -> RefOr<Schema> {
                let doc: &[&str] = &[$($doc),+];
                let doc = doc.iter().map(|l| l.trim()).collect::<Vec<_>>().join(" ");
                shaped(iop_kit::text::$pattern, $empty, $max, &doc)
            }
        }

        impl utoipa::ToSchema for $name {}
    )+};
}

shapes! {
    /// A phone number (empty for none): 7 to 15 digits, optionally after `+`, with spaces, dashes, dots and
    /// parentheses between them.
    Phone = PHONE_PATTERN, true, None;
    /// A phone number, or a short code of 3 to 6 digits (988).
    PhoneOrShortCode = PHONE_OR_SHORT_CODE_PATTERN, false, None;
    /// An email address; empty for none.
    Email = EMAIL_PATTERN, true, Some(iop_kit::text::EMAIL.max);
    /// A medical record number, unique in the clinic: no surrounding spaces; empty for none.
    Mrn = IDENTIFIER_PATTERN, true, Some(iop_kit::text::MRN_MAX);
    /// An identifier's value: no surrounding spaces.
    IdentifierValue = IDENTIFIER_PATTERN, false, Some(iop_kit::text::IDENTIFIER_MAX);
    /// An identifier's namespace, e.g. `https://ehr.example.org/patient`: no `|`, no
    /// surrounding spaces.
    IdentifierSystem = IDENTIFIER_SYSTEM_PATTERN, false, Some(iop_kit::text::IDENTIFIER_MAX);
    /// A National Provider Identifier: 10 digits, the last a check digit (CMS); empty for
    /// none.
    Npi = NPI_PATTERN, true, Some(10);
    /// An ISO 3166-1 alpha-2 country code (`US`); empty for none.
    Country = COUNTRY_PATTERN, false, Some(2);
    /// An https link (a telehealth room); empty for none.
    HttpsUrl = HTTPS_URL_PATTERN, true, Some(2000);
}

/// An IANA time zone name, e.g. `America/Los_Angeles`: the zones of the tz database the
/// services read local times in.
#[allow(dead_code)] // named only by `#[schema(value_type = …)]`
pub struct TimeZone;

impl utoipa::PartialSchema for TimeZone {
    fn schema() -> RefOr<Schema> {
        ObjectBuilder::new()
            .schema_type(SchemaType::Type(Type::String))
            .enum_values(Some(chrono_tz::TZ_VARIANTS.iter().map(|tz| tz.name())))
            .description(Some("An IANA time zone, e.g. America/Los_Angeles."))
            .into()
    }
}

impl utoipa::ToSchema for TimeZone {}

#[cfg(test)]
mod tests {
    /// Every kind of text the services check is published, with the rule they check.
    #[test]
    fn each_kind_publishes_its_rule() {
        use utoipa::PartialSchema;
        let name = serde_json::to_value(super::Name::schema()).unwrap();
        assert_eq!(name["maxLength"], iop_kit::text::NAME.max);
        assert_eq!(name["minLength"], 1);
        assert_eq!(name["pattern"], iop_kit::text::NAME.pattern());
        let doc = serde_json::to_value(super::Document::schema()).unwrap();
        assert!(doc.get("minLength").is_none());
        assert_eq!(doc["maxLength"], iop_kit::text::DOCUMENT.max);
    }
}
