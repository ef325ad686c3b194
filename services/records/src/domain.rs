//! Patient rules, free of I/O: what a valid patient is and how a search term is normalised.

use chrono::NaiveDate;
use iop_core::{Error, PatientId};
use serde::{Deserialize, Serialize};

use iop_kit::dates::EARLIEST_DATE;
use iop_kit::text;
use iop_kit::violations::Violations;
pub const MAX_IDENTIFIERS: usize = 20;

iop_kit::text_enum! {
    #[derive(Default, Serialize, Deserialize)]
    #[serde(rename_all = "lowercase")]
    pub enum Sex: iop_proto::records::Sex {
        #[default]
        Unspecified = "unspecified",
        Female = "female",
        Male = "male",
        Other = "other",
        Unknown = "unknown",
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Address {
    #[serde(default)]
    pub lines: Vec<String>,
    #[serde(default)]
    pub city: String,
    #[serde(default)]
    pub region: String,
    #[serde(default)]
    pub postal_code: String,
    #[serde(default)]
    pub country: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Contact {
    #[serde(default)]
    pub phone: String,
    #[serde(default)]
    pub email: String,
    #[serde(default)]
    pub address: Option<Address>,
}

impl Contact {
    /// The rules of contact details, wherever they are kept (a patient's, a family
    /// contact's), under `contact.`.
    pub fn check(&self, v: &mut Violations) {
        let c = self;
        if !c.phone.is_empty() && !text::is_phone(&c.phone) {
            v.push(
                "contact.phone",
                "must be a phone number of 7-15 digits, optionally starting with +",
            );
        }
        if !c.email.is_empty() && !text::is_email(&c.email) {
            v.push("contact.email", "must be an email address");
        }
        if let Some(a) = &c.address {
            if a.lines.len() > 4 {
                v.push("contact.address.lines", "must have at most 4 lines");
            }
            for (i, line) in a.lines.iter().enumerate() {
                v.text(&format!("contact.address.lines[{i}]"), line, text::LINE);
            }
            v.text("contact.address.city", &a.city, text::TEXT);
            v.text("contact.address.region", &a.region, text::TEXT);
            v.text("contact.address.postal_code", &a.postal_code, text::CODE);
            if !text::is_country(&a.country) {
                v.push(
                    "contact.address.country",
                    "must be an ISO 3166-1 alpha-2 code such as US",
                );
            }
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Identifier {
    pub system: String,
    pub value: String,
}

/// The writable part of a patient.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct PatientFields {
    pub given_name: String,
    pub middle_name: String,
    pub family_name: String,
    pub preferred_name: String,
    pub birth_date: Option<NaiveDate>,
    pub sex_at_birth: Sex,
    pub gender_identity: String,
    pub pronouns: String,
    pub contact: Contact,
    pub mrn: Option<String>,
    pub identifiers: Vec<Identifier>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Patient {
    pub id: PatientId,
    pub fields: PatientFields,
    pub version: i64,
    pub create_time_us: i64,
    pub update_time_us: i64,
}

impl Patient {
    pub fn etag(&self) -> String {
        self.version.to_string()
    }
}

/// A writable field of a patient, as named in update masks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PatientPath {
    GivenName,
    MiddleName,
    FamilyName,
    PreferredName,
    BirthDate,
    SexAtBirth,
    GenderIdentity,
    Pronouns,
    Contact,
    Mrn,
    Identifiers,
}

impl PatientPath {
    pub const ALL: [Self; 11] = [
        Self::GivenName,
        Self::MiddleName,
        Self::FamilyName,
        Self::PreferredName,
        Self::BirthDate,
        Self::SexAtBirth,
        Self::GenderIdentity,
        Self::Pronouns,
        Self::Contact,
        Self::Mrn,
        Self::Identifiers,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Self::GivenName => "given_name",
            Self::MiddleName => "middle_name",
            Self::FamilyName => "family_name",
            Self::PreferredName => "preferred_name",
            Self::BirthDate => "birth_date",
            Self::SexAtBirth => "sex_at_birth",
            Self::GenderIdentity => "gender_identity",
            Self::Pronouns => "pronouns",
            Self::Contact => "contact",
            Self::Mrn => "mrn",
            Self::Identifiers => "identifiers",
        }
    }

    /// Parses a mask path; output-only and unknown paths are refused with a reason.
    pub fn parse(path: &str) -> Result<Self, String> {
        if let Some(p) = Self::ALL.into_iter().find(|p| p.name() == path) {
            return Ok(p);
        }
        if OUTPUT_ONLY_PATHS.contains(&path) {
            Err(format!("{path} is output only"))
        } else {
            Err(format!("{path} is not a patient field"))
        }
    }

    /// Copies this field from `patch` into `target`.
    pub fn apply(self, target: &mut PatientFields, patch: &PatientFields) {
        match self {
            Self::GivenName => target.given_name.clone_from(&patch.given_name),
            Self::MiddleName => target.middle_name.clone_from(&patch.middle_name),
            Self::FamilyName => target.family_name.clone_from(&patch.family_name),
            Self::PreferredName => target.preferred_name.clone_from(&patch.preferred_name),
            Self::BirthDate => target.birth_date = patch.birth_date,
            Self::SexAtBirth => target.sex_at_birth = patch.sex_at_birth,
            Self::GenderIdentity => target.gender_identity.clone_from(&patch.gender_identity),
            Self::Pronouns => target.pronouns.clone_from(&patch.pronouns),
            Self::Contact => target.contact.clone_from(&patch.contact),
            Self::Mrn => target.mrn.clone_from(&patch.mrn),
            Self::Identifiers => target.identifiers.clone_from(&patch.identifiers),
        }
    }
}

/// Paths the server owns; naming one in an update mask is an error, not a silent no-op.
pub const OUTPUT_ONLY_PATHS: &[&str] = &["id", "create_time", "update_time", "version", "etag"];

impl PatientFields {
    /// Checks every rule and reports every broken one, each with its field path under
    /// `prefix` (e.g. `patient.`).
    pub fn validate(&self, prefix: &str, today: NaiveDate) -> Result<(), Error> {
        let mut v = Violations::new(prefix);
        v.text("given_name", &self.given_name, text::NAME);
        v.text("family_name", &self.family_name, text::NAME);
        v.text("middle_name", &self.middle_name, text::TEXT);
        v.text("preferred_name", &self.preferred_name, text::TEXT);
        v.text("gender_identity", &self.gender_identity, text::TEXT);
        v.text("pronouns", &self.pronouns, text::LABEL);
        match self.birth_date {
            None => v.push("birth_date", "is required"),
            Some(d) if d > today => v.rule("birth_date", "must not be in the future"),
            Some(d) if d < EARLIEST_DATE => v.rule("birth_date", "must not be before 1900-01-01"),
            Some(_) => {}
        }
        if self.sex_at_birth == Sex::Unspecified {
            v.push(
                "sex_at_birth",
                "is required (female, male, other or unknown)",
            );
        }
        self.contact.check(&mut v);
        if let Some(mrn) = &self.mrn
            && !text::is_identifier(mrn, text::MRN_MAX)
        {
            v.push(
                "mrn",
                "must be 1-64 characters without surrounding spaces or control characters",
            );
        }
        if self.identifiers.len() > MAX_IDENTIFIERS {
            v.push("identifiers", "must have at most 20 entries");
        }
        let mut seen = std::collections::HashSet::new();
        for (i, id) in self.identifiers.iter().enumerate() {
            if !text::is_identifier_system(&id.system, text::IDENTIFIER_MAX) {
                v.push(
                    &format!("identifiers[{i}].system"),
                    "must be 1-255 characters without '|', surrounding spaces or control characters",
                );
            }
            if !text::is_identifier(&id.value, text::IDENTIFIER_MAX) {
                v.push(
                    &format!("identifiers[{i}].value"),
                    "must be 1-255 characters without surrounding spaces or control characters",
                );
            }
            if !seen.insert(id) {
                v.push(&format!("identifiers[{i}]"), "is listed twice");
            }
        }
        v.finish()
    }

    /// Lower-cased names, the haystack of a name search.
    pub fn search_name(&self) -> String {
        [
            &self.given_name,
            &self.middle_name,
            &self.family_name,
            &self.preferred_name,
        ]
        .iter()
        .filter(|s| !s.is_empty())
        .map(|s| s.to_lowercase())
        .collect::<Vec<_>>()
        .join(" ")
    }
}

/// A name search term as a LIKE pattern: lower-cased, wildcards escaped with `\`.
pub fn name_pattern(term: &str) -> String {
    let mut p = String::with_capacity(term.len() + 2);
    p.push('%');
    for c in term.trim().to_lowercase().chars() {
        if matches!(c, '%' | '_' | '\\') {
            p.push('\\');
        }
        p.push(c);
    }
    p.push('%');
    p
}

#[cfg(test)]
mod tests {
    use super::*;

    fn today() -> NaiveDate {
        NaiveDate::from_ymd_opt(2026, 11, 27).unwrap()
    }

    fn valid() -> PatientFields {
        PatientFields {
            given_name: "Ana".into(),
            family_name: "García".into(),
            birth_date: NaiveDate::from_ymd_opt(1990, 2, 28),
            sex_at_birth: Sex::Female,
            ..Default::default()
        }
    }

    fn fields_of(err: Error) -> Vec<String> {
        match err {
            Error::InvalidFields(v) => v.into_iter().map(|v| v.field).collect(),
            other => panic!("unexpected {other:?}"),
        }
    }

    #[test]
    fn a_minimal_patient_is_valid() {
        valid().validate("patient.", today()).unwrap();
    }

    #[test]
    fn every_broken_rule_is_reported_with_its_path() {
        let f = PatientFields {
            given_name: " ".into(),
            birth_date: NaiveDate::from_ymd_opt(2030, 1, 1),
            contact: Contact {
                email: "nope".into(),
                phone: "12".into(),
                address: None,
            },
            identifiers: vec![
                Identifier {
                    system: "ehr".into(),
                    value: "1".into(),
                },
                Identifier {
                    system: "ehr".into(),
                    value: "1".into(),
                },
            ],
            ..Default::default()
        };
        let fields = fields_of(f.validate("patient.", today()).unwrap_err());
        for expected in [
            "patient.given_name",
            "patient.family_name",
            "patient.birth_date",
            "patient.sex_at_birth",
            "patient.contact.phone",
            "patient.contact.email",
            "patient.identifiers[1]",
        ] {
            assert!(
                fields.iter().any(|f| f == expected),
                "{expected} missing from {fields:?}"
            );
        }
    }

    #[test]
    fn search_terms_cannot_inject_wildcards() {
        assert_eq!(name_pattern(" Mc_Do%n "), "%mc\\_do\\%n%");
        assert_eq!(valid().search_name(), "ana garcía");
    }
}
