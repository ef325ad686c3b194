//! Newtype ids: a tenant's id is a short slug, resource ids are UUIDv7.

use std::fmt;

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::Error;

/// A clinic organisation. Always taken from the principal, never from a request.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct TenantId(String);

impl TenantId {
    /// 1-64 characters of `a-z`, `0-9`, `-` and `_`.
    pub fn parse(value: &str) -> Result<Self, Error> {
        let ok = !value.is_empty()
            && value.len() <= 64
            && value
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_');
        if ok {
            Ok(Self(value.to_owned()))
        } else {
            Err(Error::field(
                "tenant",
                "must be 1-64 characters of a-z, 0-9, '-' and '_'",
            ))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for TenantId {
    type Error = Error;
    fn try_from(value: String) -> Result<Self, Error> {
        Self::parse(&value)
    }
}

impl From<TenantId> for String {
    fn from(value: TenantId) -> Self {
        value.0
    }
}

impl fmt::Display for TenantId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

macro_rules! uuid_id {
    ($name:ident, $kind:literal) => {
        #[doc = concat!("Id of a ", $kind, " (UUIDv7, time-ordered).")]
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub struct $name(Uuid);

        impl $name {
            pub fn new() -> Self {
                Self(Uuid::now_v7())
            }

            /// Parses a client-supplied id; `field` names it in the error.
            pub fn parse(field: &str, value: &str) -> Result<Self, Error> {
                Uuid::try_parse(value)
                    .map(Self)
                    .map_err(|_| Error::field(field, concat!("must be a ", $kind, " id (a UUID)")))
            }

            pub fn as_uuid(&self) -> Uuid {
                self.0
            }
        }

        impl Default for $name {
            fn default() -> Self {
                Self::new()
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                self.0.hyphenated().fmt(f)
            }
        }
    };
}

uuid_id!(PatientId, "patient");
uuid_id!(AssessmentId, "assessment");
uuid_id!(SafetyFlagId, "safety flag");
uuid_id!(EpisodeId, "episode");
uuid_id!(NoteId, "note");
uuid_id!(PlanId, "treatment plan");
uuid_id!(ConsentId, "consent");
uuid_id!(ContactId, "contact");
uuid_id!(ReferralId, "referral");
uuid_id!(LocationId, "location");
uuid_id!(ClinicianId, "clinician");
uuid_id!(RoomId, "room");
uuid_id!(AppointmentId, "appointment");
uuid_id!(SeriesId, "series");
uuid_id!(ExceptionId, "availability exception");
uuid_id!(WaitlistEntryId, "waitlist entry");
uuid_id!(WaitlistOfferId, "waitlist offer");
uuid_id!(FeedId, "calendar feed");
uuid_id!(ProgramId, "program");
uuid_id!(TrackId, "track");
uuid_id!(SessionId, "group session");

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tenant_ids_are_slugs() {
        assert!(TenantId::parse("clinic-a_1").is_ok());
        for bad in ["", "Clinic", "a b", "x/../y", &"a".repeat(65)] {
            assert!(TenantId::parse(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn patient_ids_name_the_field_when_invalid() {
        let err = PatientId::parse("id", "nope").unwrap_err();
        assert_eq!(err.to_string(), "id: must be a patient id (a UUID)");
        let id = PatientId::new();
        assert_eq!(PatientId::parse("id", &id.to_string()).unwrap(), id);
    }

    #[test]
    fn new_ids_are_time_ordered() {
        let a = PatientId::new();
        let b = PatientId::new();
        assert!(a.to_string() < b.to_string());
    }
}
