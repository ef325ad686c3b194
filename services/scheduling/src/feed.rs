//! Calendar feeds (RFC 5545) of a clinician's or a room's bookings, for Google Calendar,
//! Outlook or Apple Calendar to subscribe to. A feed URL travels outside the clinic's
//! systems, so an entry shows only what the schedule needs — the kind of visit, the room or
//! telehealth, the patient's initials — never a name, a note or a diagnosis (HIPAA's minimum
//! necessary standard, 45 CFR 164.502(b)). Times are UTC (`…Z`, RFC 5545 §3.3.5 form 2), so
//! no VTIMEZONE is needed and every app shows them in its own zone.

use chrono::{DateTime, Utc};
use icalendar::{Calendar, Component, Event, EventLike, EventStatus};

use crate::interval::Span;

/// One booking as a feed shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// The appointment's or hold's id: the event's UID, stable across changes.
    pub id: String,
    /// e.g. "Individual therapy", "Group hold".
    pub kind: String,
    pub span: Span,
    /// The room's name; `None` for telehealth.
    pub room: Option<String>,
    /// e.g. "A.G."; `None` for a hold with no patient.
    pub patient_initials: Option<String>,
    pub cancelled: bool,
    /// When it last changed, and how many times (so apps replace their copy).
    pub updated: DateTime<Utc>,
    pub revision: u32,
}

/// A person's initials, e.g. "Ana María" "García López" → "A.G.". Letters only; none for a
/// name without any.
pub fn initials(given: &str, family: &str) -> String {
    [given, family]
        .iter()
        .filter_map(|part| part.chars().find(|c| c.is_alphabetic()))
        .flat_map(|c| c.to_uppercase().chain(std::iter::once('.')))
        .collect()
}

/// A kind as a calendar shows it: `individual_therapy` → "Individual therapy".
pub fn label(kind: &str) -> String {
    let words = kind.replace('_', " ");
    let mut chars = words.chars();
    chars
        .next()
        .map(|first| first.to_uppercase().chain(chars).collect())
        .unwrap_or_default()
}

/// The feed named `name` (e.g. "Dr. Kim — IOP schedule") with `entries`, as the text a
/// calendar app downloads (`text/calendar`, CRLF lines folded at 75 octets).
pub fn render(name: &str, entries: &[Entry]) -> String {
    let mut calendar = Calendar::empty();
    calendar
        .append_property(("VERSION", "2.0"))
        .append_property(("PRODID", "-//IOP Platform//Scheduling//EN"))
        .append_property(("CALSCALE", "GREGORIAN"))
        .append_property(("METHOD", "PUBLISH"))
        // How often subscribers should look again (RFC 7986 §5.7, and Outlook's own).
        .append_property(("REFRESH-INTERVAL;VALUE=DURATION", "PT15M"))
        .append_property(("X-PUBLISHED-TTL", "PT15M"))
        .name(name);
    for e in entries {
        let summary = match &e.patient_initials {
            Some(who) if !who.is_empty() => format!("{} — {who}", e.kind),
            _ => e.kind.clone(),
        };
        let event = Event::new()
            .uid(&format!("{}@iop", e.id))
            .timestamp(e.updated)
            .sequence(e.revision)
            .summary(&summary)
            .location(e.room.as_deref().unwrap_or("Telehealth"))
            .starts(e.span.start)
            .ends(e.span.end)
            .status(if e.cancelled {
                EventStatus::Cancelled
            } else {
                EventStatus::Confirmed
            })
            .done();
        calendar.push(event);
    }
    calendar.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: &str) -> DateTime<Utc> {
        s.parse().unwrap()
    }

    fn entry(id: &str, room: Option<&str>) -> Entry {
        Entry {
            id: id.into(),
            kind: "Individual therapy".into(),
            span: Span::new(t("2026-12-07T17:00:00Z"), t("2026-12-07T17:50:00Z")).unwrap(),
            room: room.map(str::to_owned),
            patient_initials: Some(initials("Ana María", "García López")),
            cancelled: false,
            updated: t("2026-12-01T09:00:00Z"),
            revision: 2,
        }
    }

    #[test]
    fn kinds_read_as_words() {
        assert_eq!(label("individual_therapy"), "Individual therapy");
        assert_eq!(label("group_hold"), "Group hold");
        assert_eq!(label(""), "");
    }

    #[test]
    fn initials_are_letters_only() {
        assert_eq!(initials("Ana María", "García López"), "A.G.");
        assert_eq!(initials("élodie", "O'Neil"), "É.O.");
        assert_eq!(initials("", "42"), "");
    }

    #[test]
    fn a_feed_parses_back_with_what_it_shows_and_nothing_more() {
        let long_room = "Group room 2, east wing; second floor\nnext to the \"quiet\" room — \
                         ask at the front desk if the door is locked on weekends";
        let mut cancelled = entry("b2", None);
        cancelled.cancelled = true;
        let text = render(
            "Dr. Kim — IOP schedule",
            &[entry("a1", Some(long_room)), cancelled],
        );

        assert!(text.contains("\r\n"));
        for line in text.split("\r\n") {
            assert!(line.len() <= 75, "not folded: {line:?}");
        }
        assert!(
            !text.contains("Ana") && !text.contains("García"),
            "a full name leaked"
        );

        let parsed: Calendar = text.parse().unwrap();
        let events: Vec<&Event> = parsed.events().collect();
        assert_eq!(events.len(), 2);
        assert_eq!(events[0].get_uid(), Some("a1@iop"));
        assert_eq!(events[0].get_summary(), Some("Individual therapy — A.G."));
        assert_eq!(events[0].get_location(), Some(long_room));
        assert_eq!(
            events[0].property_value("DTSTART"),
            Some("20261207T170000Z")
        );
        assert_eq!(events[0].property_value("DTEND"), Some("20261207T175000Z"));
        assert_eq!(events[0].get_status(), Some(EventStatus::Confirmed));
        assert_eq!(events[1].get_location(), Some("Telehealth"));
        assert_eq!(events[1].get_status(), Some(EventStatus::Cancelled));
        assert_eq!(parsed.get_name(), Some("Dr. Kim — IOP schedule"));
    }
}
