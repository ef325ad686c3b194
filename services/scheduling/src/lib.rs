//! The scheduling service. Its first part is time itself, free of I/O: local wall-clock
//! times in a location's zone and their instants across daylight-saving changes
//! ([`clock`]), intervals ([`interval`]), weekly recurring series ([`recurrence`]) and
//! clinicians' working hours ([`availability`]) — what booking, slot search and the
//! waitlist stand on — conflicts naming every clashing occurrence ([`conflicts`]), slot
//! search ([`slots`]), a patient's minutes per week ([`week`]) and calendar feeds
//! ([`feed`]).

pub mod availability;
pub mod clock;
pub mod conflicts;
pub mod feed;
pub mod interval;
pub mod recurrence;
pub mod slots;
pub mod week;
