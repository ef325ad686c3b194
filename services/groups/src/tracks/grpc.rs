//! Tracks between their protobuf messages and the service's types.

use chrono::NaiveTime;
use iop_core::{Error, LocationId, ProgramId, RoomId};
use iop_kit::dates::date_to_proto;
use iop_kit::fields::{optional_date, optional_id};
use iop_proto::groups as pb;
use iop_proto::timestamp_from_micros;
use tonic::Status;

use super::{Day, Meeting, NewTrack, Track};
use crate::programs::Modality;
use crate::programs::grpc::clinician_ids;

fn time(field: &str, s: &str) -> Result<NaiveTime, Error> {
    NaiveTime::parse_from_str(s, "%H:%M")
        .ok()
        .filter(|_| s.len() == 5)
        .ok_or_else(|| Error::field(field, "must be HH:MM, 24-hour"))
}

pub fn from_proto(t: pb::Track) -> Result<NewTrack, Status> {
    let meetings = t
        .meetings
        .iter()
        .enumerate()
        .map(|(i, m)| {
            let field = |f: &str| format!("track.meetings[{i}].{f}");
            Ok(Meeting {
                day: Day::from_proto_field(m.day, &field("day"))?
                    .ok_or_else(|| Error::field(field("day"), "is required"))?,
                start: time(&field("start_time"), &m.start_time)?,
                end: time(&field("end_time"), &m.end_time)?,
            })
        })
        .collect::<Result<Vec<_>, Error>>()?;
    Ok(NewTrack {
        program_id: optional_id("track.program_id", &t.program_id, ProgramId::parse)?,
        name: t.name,
        location_id: optional_id("track.location_id", &t.location_id, LocationId::parse)?,
        room_id: optional_id("track.room_id", &t.room_id, RoomId::parse)?,
        modality: Modality::from_proto_field(t.modality, "track.modality")?,
        meetings,
        facilitator_clinician_ids: clinician_ids(
            &t.facilitator_clinician_ids,
            "track.facilitator_clinician_ids",
        )?,
        capacity: t.capacity,
        curriculum: t.curriculum,
        start_date: optional_date("track.start_date", t.start_date.as_ref())?,
        active: t.active,
    })
}

pub fn to_proto(t: Track) -> pb::Track {
    pb::Track {
        id: t.id.to_string(),
        program_id: t.program_id.to_string(),
        name: t.name,
        location_id: t.location_id.to_string(),
        room_id: t.room_id.map(|r| r.to_string()).unwrap_or_default(),
        modality: t.modality.to_proto(),
        meetings: t
            .meetings
            .iter()
            .map(|m| pb::Meeting {
                day: m.day.to_proto(),
                start_time: m.start.format("%H:%M").to_string(),
                end_time: m.end.format("%H:%M").to_string(),
            })
            .collect(),
        facilitator_clinician_ids: t
            .facilitator_clinician_ids
            .iter()
            .map(ToString::to_string)
            .collect(),
        capacity: t.capacity,
        curriculum: t.curriculum,
        start_date: Some(date_to_proto(t.start_date)),
        active: t.active,
        create_time: Some(timestamp_from_micros(t.create_time_us)),
    }
}
