//! A clinic's locations: where it meets patients, and the IANA time zone every local time
//! of that place is read in (working hours, series, a patient's week).

pub mod grpc;
pub mod store;

use iop_core::{Error, LocationId, Principal, page};
use iop_kit::idempotency::{self, Key};
use iop_kit::text;
use iop_kit::violations::Violations;

use crate::clock;
use store::LocationStore;

pub(crate) const KIND: &str = "location";

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Location {
    pub id: LocationId,
    pub name: String,
    pub time_zone: String,
    pub address: String,
    pub create_time_us: i64,
}

/// What a client sends to create one.
#[derive(Debug, Clone, Default)]
pub struct NewLocation {
    pub name: String,
    pub time_zone: String,
    pub address: String,
}

impl NewLocation {
    fn check(&self) -> Result<(), Error> {
        let mut v = Violations::new("location.");
        v.text("name", &self.name, text::NAME);
        if self.time_zone.is_empty() {
            v.push("time_zone", "is required, e.g. America/Los_Angeles");
        } else if clock::zone("time_zone", &self.time_zone).is_err() {
            v.push("time_zone", clock::NOT_A_ZONE);
        }
        v.text("address", &self.address, text::LINE);
        v.finish()
    }
}

#[derive(Clone)]
pub struct Locations {
    store: LocationStore,
}

impl Locations {
    pub fn new(store: LocationStore) -> Self {
        Self { store }
    }

    /// Creates a location; its name is unique within the clinic (409 otherwise).
    pub async fn create(
        &self,
        who: &Principal,
        new: NewLocation,
        request_id: &str,
    ) -> Result<Location, Error> {
        new.check()?;
        let key = Key::parse(request_id, &new)?;
        let location = Location {
            id: LocationId::new(),
            name: new.name.trim().to_owned(),
            time_zone: new.time_zone,
            address: new.address.trim().to_owned(),
            create_time_us: iop_core::now_micros(),
        };
        let claim = self
            .store
            .insert(&who.tenant, &location, key.as_ref())
            .await?;
        idempotency::answer(
            claim,
            location,
            "create a different location",
            |id| async move {
                let id = LocationId::parse("id", &id)
                    .map_err(|_| Error::internal("stored request has a bad location id"))?;
                self.get(who, id).await
            },
        )
        .await
    }

    pub async fn get(&self, who: &Principal, id: LocationId) -> Result<Location, Error> {
        self.store
            .get(&who.tenant, id)
            .await?
            .ok_or_else(|| Error::NotFound {
                kind: "location",
                id: id.to_string(),
            })
    }

    /// A page of locations, oldest first.
    pub async fn list(
        &self,
        who: &Principal,
        page_size: i32,
        page_token: &str,
    ) -> Result<(Vec<Location>, Option<String>), Error> {
        let size = page::page_size(page_size)?;
        let query = page::fingerprint(&["locations"]);
        let after = page::resume_after(page_token, query, |s| LocationId::parse("id", s))?;
        let mut rows = self.store.list(&who.tenant, after, size + 1).await?;
        let next = page::next_page(&mut rows, size, query, |l| l.id.to_string());
        Ok((rows, next))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{fixture_db, staff};

    /// Keep the `TestDatabase` as long as the `Locations`.
    async fn fixture() -> (iop_db::testing::TestDatabase, Locations) {
        let (tdb, db) = fixture_db("locations").await;
        (tdb, Locations::new(LocationStore::new(db)))
    }

    fn downtown() -> NewLocation {
        NewLocation {
            name: "Downtown clinic".into(),
            time_zone: "America/Los_Angeles".into(),
            address: "100 Main St, Portland, OR".into(),
        }
    }

    #[tokio::test]
    async fn created_once_read_and_listed_within_the_clinic() {
        let (_tdb, l) = fixture().await;
        let a = staff("clinic-a");
        let made = l.create(&a, downtown(), "key-1").await.unwrap();
        assert_eq!(
            l.create(&a, downtown(), "key-1").await.unwrap(),
            made,
            "a retry"
        );
        assert_eq!(l.get(&a, made.id).await.unwrap(), made);
        let err = l.get(&staff("clinic-b"), made.id).await.unwrap_err();
        assert!(matches!(err, Error::NotFound { .. }), "{err:?}");
        let mut east = downtown();
        east.name = "East side".into();
        east.time_zone = "America/New_York".into();
        l.create(&a, east, "").await.unwrap();
        let (first, next) = l.list(&a, 1, "").await.unwrap();
        assert_eq!(first[0].name, "Downtown clinic");
        let (second, last) = l.list(&a, 1, &next.unwrap()).await.unwrap();
        assert_eq!(second[0].name, "East side");
        assert!(last.is_none());
        assert!(
            l.list(&staff("clinic-b"), 0, "")
                .await
                .unwrap()
                .0
                .is_empty()
        );
    }

    #[tokio::test]
    async fn names_are_unique_and_zones_real() {
        let (_tdb, l) = fixture().await;
        let a = staff("clinic-a");
        l.create(&a, downtown(), "").await.unwrap();
        let mut same = downtown();
        same.name = "DOWNTOWN CLINIC".into();
        let err = l.create(&a, same, "").await.unwrap_err();
        assert!(matches!(err, Error::AlreadyExists(_)), "{err:?}");
        let mut bad = downtown();
        bad.name = " ".into();
        bad.time_zone = "Pacific".into();
        let err = l.create(&a, bad, "").await.unwrap_err().to_string();
        assert!(
            err.contains("location.name") && err.contains("location.time_zone"),
            "{err}"
        );
    }
}
