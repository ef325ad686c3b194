//! What the service's own tests share: a database, a principal, and the scheduling service's
//! answers for one clinic (a location in Los Angeles, a room seating 10, clinicians). The
//! scheduling service's own answers are tested end to end through the gateway.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use iop_core::{ClinicianId, Error, LocationId, Principal, RoomId, TenantId};
use iop_db::Db;
use iop_db::testing::TestDatabase;

use chrono::{DateTime, Utc};

use crate::sites::{Clinician, Held, HoldRequest, Location, Room, Sites};

/// A fresh database of this service (PostgreSQL when `IOP_TEST_DATABASE_URL` says so);
/// keep the `TestDatabase` as long as the `Db`.
pub async fn fixture_db(name: &str) -> (TestDatabase, Db) {
    TestDatabase::migrated(name, &crate::MIGRATIONS).await
}

pub fn staff(tenant: &str) -> Principal {
    Principal {
        tenant: TenantId::parse(tenant).unwrap(),
        subject: "director".into(),
        client_id: None,
        issuer: "test".into(),
        roles: vec!["program_director".into()],
        scopes: vec![],
        request_id: "r".into(),
        source_addr: None,
    }
}

/// The scheduling service of clinic `clinic-a` only: what is in the maps is there.
#[derive(Default)]
pub struct Clinic {
    pub locations: Mutex<HashMap<LocationId, Location>>,
    pub rooms: Mutex<HashMap<RoomId, Room>>,
    pub clinicians: Mutex<HashMap<ClinicianId, Clinician>>,
    /// Holds placed and not released, by key: (id, room, clinicians, start, end).
    pub holds: Mutex<HashMap<String, PlacedHold>>,
    /// Times booked otherwise (an appointment): a hold of the room over one clashes.
    pub booked: Mutex<Vec<Booked>>,
    /// How many more holds are placed before the scheduling service stops answering
    /// (`None`: it always answers).
    pub answers_left: Mutex<Option<usize>>,
    /// Every hold id released.
    pub released: Mutex<Vec<String>>,
}

/// A room's time booked by something else: (room, start, end).
pub type Booked = (RoomId, DateTime<Utc>, DateTime<Utc>);

#[derive(Debug, Clone)]
pub struct PlacedHold {
    pub id: String,
    pub request: HoldRequest,
}

/// The ids of what [`clinic`] set up.
pub struct Setup {
    pub location: LocationId,
    /// Seats 10, at `location`.
    pub room: RoomId,
    /// Active.
    pub dana: ClinicianId,
    pub sam: ClinicianId,
    /// Inactive.
    pub gone: ClinicianId,
}

pub fn clinic() -> (Arc<Clinic>, Setup) {
    let c = Clinic::default();
    let s = Setup {
        location: LocationId::new(),
        room: RoomId::new(),
        dana: ClinicianId::new(),
        sam: ClinicianId::new(),
        gone: ClinicianId::new(),
    };
    c.locations.lock().unwrap().insert(
        s.location,
        Location {
            name: "Downtown".into(),
            time_zone: "America/Los_Angeles".into(),
        },
    );
    c.rooms.lock().unwrap().insert(
        s.room,
        Room {
            location_id: s.location,
            capacity: 10,
            active: true,
        },
    );
    for (id, name, active) in [
        (s.dana, "Dana Reyes", true),
        (s.sam, "Sam Okafor", true),
        (s.gone, "Lee Former", false),
    ] {
        c.clinicians.lock().unwrap().insert(
            id,
            Clinician {
                name: name.into(),
                credentials: vec!["LCSW".into()],
                active,
            },
        );
    }
    (Arc::new(c), s)
}

fn ours(who: &Principal) -> bool {
    who.tenant.as_str() == "clinic-a"
}

#[tonic::async_trait]
impl Sites for Clinic {
    async fn location(&self, who: &Principal, id: LocationId) -> Result<Option<Location>, Error> {
        Ok(ours(who)
            .then(|| self.locations.lock().unwrap().get(&id).cloned())
            .flatten())
    }

    async fn room(&self, who: &Principal, id: RoomId) -> Result<Option<Room>, Error> {
        Ok(ours(who)
            .then(|| self.rooms.lock().unwrap().get(&id).cloned())
            .flatten())
    }

    async fn clinician(
        &self,
        who: &Principal,
        id: ClinicianId,
    ) -> Result<Option<Clinician>, Error> {
        Ok(ours(who)
            .then(|| self.clinicians.lock().unwrap().get(&id).cloned())
            .flatten())
    }

    async fn hold(&self, _: &Principal, hold: &HoldRequest) -> Result<Held, Error> {
        if let Some(left) = self.answers_left.lock().unwrap().as_mut() {
            if *left == 0 {
                return Err(Error::Unavailable("the scheduling service is down".into()));
            }
            *left -= 1;
        }
        let mut holds = self.holds.lock().unwrap();
        if let Some(placed) = holds.get(&hold.key) {
            return Ok(Held::Placed(placed.id.clone()));
        }
        let overlaps = |a: DateTime<Utc>, b: DateTime<Utc>| a < hold.end && hold.start < b;
        let taken = self
            .booked
            .lock()
            .unwrap()
            .iter()
            .any(|(room, a, b)| Some(*room) == hold.room_id && overlaps(*a, *b))
            || holds.values().any(|h| {
                overlaps(h.request.start, h.request.end)
                    && ((h.request.room_id.is_some() && h.request.room_id == hold.room_id)
                        || h.request
                            .clinician_ids
                            .iter()
                            .any(|c| hold.clinician_ids.contains(c)))
            });
        if taken {
            return Ok(Held::Clash(format!(
                "{}: the room is booked then",
                hold.start
            )));
        }
        let id = iop_core::SessionId::new().to_string();
        holds.insert(
            hold.key.clone(),
            PlacedHold {
                id: id.clone(),
                request: hold.clone(),
            },
        );
        Ok(Held::Placed(id))
    }

    async fn release(&self, _: &Principal, hold_id: &str, _: &str) -> Result<(), Error> {
        self.holds.lock().unwrap().retain(|_, h| h.id != hold_id);
        self.released.lock().unwrap().push(hold_id.to_owned());
        Ok(())
    }
}
