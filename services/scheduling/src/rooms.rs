//! Rooms of a location: where in-person appointments and groups meet, with the number of
//! people each seats. An inactive room keeps its history but takes no new bookings.

pub mod store;

use iop_core::{Error, LocationId, Principal, RoomId, page};
use iop_kit::idempotency::{self, Key};
use iop_kit::text;
use iop_kit::violations::Violations;

use store::{RoomQuery, RoomStore};

pub(crate) const KIND: &str = "room";

/// The most people a room may seat.
pub const MAX_CAPACITY: i32 = 500;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Room {
    pub id: RoomId,
    pub location_id: LocationId,
    pub name: String,
    pub capacity: i32,
    pub active: bool,
    pub create_time_us: i64,
}

/// What a client sends to create one.
#[derive(Debug, Clone, Default)]
pub struct NewRoom {
    pub location_id: Option<LocationId>,
    pub name: String,
    pub capacity: i32,
    pub active: bool,
}

impl NewRoom {
    fn check(&self) -> Result<(), Error> {
        let mut v = Violations::new("room.");
        if self.location_id.is_none() {
            v.push("location_id", "is required");
        }
        v.text("name", &self.name, text::NAME);
        if !(1..=MAX_CAPACITY).contains(&self.capacity) {
            v.push("capacity", "must be 1 to 500");
        }
        v.finish()
    }
}

#[derive(Clone)]
pub struct Rooms {
    store: RoomStore,
}

impl Rooms {
    pub fn new(store: RoomStore) -> Self {
        Self { store }
    }

    /// Adds a room to a location of the clinic; its name is unique there (409 otherwise).
    pub async fn create(
        &self,
        who: &Principal,
        new: NewRoom,
        request_id: &str,
    ) -> Result<Room, Error> {
        new.check()?;
        let key = Key::parse(request_id, &new)?;
        let Some(location_id) = new.location_id else {
            return Err(Error::internal("validated location is missing"));
        };
        let room = Room {
            id: RoomId::new(),
            location_id,
            name: new.name.trim().to_owned(),
            capacity: new.capacity,
            active: new.active,
            create_time_us: iop_core::now_micros(),
        };
        let claim = self.store.insert(&who.tenant, &room, key.as_ref()).await?;
        idempotency::answer(claim, room, "add a different room", |id| async move {
            let id = RoomId::parse("id", &id)
                .map_err(|_| Error::internal("stored request has a bad room id"))?;
            self.get(who, id).await
        })
        .await
    }

    pub async fn get(&self, who: &Principal, id: RoomId) -> Result<Room, Error> {
        self.store
            .get(&who.tenant, id)
            .await?
            .ok_or_else(|| Error::NotFound {
                kind: "room",
                id: id.to_string(),
            })
    }

    /// A page of rooms, oldest first; only a location's, or only active ones, when asked.
    pub async fn list(
        &self,
        who: &Principal,
        location: Option<LocationId>,
        active_only: bool,
        page_size: i32,
        page_token: &str,
    ) -> Result<(Vec<Room>, Option<String>), Error> {
        let size = page::page_size(page_size)?;
        let query = page::fingerprint(&[
            "rooms",
            &location.map(|l| l.to_string()).unwrap_or_default(),
            if active_only { "active" } else { "" },
        ]);
        let after = page::resume_after(page_token, query, |s| RoomId::parse("id", s))?;
        let mut rows = self
            .store
            .list(
                &who.tenant,
                &RoomQuery {
                    location,
                    active_only,
                    after,
                    limit: size + 1,
                },
            )
            .await?;
        let next = page::next_page(&mut rows, size, query, |r| r.id.to_string());
        Ok((rows, next))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::locations::{Locations, NewLocation, store::LocationStore};
    use crate::testing::{fixture_db, staff};

    #[tokio::test]
    async fn rooms_belong_to_a_location_of_the_clinic_with_unique_names() {
        let (_tdb, db) = fixture_db("rooms").await;
        let locations = Locations::new(LocationStore::new(db.clone()));
        let rooms = Rooms::new(RoomStore::new(db));
        let a = staff("clinic-a");
        let site = locations
            .create(
                &a,
                NewLocation {
                    name: "Downtown".into(),
                    time_zone: "America/Los_Angeles".into(),
                    address: String::new(),
                },
                "",
            )
            .await
            .unwrap();
        let new = |name: &str, capacity| NewRoom {
            location_id: Some(site.id),
            name: name.into(),
            capacity,
            active: true,
        };
        let group = rooms.create(&a, new("Group room", 12), "k").await.unwrap();
        assert_eq!(
            rooms.create(&a, new("Group room", 12), "k").await.unwrap(),
            group
        );
        let err = rooms
            .create(&a, new("GROUP ROOM", 8), "")
            .await
            .unwrap_err();
        assert!(matches!(err, Error::AlreadyExists(_)), "{err:?}");
        let err = rooms.create(&a, new("Office", 0), "").await.unwrap_err();
        assert!(err.to_string().contains("room.capacity"), "{err}");
        // Another clinic cannot put a room in this location, nor see this one.
        let b = staff("clinic-b");
        let err = rooms.create(&b, new("Office", 2), "").await.unwrap_err();
        assert!(matches!(err, Error::NotFound { .. }), "{err:?}");
        assert!(matches!(
            rooms.get(&b, group.id).await.unwrap_err(),
            Error::NotFound { .. }
        ));
        rooms.create(&a, new("Office 1", 2), "").await.unwrap();
        let (listed, next) = rooms.list(&a, Some(site.id), true, 1, "").await.unwrap();
        assert_eq!(listed, std::slice::from_ref(&group));
        let (rest, last) = rooms
            .list(&a, Some(site.id), true, 1, &next.unwrap())
            .await
            .unwrap();
        assert_eq!(rest[0].name, "Office 1");
        assert!(last.is_none());
    }
}
