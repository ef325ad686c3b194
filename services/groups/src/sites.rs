//! What the group service asks of the scheduling service, over gRPC with the caller's
//! principal sealed (so within the caller's clinic) and a deadline: a location's name and
//! zone, a room's location, seats and state, a clinician's name, credentials and state.

use std::sync::Arc;

use iop_auth::InternalKey;
use iop_core::{ClinicianId, Error, LocationId, Principal, RoomId};
use iop_kit::internal::Peer;
use iop_proto::scheduling::{
    Credential, GetClinicianRequest, GetLocationRequest, GetRoomRequest,
    clinician_service_client::ClinicianServiceClient,
    location_service_client::LocationServiceClient,
};
use tonic::transport::Channel;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Location {
    pub name: String,
    /// IANA zone: a track's meetings are read in it.
    pub time_zone: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Room {
    pub location_id: LocationId,
    pub capacity: i32,
    pub active: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Clinician {
    /// Given and family name.
    pub name: String,
    /// As written after a name: `LCSW`, `MD`.
    pub credentials: Vec<String>,
    pub active: bool,
}

/// The scheduling service, as the group service asks it; each answer is `None` for one that
/// is not of the caller's clinic.
#[tonic::async_trait]
pub trait Sites: Send + Sync {
    async fn location(&self, who: &Principal, id: LocationId) -> Result<Option<Location>, Error>;
    async fn room(&self, who: &Principal, id: RoomId) -> Result<Option<Room>, Error>;
    async fn clinician(&self, who: &Principal, id: ClinicianId)
    -> Result<Option<Clinician>, Error>;
}

/// The scheduling service's answers.
pub struct Scheduling {
    peer: Peer,
}

impl Scheduling {
    pub fn new(channel: Channel, key: Arc<InternalKey>) -> Self {
        Self {
            peer: Peer::new("scheduling", channel, key),
        }
    }
}

#[tonic::async_trait]
impl Sites for Scheduling {
    async fn location(&self, who: &Principal, id: LocationId) -> Result<Option<Location>, Error> {
        let (request, deadline) = self
            .peer
            .seal(who, GetLocationRequest { id: id.to_string() });
        let mut client = LocationServiceClient::new(self.peer.channel());
        let what = format!("read location {id}");
        Ok(self
            .peer
            .ask(deadline, &what, client.get_location(request))
            .await?
            .map(|l| Location {
                name: l.name,
                time_zone: l.time_zone,
            }))
    }

    async fn room(&self, who: &Principal, id: RoomId) -> Result<Option<Room>, Error> {
        let (request, deadline) = self.peer.seal(who, GetRoomRequest { id: id.to_string() });
        let mut client = LocationServiceClient::new(self.peer.channel());
        let what = format!("read room {id}");
        let Some(r) = self
            .peer
            .ask(deadline, &what, client.get_room(request))
            .await?
        else {
            return Ok(None);
        };
        let location_id = LocationId::parse("location_id", &r.location_id).map_err(|_| {
            Error::Unavailable("the scheduling service sent a room without a location".into())
        })?;
        Ok(Some(Room {
            location_id,
            capacity: r.capacity,
            active: r.active,
        }))
    }

    async fn clinician(
        &self,
        who: &Principal,
        id: ClinicianId,
    ) -> Result<Option<Clinician>, Error> {
        let (request, deadline) = self
            .peer
            .seal(who, GetClinicianRequest { id: id.to_string() });
        let mut client = ClinicianServiceClient::new(self.peer.channel());
        let what = format!("read clinician {id}");
        Ok(self
            .peer
            .ask(deadline, &what, client.get_clinician(request))
            .await?
            .map(|c| Clinician {
                name: format!("{} {}", c.given_name, c.family_name)
                    .trim()
                    .to_owned(),
                credentials: c
                    .credentials
                    .iter()
                    .filter_map(|v| Credential::try_from(*v).ok())
                    .filter_map(|v| v.as_str_name().strip_prefix("CREDENTIAL_"))
                    .map(str::to_owned)
                    .collect(),
                active: c.active,
            }))
    }
}
