//! What the group service asks of the scheduling service, over gRPC with the caller's
//! principal sealed (so within the caller's clinic) and a deadline: a location's name and
//! zone, a room's location, seats and state, a clinician's name, credentials and state; and
//! holding (and freeing) a session's room and facilitators.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use iop_auth::InternalKey;
use iop_core::{ClinicianId, Error, LocationId, Principal, RoomId};
use iop_kit::internal::Peer;
use iop_proto::scheduling::{
    Credential, GetClinicianRequest, GetLocationRequest, GetRoomRequest, PlaceHoldRequest,
    ReleaseHoldRequest, appointment_service_client::AppointmentServiceClient,
    clinician_service_client::ClinicianServiceClient,
    location_service_client::LocationServiceClient,
};
use iop_proto::timestamp_from_micros;
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

/// What a session asks the scheduling service to hold.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HoldRequest {
    /// The session's own key: the same key and request is the same hold.
    pub key: String,
    pub location_id: LocationId,
    pub room_id: Option<RoomId>,
    pub clinician_ids: Vec<ClinicianId>,
    pub start: DateTime<Utc>,
    pub end: DateTime<Utc>,
}

/// The scheduling service's answer to a hold.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Held {
    /// Held: the hold's id.
    Placed(String),
    /// Refused: what the room or a facilitator is booked with then.
    Clash(String),
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
    /// Holds a session's room and facilitators (idempotent by its key).
    async fn hold(&self, who: &Principal, hold: &HoldRequest) -> Result<Held, Error>;
    /// Frees a hold's time; one released already is no error.
    async fn release(&self, who: &Principal, hold_id: &str, reason: &str) -> Result<(), Error>;
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

    async fn hold(&self, who: &Principal, hold: &HoldRequest) -> Result<Held, Error> {
        let (request, deadline) = self.peer.seal(
            who,
            PlaceHoldRequest {
                hold_key: hold.key.clone(),
                location_id: hold.location_id.to_string(),
                room_id: hold.room_id.map(|r| r.to_string()).unwrap_or_default(),
                clinician_ids: hold.clinician_ids.iter().map(ToString::to_string).collect(),
                start_time: Some(timestamp_from_micros(hold.start.timestamp_micros())),
                end_time: Some(timestamp_from_micros(hold.end.timestamp_micros())),
            },
        );
        let mut client = AppointmentServiceClient::new(self.peer.channel());
        let what = format!("hold {}", hold.key);
        // A clash is the scheduling service's answer, not a fault: ABORTED naming what the
        // room or a facilitator is booked with.
        let placed = self
            .peer
            .ask_or(deadline, &what, client.place_hold(request), |status| {
                (status.code() == tonic::Code::Aborted).then(|| {
                    // Each clash as the scheduling service describes it ("<when>: room … is
                    // booked then (appointment …)"), without its own field paths.
                    let clashes: Vec<String> = iop_core::error::field_violations(status)
                        .into_iter()
                        .map(|v| v.description)
                        .collect();
                    Error::Conflict(if clashes.is_empty() {
                        status.message().to_owned()
                    } else {
                        clashes.join("; ")
                    })
                })
            })
            .await;
        match placed {
            Ok(Some(a)) => Ok(Held::Placed(a.id)),
            Ok(None) => Err(Error::Unavailable(format!(
                "the scheduling service found nothing to {what} with"
            ))),
            Err(Error::Conflict(why)) => Ok(Held::Clash(why)),
            Err(e) => Err(e),
        }
    }

    async fn release(&self, who: &Principal, hold_id: &str, reason: &str) -> Result<(), Error> {
        let (request, deadline) = self.peer.seal(
            who,
            ReleaseHoldRequest {
                id: hold_id.to_owned(),
                reason: reason.to_owned(),
            },
        );
        let mut client = AppointmentServiceClient::new(self.peer.channel());
        let what = format!("release hold {hold_id}");
        // Gone already (never placed, or its clinic's data removed): nothing to free.
        self.peer
            .ask(deadline, &what, client.release_hold(request))
            .await
            .map(|_| ())
    }
}
