//! A clinic's clinicians: their credentials, NPI, the kinds of appointment they may provide,
//! and the user id of their tokens (so "my schedule" finds them).

pub mod grpc;
pub mod store;

use iop_core::{ClinicianId, Error, Principal, page};
use iop_kit::idempotency::{self, Key};
use iop_kit::text;
use iop_kit::violations::Violations;

use store::{ClinicianQuery, ClinicianStore};

pub(crate) const KIND: &str = "clinician";

iop_kit::text_enum! {
    /// A licence or degree.
    pub enum Credential: iop_proto::scheduling::Credential {
        Lcsw = "lcsw",
        Lpc = "lpc",
        Lmft = "lmft",
        Md = "md",
        Do = "do",
        Np = "np",
        Psyd = "psyd",
        Phd = "phd",
        Ladc = "ladc",
        Rn = "rn",
    }
}

iop_kit::text_enum! {
    /// What is booked.
    pub enum AppointmentKind: iop_proto::scheduling::AppointmentKind {
        IntakeAssessment = "intake_assessment",
        IndividualTherapy = "individual_therapy",
        FamilySession = "family_session",
        PsychiatricEvaluation = "psychiatric_evaluation",
        MedicationManagement = "medication_management",
        CaseManagement = "case_management",
        GroupHold = "group_hold",
    }
}

