//! `iop.scheduling.v1.AppointmentService`.

use iop_core::{
    AppointmentId, ClinicianId, ContactId, Error, LocationId, PatientId, ReferralId, RoomId,
    SeriesId,
};
use iop_kit::principal;
use iop_proto::scheduling::{self as pb, appointment_service_server::AppointmentService};
use iop_proto::{micros_from_timestamp, timestamp_from_micros};
use tonic::{Request, Response, Status};

use super::store::AppointmentQuery;
use super::{
    Appointment, Appointments, CancellationKind, Modality, Move, NewAppointment, NewHold,
    SeriesScope, Status as AppointmentStatus,
};
use crate::clinicians::AppointmentKind;
use iop_kit::fields::{optional_date, optional_id};

pub struct AppointmentApi {
    appointments: Appointments,
}

impl AppointmentApi {
    pub fn new(appointments: Appointments) -> Self {
        Self { appointments }
    }
}

#[tonic::async_trait]
impl AppointmentService for AppointmentApi {
    async fn book_appointment(
        &self,
        req: Request<pb::BookAppointmentRequest>,
    ) -> Result<Response<pb::BookAppointmentResponse>, Status> {
        let who = principal(&req)?;
        let r = req.into_inner();
        let a = r.appointment.unwrap_or_default();
        let new = NewAppointment {
            kind: AppointmentKind::from_proto_field(a.kind, "appointment.kind")?,
            patient_id: optional_id("appointment.patient_id", &a.patient_id, PatientId::parse)?,
            clinician_ids: a
                .clinician_ids
                .iter()
                .enumerate()
                .map(|(i, c)| ClinicianId::parse(&format!("appointment.clinician_ids[{i}]"), c))
                .collect::<Result<_, _>>()?,
            location_id: optional_id("appointment.location_id", &a.location_id, LocationId::parse)?,
            modality: Modality::from_proto_field(a.modality, "appointment.modality")?,
            room_id: optional_id("appointment.room_id", &a.room_id, RoomId::parse)?,
            join_url: a.join_url,
            start_us: a.start_time.as_ref().map(micros_from_timestamp),
            end_us: a.end_time.as_ref().map(micros_from_timestamp),
            overlap_reason: a.overlap_reason,
            recurrence: r.recurrence,
            referral_id: optional_id("appointment.referral_id", &a.referral_id, ReferralId::parse)?,
            family_contact_ids: a
                .family_contact_ids
                .iter()
                .enumerate()
                .map(|(i, c)| ContactId::parse(&format!("appointment.family_contact_ids[{i}]"), c))
                .collect::<Result<_, _>>()?,
        };
        let (made, series) = self.appointments.book(&who, new, &r.request_id).await?;
        Ok(Response::new(pb::BookAppointmentResponse {
            appointments: made.into_iter().map(to_proto).collect(),
            series_id: series.map(|s| s.to_string()).unwrap_or_default(),
        }))
    }

    async fn place_hold(
        &self,
        req: Request<pb::PlaceHoldRequest>,
    ) -> Result<Response<pb::Appointment>, Status> {
        let who = principal(&req)?;
        let r = req.into_inner();
        let hold = NewHold {
            key: r.hold_key,
            location_id: optional_id("location_id", &r.location_id, LocationId::parse)?,
            room_id: optional_id("room_id", &r.room_id, RoomId::parse)?,
            clinician_ids: r
                .clinician_ids
                .iter()
                .enumerate()
                .map(|(i, c)| ClinicianId::parse(&format!("clinician_ids[{i}]"), c))
                .collect::<Result<_, _>>()?,
            start_us: r.start_time.as_ref().map(micros_from_timestamp),
            end_us: r.end_time.as_ref().map(micros_from_timestamp),
        };
        Ok(Response::new(to_proto(
            self.appointments.hold(&who, hold).await?,
        )))
    }

    async fn release_hold(
        &self,
        req: Request<pb::ReleaseHoldRequest>,
    ) -> Result<Response<pb::Appointment>, Status> {
        let who = principal(&req)?;
        let r = req.get_ref();
        let id = AppointmentId::parse("id", &r.id)?;
        Ok(Response::new(to_proto(
            self.appointments.release(&who, id, &r.reason).await?,
        )))
    }

    async fn get_appointment(
        &self,
        req: Request<pb::GetAppointmentRequest>,
    ) -> Result<Response<pb::Appointment>, Status> {
        let who = principal(&req)?;
        let id = AppointmentId::parse("id", &req.get_ref().id)?;
        Ok(Response::new(to_proto(
            self.appointments.read(&who, id).await?,
        )))
    }

    async fn list_appointments(
        &self,
        req: Request<pb::ListAppointmentsRequest>,
    ) -> Result<Response<pb::ListAppointmentsResponse>, Status> {
        let who = principal(&req)?;
        let r = req.get_ref();
        let q = AppointmentQuery {
            patient: optional_id("patient_id", &r.patient_id, PatientId::parse)?,
            clinician: optional_id("clinician_id", &r.clinician_id, ClinicianId::parse)?,
            room: optional_id("room_id", &r.room_id, RoomId::parse)?,
            series: optional_id("series_id", &r.series_id, SeriesId::parse)?,
            from_us: r.from_time.as_ref().map(micros_from_timestamp),
            to_us: r.to_time.as_ref().map(micros_from_timestamp),
            status: AppointmentStatus::from_proto_field(r.status, "status")?,
            ..Default::default()
        };
        let (rows, next) = self
            .appointments
            .list(&who, q, r.page_size, &r.page_token)
            .await?;
        Ok(Response::new(pb::ListAppointmentsResponse {
            appointments: rows.into_iter().map(to_proto).collect(),
            next_page_token: next.unwrap_or_default(),
        }))
    }

