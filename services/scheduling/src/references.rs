//! What a booking or a slot search names — a location, a room, clinicians, a patient, family
//! contacts, a referral — read
//! in the caller's clinic and checked alike for both: one that is not there is 404 (naming
//! it); one that cannot take part (a room elsewhere or inactive, a clinician inactive or not
//! providing the kind) is a violation under the caller's field name, which the caller turns
//! into 409 with the rest of its stored-state rules.

use std::sync::Arc;

use chrono_tz::Tz;
use iop_core::{
    ClinicianId, ContactId, Error, LocationId, PatientId, Principal, ReferralId, RoomId,
};

use crate::clinicians::AppointmentKind;
use crate::clinicians::store::ClinicianStore;
use crate::clock;
use crate::kinds::KindSettings;
use crate::kinds::store::KindStore;
use crate::locations::store::LocationStore;
use crate::patients::PatientCheck;
use crate::rooms::store::RoomStore;

#[derive(Clone)]
pub struct References {
    pub locations: LocationStore,
    pub rooms: RoomStore,
    pub clinicians: ClinicianStore,
    pub kinds: KindStore,
    pub patients: Arc<dyn PatientCheck>,
}

/// Why a reference cannot take part (a violation of the caller's field naming it), if it
/// cannot; the caller adds it to its violations, so references are read side by side.
pub type Unfit = Option<String>;

fn missing(kind: &'static str, id: impl ToString) -> Error {
    Error::NotFound {
        kind,
        id: id.to_string(),
    }
}

impl References {
    /// Every store of `db`, and the records service's answer to whether a patient exists.
    pub fn new(db: &iop_db::Db, patients: Arc<dyn PatientCheck>) -> Self {
        Self {
            locations: LocationStore::new(db.clone()),
            rooms: RoomStore::new(db.clone()),
            clinicians: ClinicianStore::new(db.clone()),
            kinds: KindStore::new(db.clone()),
            patients,
        }
    }

    /// How the clinic offers `kind`.
    pub async fn kind(
        &self,
        who: &Principal,
        kind: AppointmentKind,
    ) -> Result<KindSettings, Error> {
        self.kinds.get(&who.tenant, kind).await
    }

    /// The location's time zone.
    pub async fn zone(&self, who: &Principal, id: LocationId) -> Result<Tz, Error> {
        let location = self
            .locations
            .get(&who.tenant, id)
            .await?
            .ok_or_else(|| missing("location", id))?;
        clock::zone("location.time_zone", &location.time_zone)
    }

    /// A room to use at `location`: of that location and active.
    pub async fn room(
        &self,
        who: &Principal,
        id: RoomId,
        location: LocationId,
    ) -> Result<Unfit, Error> {
        let room = self
            .rooms
            .get(&who.tenant, id)
            .await?
            .ok_or_else(|| missing("room", id))?;
        Ok(if room.location_id != location {
            Some("is not a room of this location".into())
        } else if !room.active {
            Some("is inactive".into())
        } else {
            None
        })
    }

    /// A clinician to see a patient for `kind`: active and providing it (`None`: active,
    /// whatever they provide — a group's facilitator for a hold).
    pub async fn clinician(
        &self,
        who: &Principal,
        id: ClinicianId,
        kind: Option<AppointmentKind>,
    ) -> Result<Unfit, Error> {
        let c = self
            .clinicians
            .get(&who.tenant, id)
            .await?
            .ok_or_else(|| missing("clinician", id))?;
        Ok(if !c.active {
            Some("is inactive".into())
        } else if let Some(kind) = kind
            && !c.kinds.contains(&kind)
        {
            Some(format!("does not provide {}", kind.as_str()))
        } else {
            None
        })
    }

    /// A family contact to take part in `patient`'s family session: theirs, and involved in
    /// family sessions (the records service says so only while a consent in force names the
    /// contact for family involvement).
    pub async fn family_contact(
        &self,
        who: &Principal,
        id: ContactId,
        patient: Option<PatientId>,
    ) -> Result<Unfit, Error> {
        let contact = self
            .patients
            .contact(who, id)
            .await?
            .ok_or_else(|| missing("contact", id))?;
        Ok(if contact.patient_id != patient {
            Some("is a contact of another patient".into())
        } else if !contact.involved {
            Some(
                "is not involved in family sessions: that needs a consent in force naming \
                 them for family involvement"
                    .into(),
            )
        } else {
            None
        })
    }

    /// A referral of `patient` to book its intake for: accepted (or its intake already
    /// scheduled), and moved by staff signed in as themselves, as the records service
    /// requires — refused here, before anything is booked.
    pub async fn referral(
        &self,
        who: &Principal,
        id: ReferralId,
        patient: Option<PatientId>,
    ) -> Result<Unfit, Error> {
        iop_kit::principal::require_user(who, "an intake for a referral is booked by staff")?;
        let referral = self
            .patients
            .referral(who, id)
            .await?
            .ok_or_else(|| missing("referral", id))?;
        Ok(if referral.patient_id != patient {
            Some("is a referral of another patient (or of none yet)".into())
        } else if !referral.open_for_intake {
            Some("is not accepted: accept the referral first".into())
        } else {
            None
        })
    }

    /// A patient of the caller's clinic (the records service says).
    pub async fn patient(&self, who: &Principal, id: PatientId) -> Result<(), Error> {
        if self.patients.exists(who, id).await? {
            Ok(())
        } else {
            Err(missing("patient", id))
        }
    }

    /// Only that they are there, whatever their state.
    pub async fn exist(
        &self,
        who: &Principal,
        clinician: Option<ClinicianId>,
        location: Option<LocationId>,
    ) -> Result<(), Error> {
        if let Some(id) = clinician
            && self.clinicians.get(&who.tenant, id).await?.is_none()
        {
            return Err(missing("clinician", id));
        }
        if let Some(id) = location
            && self.locations.get(&who.tenant, id).await?.is_none()
        {
            return Err(missing("location", id));
        }
        Ok(())
    }
}
