//! `iop.scheduling.v1.AvailabilityService`.

use chrono::NaiveTime;
use iop_core::{ClinicianId, Error, ExceptionId, LocationId, PatientId, RoomId};
use iop_kit::principal;
use iop_proto::scheduling::{self as pb, availability_service_server::AvailabilityService};
use iop_proto::{micros_from_timestamp, timestamp_from_micros};
use tonic::{Request, Response, Status};

use super::search::{FoundSlot, SlotQuery};
use super::store::ExceptionQuery;
use super::{Availability, Day, ExceptionKind, NewException, StoredException, Week, WeeklyHours};
use crate::clinicians::AppointmentKind;
use iop_kit::fields::{optional_date, optional_id};

pub struct AvailabilityApi {
    availability: Availability,
}

impl AvailabilityApi {
    pub fn new(availability: Availability) -> Self {
        Self { availability }
    }
}

/// `HH:MM` of a day, naming `field` when it is not one.
pub(crate) fn clock_time(field: &str, s: &str) -> Result<NaiveTime, Error> {
    if s.is_empty() {
        return Err(Error::field(field, "is required (HH:MM)"));
    }
    NaiveTime::parse_from_str(s, "%H:%M")
        .ok()
        .filter(|_| s.len() == 5)
        .ok_or_else(|| Error::field(field, "must be a time of day, HH:MM (24-hour)"))
}

fn hours_from_proto(hours: &[pb::WeeklyHours]) -> Result<Vec<WeeklyHours>, Error> {
    hours
        .iter()
        .enumerate()
        .map(|(i, h)| {
            let at = |f: &str| format!("working_hours.hours[{i}].{f}");
            Ok(WeeklyHours {
                day: Day::from_proto_field(h.day, &at("day"))?
                    .ok_or_else(|| Error::field(at("day"), "is required"))?
                    .weekday(),
                start: clock_time(&at("start_time"), &h.start_time)?,
                end: clock_time(&at("end_time"), &h.end_time)?,
            })
        })
        .collect()
}

#[tonic::async_trait]
impl AvailabilityService for AvailabilityApi {
    async fn get_working_hours(
        &self,
        req: Request<pb::GetWorkingHoursRequest>,
    ) -> Result<Response<pb::WorkingHours>, Status> {
        let who = principal(&req)?;
        let r = req.get_ref();
        let clinician = ClinicianId::parse("clinician_id", &r.clinician_id)?;
        let location = LocationId::parse("location_id", &r.location_id)?;
        let week = self.availability.hours(&who, clinician, location).await?;
        Ok(Response::new(week_to_proto(week)))
    }

    async fn set_working_hours(
        &self,
        req: Request<pb::SetWorkingHoursRequest>,
    ) -> Result<Response<pb::WorkingHours>, Status> {
        let who = principal(&req)?;
        let w = req.into_inner().working_hours.unwrap_or_default();
        let clinician = ClinicianId::parse("working_hours.clinician_id", &w.clinician_id)?;
        let location = LocationId::parse("working_hours.location_id", &w.location_id)?;
        let hours = hours_from_proto(&w.hours)?;
        let week = self
            .availability
            .set_hours(&who, clinician, location, hours, &w.etag)
            .await?;
        Ok(Response::new(week_to_proto(week)))
    }

    async fn create_availability_exception(
        &self,
        req: Request<pb::CreateAvailabilityExceptionRequest>,
    ) -> Result<Response<pb::AvailabilityException>, Status> {
        let who = principal(&req)?;
        let r = req.into_inner();
        let e = r.exception.unwrap_or_default();
        let new = NewException {
            kind: ExceptionKind::from_proto_field(e.kind, "exception.kind")?,
            clinician_id: optional_id(
                "exception.clinician_id",
                &e.clinician_id,
                ClinicianId::parse,
            )?,
            location_id: optional_id("exception.location_id", &e.location_id, LocationId::parse)?,
            start_us: e.start_time.as_ref().map(micros_from_timestamp),
            end_us: e.end_time.as_ref().map(micros_from_timestamp),
            reason: e.reason,
        };
        let made = self
            .availability
            .create_exception(&who, new, &r.request_id)
            .await?;
        Ok(Response::new(exception_to_proto(made)))
    }