impl AppointmentKind {
    /// The length a slot search looks for when none is asked: an intake assessment 90
    /// minutes, a therapy session or psychiatric evaluation an hour (psychotherapy of 53
    /// minutes or more is billed as 60, CPT 90837), medication and case management half an
    /// hour, a group session's hold three hours (an IOP day's group block).
    pub fn default_minutes(self) -> i64 {
        match self {
            Self::IntakeAssessment => 90,
            Self::IndividualTherapy | Self::FamilySession | Self::PsychiatricEvaluation => 60,
            Self::MedicationManagement | Self::CaseManagement => 30,
            Self::GroupHold => 180,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Clinician {
    pub id: ClinicianId,
    pub given_name: String,
    pub family_name: String,
    pub credentials: Vec<Credential>,
    pub npi: String,
    pub kinds: Vec<AppointmentKind>,
    pub active: bool,
    pub user_id: String,
    pub create_time_us: i64,
}

/// What a client sends to create one.
#[derive(Debug, Clone, Default)]
pub struct NewClinician {
    pub given_name: String,
    pub family_name: String,
    pub credentials: Vec<Credential>,
    pub npi: String,
    pub kinds: Vec<AppointmentKind>,
    pub active: bool,
    pub user_id: String,
}

impl NewClinician {
    fn check(&self) -> Result<(), Error> {
        let mut v = Violations::new("clinician.");
        v.text("given_name", &self.given_name, text::NAME);
        v.text("family_name", &self.family_name, text::NAME);
        if !self.npi.is_empty() && !text::is_npi(&self.npi) {
            v.push("npi", "is not an NPI: 10 digits with a valid check digit");
        }
        if self.kinds.is_empty() {
            v.push("kinds", "must name at least one kind of appointment");
        }
        v.unique("kinds", &self.kinds);
        v.unique("credentials", &self.credentials);
        v.text("user_id", &self.user_id, text::TEXT);
        v.finish()
    }
}

#[derive(Clone)]
pub struct Clinicians {
    store: ClinicianStore,
}

impl Clinicians {
    pub fn new(store: ClinicianStore) -> Self {
        Self { store }
    }

    /// Adds a clinician; an NPI or user id already in the clinic is 409.
    pub async fn create(
        &self,
        who: &Principal,
        new: NewClinician,
        request_id: &str,
    ) -> Result<Clinician, Error> {
        new.check()?;
        let key = Key::parse(request_id, &new)?;
        let clinician = Clinician {
            id: ClinicianId::new(),
            given_name: new.given_name.trim().to_owned(),
            family_name: new.family_name.trim().to_owned(),
            credentials: new.credentials,
            npi: new.npi,
            kinds: new.kinds,
            active: new.active,
            user_id: new.user_id.trim().to_owned(),
            create_time_us: iop_core::now_micros(),
        };
        let claim = self
            .store
            .insert(&who.tenant, &clinician, key.as_ref())
            .await?;
        idempotency::answer(
            claim,
            clinician,
            "add a different clinician",
            |id| async move {
                let id = ClinicianId::parse("id", &id)
                    .map_err(|_| Error::internal("stored request has a bad clinician id"))?;
                self.get(who, id).await
            },
        )
        .await
    }

    pub async fn get(&self, who: &Principal, id: ClinicianId) -> Result<Clinician, Error> {
        self.store
            .get(&who.tenant, id)
            .await?
            .ok_or_else(|| Error::NotFound {
                kind: "clinician",
                id: id.to_string(),
            })
    }

    /// A page of clinicians, oldest first; only those who may provide `kind`, or only active
    /// ones, when asked.
    pub async fn list(
        &self,
        who: &Principal,
        kind: Option<AppointmentKind>,
        active_only: bool,
        page_size: i32,
        page_token: &str,
    ) -> Result<(Vec<Clinician>, Option<String>), Error> {
        let size = page::page_size(page_size)?;
        let kind_text = kind.map_or("", AppointmentKind::as_str);
        let query = page::fingerprint(&["clinicians", kind_text, &active_only.to_string()]);
        let after = page::resume_after(page_token, query, |s| ClinicianId::parse("id", s))?;
        let q = ClinicianQuery {
            kind,
            active_only,
            after,
            limit: size + 1,
        };
        let mut rows = self.store.list(&who.tenant, &q).await?;
        let next = page::next_page(&mut rows, size, query, |c| c.id.to_string());
        Ok((rows, next))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{fixture_db, staff};

    /// Keep the `TestDatabase` as long as the `Clinicians`.
    async fn fixture() -> (iop_db::testing::TestDatabase, Clinicians) {
        let (tdb, db) = fixture_db("clinicians").await;
        (tdb, Clinicians::new(ClinicianStore::new(db)))
    }

    fn kim() -> NewClinician {
        NewClinician {
            given_name: "Dana".into(),
            family_name: "Kim".into(),
            credentials: vec![Credential::Lcsw],
            npi: "1234567893".into(),
            kinds: vec![
                AppointmentKind::IndividualTherapy,
                AppointmentKind::FamilySession,
            ],
            active: true,
            user_id: "dr-kim".into(),
        }
    }

    #[tokio::test]
    async fn added_once_found_by_kind_and_unique_by_npi() {
        let (_tdb, c) = fixture().await;
        let a = staff("clinic-a");
        let made = c.create(&a, kim(), "k").await.unwrap();
        assert_eq!(c.create(&a, kim(), "k").await.unwrap(), made, "a retry");
        let err = c.create(&a, kim(), "").await.unwrap_err();
        assert!(matches!(err, Error::AlreadyExists(_)), "{err:?}");
        let mut md = kim();
        md.given_name = "Sam".into();
        md.family_name = "Patel".into();
        md.credentials = vec![Credential::Md];
        md.npi = String::new();
        md.user_id = String::new();
        md.kinds = vec![AppointmentKind::PsychiatricEvaluation];
        c.create(&a, md, "").await.unwrap();

        let (family, _) = c
            .list(&a, Some(AppointmentKind::FamilySession), false, 0, "")
            .await
            .unwrap();
        assert_eq!(family.len(), 1);
        assert_eq!(family[0].family_name, "Kim");
        let (all, _) = c.list(&a, None, true, 0, "").await.unwrap();
        assert_eq!(all.len(), 2);
        assert!(
            c.list(&staff("clinic-b"), None, false, 0, "")
                .await
                .unwrap()
                .0
                .is_empty()
        );
        assert!(matches!(
            c.get(&staff("clinic-b"), made.id).await.unwrap_err(),
            Error::NotFound { .. }
        ));
    }

    #[tokio::test]
    async fn bad_fields_are_named() {
        let (_tdb, c) = fixture().await;
        let mut bad = kim();
        bad.npi = "1234567890".into();
        bad.kinds = vec![];
        bad.credentials = vec![Credential::Md, Credential::Md];
        let err = c
            .create(&staff("clinic-a"), bad, "")
            .await
            .unwrap_err()
            .to_string();
        for field in [
            "clinician.npi",
            "clinician.kinds",
            "clinician.credentials[1]",
        ] {
            assert!(err.contains(field), "{field} in {err}");
        }
    }
}
