//! Core types shared by every IOP service: ids, the error enum, the internal principal and
//! page tokens. No I/O lives here.

pub mod error;
pub mod ids;
pub mod page;
pub mod principal;

pub use error::{Error, ErrorCode, FieldViolation};
pub use ids::{
    AppointmentId, AssessmentId, ClinicianId, ConsentId, ContactId, EpisodeId, ExceptionId, FeedId,
    LocationId, NoteId, PatientId, PlanId, ProgramId, ReferralId, RoomId, SafetyFlagId, SeriesId,
    SessionId, TenantId, TrackId, WaitlistEntryId, WaitlistOfferId,
};
pub use principal::Principal;

/// Microseconds since the Unix epoch, UTC: how every service stores instants.
pub fn now_micros() -> i64 {
    chrono::Utc::now().timestamp_micros()
}
