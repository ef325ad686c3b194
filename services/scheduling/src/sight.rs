//! Whose appointments a caller sees. A backend client sees what its system scopes grant
//! (the gateway checked them: an EHR syncing `system/Appointment.rs` sees the clinic's
//! schedule). Staff who keep the clinic's schedules — admins, program directors, the front
//! desk — see every appointment; none holds clinical content (kind, times, place, who; no
//! notes or diagnoses), so the front desk books and sees them all. A clinician signed in as
//! themselves sees their own schedule (what they provide) and their patients' (every
//! appointment of a patient they have an appointment with, of any status), through the
//! clinician whose `user_id` is their token's `sub`; one linked to no clinician sees none.
//! HIPAA's minimum necessary standard (45 CFR 164.502(b), 164.514(d)) asks that a workforce
//! member's access be limited to what their role needs.

use iop_core::{ClinicianId, Error, Principal};

use crate::clinicians::store::ClinicianStore;

/// Staff who keep the clinic's schedules, not only their own.
fn keeps_schedules(who: &Principal) -> bool {
    ["admin", "program_director", "front_desk"]
        .iter()
        .any(|r| who.has_role(r))
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sight {
    /// Every appointment of the clinic.
    All,
    /// A clinician's own and their patients' (`None`: a clinician user linked to no
    /// clinician, who sees none).
    Of(Option<ClinicianId>),
}

impl Sight {
    pub async fn of(who: &Principal, clinicians: &ClinicianStore) -> Result<Self, Error> {
        if !who.is_user() || keeps_schedules(who) {
            return Ok(Self::All);
        }
        Ok(Self::Of(
            clinicians
                .by_user(&who.tenant, &who.subject)
                .await?
                .map(|c| c.id),
        ))
    }
}

/// A clinician's refusal of what they may not see, naming only what they asked for.
pub fn refused(what: &str) -> Error {
    Error::PermissionDenied(format!(
        "{what} is neither on your schedule nor of one of your patients"
    ))
}
