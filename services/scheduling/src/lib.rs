//! The scheduling service. Its first part is time itself, free of I/O: local wall-clock
//! times in a location's zone and their instants across daylight-saving changes
//! ([`clock`]), intervals ([`interval`]), weekly recurring series ([`recurrence`]) and
//! clinicians' working hours ([`availability`]) — what booking, slot search and the
//! waitlist stand on.

pub mod availability;
pub mod clock;
pub mod interval;
pub mod recurrence;