    async fn cancel_appointment(
        &self,
        req: Request<pb::CancelAppointmentRequest>,
    ) -> Result<Response<pb::CancelAppointmentResponse>, Status> {
        let who = principal(&req)?;
        let r = req.into_inner();
        let id = AppointmentId::parse("id", &r.id)?;
        let kind = CancellationKind::from_proto_field(r.kind, "kind")?;
        let scope = SeriesScope::from_proto_field(r.scope, "scope")?.unwrap_or(SeriesScope::This);
        let done = self
            .appointments
            .cancel(&who, id, kind, &r.reason, &r.etag, scope)
            .await?;
        Ok(Response::new(pb::CancelAppointmentResponse {
            appointments: done.into_iter().map(to_proto).collect(),
        }))
    }

    async fn get_patient_weeks(
        &self,
        req: Request<pb::GetPatientWeeksRequest>,
    ) -> Result<Response<pb::PatientWeeks>, Status> {
        let who = principal(&req)?;
        let r = req.get_ref();
        let patient = PatientId::parse("patient_id", &r.patient_id)?;
        let location = LocationId::parse("location_id", &r.location_id)?;
        let date = |field: &str, d: Option<&iop_proto::common::Date>| {
            optional_date(field, d)?.ok_or_else(|| Error::field(field, "is required"))
        };
        let from = date("from_date", r.from_date.as_ref())?;
        let to = date("to_date", r.to_date.as_ref())?;
        let weeks = self
            .appointments
            .weeks(&who, patient, location, from, to)
            .await?;
        Ok(Response::new(pb::PatientWeeks {
            patient_id: patient.to_string(),
            weeks: weeks
                .into_iter()
                .map(|w| pb::WeekMinutes {
                    week: w.week,
                    kind: w.kind.to_proto(),
                    scheduled_minutes: i32::try_from(w.scheduled).unwrap_or(i32::MAX),
                    completed_minutes: i32::try_from(w.completed).unwrap_or(i32::MAX),
                })
                .collect(),
        }))
    }

    async fn reschedule_appointment(
        &self,
        req: Request<pb::RescheduleAppointmentRequest>,
    ) -> Result<Response<pb::Appointment>, Status> {
        let who = principal(&req)?;
        let r = req.into_inner();
        let id = AppointmentId::parse("id", &r.id)?;
        let to = Move {
            start_us: r.start_time.as_ref().map(micros_from_timestamp),
            end_us: r.end_time.as_ref().map(micros_from_timestamp),
            overlap_reason: r.overlap_reason,
            scope: SeriesScope::from_proto_field(r.scope, "scope")?.unwrap_or(SeriesScope::This),
        };
        let moved = self.appointments.reschedule(&who, id, to, &r.etag).await?;
        Ok(Response::new(to_proto(moved)))
    }

    async fn set_appointment_status(
        &self,
        req: Request<pb::SetAppointmentStatusRequest>,
    ) -> Result<Response<pb::Appointment>, Status> {
        let who = principal(&req)?;
        let r = req.into_inner();
        let id = AppointmentId::parse("id", &r.id)?;
        let to = AppointmentStatus::from_proto_field(r.status, "status")?;
        let a = self.appointments.set_status(&who, id, to, &r.etag).await?;
        Ok(Response::new(to_proto(a)))
    }
}

pub(crate) fn to_proto(a: Appointment) -> pb::Appointment {
    let etag = a.etag();
    pb::Appointment {
        id: a.id.to_string(),
        kind: a.kind.to_proto(),
        patient_id: a.patient_id.map(|p| p.to_string()).unwrap_or_default(),
        clinician_ids: a.clinician_ids.iter().map(ToString::to_string).collect(),
        location_id: a.location_id.to_string(),
        modality: a.modality.to_proto(),
        room_id: a.room_id.map(|r| r.to_string()).unwrap_or_default(),
        join_url: a.join_url,
        start_time: Some(timestamp_from_micros(a.start_us)),
        end_time: Some(timestamp_from_micros(a.end_us)),
        status: a.status.to_proto(),
        series_id: a.series_id.map(|s| s.to_string()).unwrap_or_default(),
        overlap_reason: a.overlap_reason,
        cancellation: a.cancellation.map(|c| pb::Cancellation {
            kind: c.kind.to_proto(),
            reason: c.reason,
            by: c.by,
            time: Some(timestamp_from_micros(c.time_us)),
        }),
        booked_by: a.booked_by,
        create_time: Some(timestamp_from_micros(a.create_time_us)),
        etag,
        rescheduled_from: a
            .rescheduled_from
            .map(|r| r.to_string())
            .unwrap_or_default(),
        rescheduled_to: a.rescheduled_to.map(|r| r.to_string()).unwrap_or_default(),
        referral_id: a.referral_id.map(|r| r.to_string()).unwrap_or_default(),
        family_contact_ids: a
            .family_contact_ids
            .iter()
            .map(ToString::to_string)
            .collect(),
    }
}
