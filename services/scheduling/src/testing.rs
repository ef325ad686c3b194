//! What the service's own tests share: a database, a principal, and a clinic set up to book
//! in (a location in Los Angeles, two rooms, three clinicians) and search slots of.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use iop_core::{ClinicianId, ContactId, Error, PatientId, Principal, ReferralId, RoomId, TenantId};
use iop_db::Db;
use iop_db::testing::TestDatabase;

use crate::appointments::Appointments;
use crate::appointments::store::AppointmentStore;
use crate::availability::Availability;
use crate::availability::store::AvailabilityStore;
use crate::clinicians::store::ClinicianStore;
use crate::clinicians::{AppointmentKind, Clinicians, NewClinician};
use crate::locations::store::LocationStore;
use crate::locations::{Location, Locations, NewLocation};
use crate::patients::{ContactState, PatientCheck, ReferralState};
use crate::references::References;
use crate::rooms::store::RoomStore;
use crate::rooms::{NewRoom, Rooms};

/// A fresh database of this service (PostgreSQL when `IOP_TEST_DATABASE_URL` says so);
/// keep the `TestDatabase` as long as the `Db`.
pub async fn fixture_db(name: &str) -> (TestDatabase, Db) {
    TestDatabase::migrated(name, &crate::MIGRATIONS).await
}

pub fn staff(tenant: &str) -> Principal {
    Principal {
        tenant: TenantId::parse(tenant).unwrap(),
        subject: "front-desk".into(),
        client_id: None,
        issuer: "test".into(),
        roles: vec!["front_desk".into()],
        scopes: vec![],
        request_id: "r".into(),
        source_addr: None,
    }
}

/// Every patient exists, except the nil id; the contacts are those in `contacts`, the
/// referrals those in `referrals`, and
/// `intakes` keeps what scheduling told the records service of each one's intake. The
/// records service's own answers are tested end to end through the gateway.
#[derive(Default)]
pub struct EveryPatient {
    pub contacts: Mutex<HashMap<ContactId, ContactState>>,
    pub referrals: Mutex<HashMap<ReferralId, ReferralState>>,
    pub intakes: Mutex<HashMap<ReferralId, Option<i64>>>,
}

#[tonic::async_trait]
impl PatientCheck for EveryPatient {
    async fn exists(&self, _: &Principal, patient: PatientId) -> Result<bool, Error> {
        Ok(patient.to_string() != "00000000-0000-0000-0000-000000000000")
    }

    async fn initials(&self, _: &Principal, patient: PatientId) -> Result<Option<String>, Error> {
        Ok((patient.to_string() != "00000000-0000-0000-0000-000000000000").then(|| "T.P.".into()))
    }

    async fn contact(
        &self,
        _: &Principal,
        contact: ContactId,
    ) -> Result<Option<ContactState>, Error> {
        Ok(self.contacts.lock().unwrap().get(&contact).cloned())
    }

    async fn referral(
        &self,
        _: &Principal,
        referral: ReferralId,
    ) -> Result<Option<ReferralState>, Error> {
        Ok(self.referrals.lock().unwrap().get(&referral).cloned())
    }

    async fn set_intake(
        &self,
        _: &Principal,
        referral: ReferralId,
        time_us: Option<i64>,
    ) -> Result<(), Error> {
        self.intakes.lock().unwrap().insert(referral, time_us);
        Ok(())
    }
}

pub struct Clinic {
    pub db: Db,
    pub appointments: Appointments,
    pub availability: Availability,
    pub records: Arc<EveryPatient>,
    pub location: Location,
    pub rooms: [RoomId; 2],
    pub clinicians: [ClinicianId; 3],
}

/// A clinic of `who`'s tenant with a location, two rooms and three clinicians who provide
/// individual therapy and family sessions.
pub async fn clinic(db: Db, who: &Principal) -> Clinic {
    let location_store = LocationStore::new(db.clone());
    let room_store = RoomStore::new(db.clone());
    let clinician_store = ClinicianStore::new(db.clone());
    let location = Locations::new(location_store.clone())
        .create(
            who,
            NewLocation {
                name: "Downtown".into(),
                time_zone: "America/Los_Angeles".into(),
                address: String::new(),
            },
            "",
        )
        .await
        .unwrap();
    let rooms = Rooms::new(room_store.clone());
    let mut room_ids = Vec::new();
    for name in ["Office 1", "Office 2"] {
        let room = rooms
            .create(
                who,
                NewRoom {
                    location_id: Some(location.id),
                    name: name.into(),
                    capacity: 4,
                    active: true,
                },
                "",
            )
            .await
            .unwrap();
        room_ids.push(room.id);
    }
    let clinicians = Clinicians::new(clinician_store.clone());
    let mut clinician_ids = Vec::new();
    for name in ["Kim", "Lee", "Ortiz"] {
        let c = clinicians
            .create(
                who,
                NewClinician {
                    given_name: "Dr".into(),
                    family_name: name.into(),
                    credentials: vec![],
                    npi: String::new(),
                    kinds: vec![
                        AppointmentKind::IndividualTherapy,
                        AppointmentKind::FamilySession,
                    ],
                    active: true,
                    user_id: String::new(),
                },
                "",
            )
            .await
            .unwrap();
        clinician_ids.push(c.id);
    }
    let records = Arc::new(EveryPatient::default());
    let refs = References::new(&db, records.clone());
    let availability = Availability::new(
        AvailabilityStore::new(db.clone()),
        refs.clone(),
        AppointmentStore::new(db.clone()),
    );
    let appointments = Appointments::new(AppointmentStore::new(db.clone()), refs);
    Clinic {
        db,
        appointments,
        availability,
        records,
        location,
        rooms: [room_ids[0], room_ids[1]],
        clinicians: [clinician_ids[0], clinician_ids[1], clinician_ids[2]],
    }
}