    async fn list_availability_exceptions(
        &self,
        req: Request<pb::ListAvailabilityExceptionsRequest>,
    ) -> Result<Response<pb::ListAvailabilityExceptionsResponse>, Status> {
        let who = principal(&req)?;
        let r = req.get_ref();
        let q = ExceptionQuery {
            clinician: optional_id("clinician_id", &r.clinician_id, ClinicianId::parse)?,
            location: optional_id("location_id", &r.location_id, LocationId::parse)?,
            from_us: r.from_time.as_ref().map(micros_from_timestamp),
            to_us: r.to_time.as_ref().map(micros_from_timestamp),
            ..Default::default()
        };
        let (rows, next) = self
            .availability
            .exceptions(&who, q, r.page_size, &r.page_token)
            .await?;
        Ok(Response::new(pb::ListAvailabilityExceptionsResponse {
            exceptions: rows.into_iter().map(exception_to_proto).collect(),
            next_page_token: next.unwrap_or_default(),
        }))
    }

    async fn get_availability_exception(
        &self,
        req: Request<pb::GetAvailabilityExceptionRequest>,
    ) -> Result<Response<pb::AvailabilityException>, Status> {
        let who = principal(&req)?;
        let id = ExceptionId::parse("id", &req.get_ref().id)?;
        let found = self.availability.exception(&who, id).await?;
        Ok(Response::new(exception_to_proto(found)))
    }

    async fn delete_availability_exception(
        &self,
        req: Request<pb::DeleteAvailabilityExceptionRequest>,
    ) -> Result<Response<pb::AvailabilityException>, Status> {
        let who = principal(&req)?;
        let id = ExceptionId::parse("id", &req.get_ref().id)?;
        let gone = self.availability.delete_exception(&who, id).await?;
        Ok(Response::new(exception_to_proto(gone)))
    }

    async fn search_slots(
        &self,
        req: Request<pb::SearchSlotsRequest>,
    ) -> Result<Response<pb::SearchSlotsResponse>, Status> {
        let who = principal(&req)?;
        let r = req.get_ref();
        let q = SlotQuery {
            location: optional_id("location_id", &r.location_id, LocationId::parse)?,
            kind: AppointmentKind::from_proto_field(r.kind, "kind")?,
            clinician: optional_id("clinician_id", &r.clinician_id, ClinicianId::parse)?,
            room: optional_id("room_id", &r.room_id, RoomId::parse)?,
            patient: optional_id("patient_id", &r.patient_id, PatientId::parse)?,
            length_minutes: r.length_minutes,
            from: optional_date("from_date", r.from_date.as_ref())?,
            to: optional_date("to_date", r.to_date.as_ref())?,
        };
        let (slots, next) = self
            .availability
            .search(&who, q, r.page_size, &r.page_token)
            .await?;
        Ok(Response::new(pb::SearchSlotsResponse {
            slots: slots.into_iter().map(slot_to_proto).collect(),
            next_page_token: next.unwrap_or_default(),
        }))
    }
}

fn week_to_proto(w: Week) -> pb::WorkingHours {
    pb::WorkingHours {
        clinician_id: w.clinician_id.to_string(),
        location_id: w.location_id.to_string(),
        etag: w.etag(),
        hours: w
            .hours
            .iter()
            .map(|h| pb::WeeklyHours {
                day: Day::of(h.day).to_proto(),
                start_time: h.start.format("%H:%M").to_string(),
                end_time: h.end.format("%H:%M").to_string(),
            })
            .collect(),
        update_time: (w.version > 0).then(|| timestamp_from_micros(w.update_time_us)),
        updated_by: w.updated_by,
    }
}

fn exception_to_proto(e: StoredException) -> pb::AvailabilityException {
    pb::AvailabilityException {
        id: e.id.to_string(),
        kind: e.kind.to_proto(),
        clinician_id: e.clinician_id.map(|c| c.to_string()).unwrap_or_default(),
        location_id: e.location_id.map(|l| l.to_string()).unwrap_or_default(),
        start_time: Some(timestamp_from_micros(e.start_us)),
        end_time: Some(timestamp_from_micros(e.end_us)),
        reason: e.reason,
        created_by: e.created_by,
        create_time: Some(timestamp_from_micros(e.create_time_us)),
    }
}

fn slot_to_proto(s: FoundSlot) -> pb::Slot {
    pb::Slot {
        start_time: Some(timestamp_from_micros(s.start_us)),
        end_time: Some(timestamp_from_micros(s.end_us)),
        clinician_id: s.clinician_id.to_string(),
        room_id: s.room_id.map(|r| r.to_string()).unwrap_or_default(),
    }
}
