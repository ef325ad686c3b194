//! The scheduling service (`iop.scheduling.v1`): every operation the gateway forwards to it,
//! declared once, and the REST handlers that map JSON onto its messages.

pub(crate) mod appointments;
pub(crate) mod availability;
pub(crate) mod clinicians;
pub(crate) mod feeds;
pub(crate) mod kinds;
pub(crate) mod locations;
pub(crate) mod rooms;
pub(crate) mod waitlist;

use crate::policy::{Role, Rule};

/// Its resource types (FHIR names, as scopes say them: `system/Location.rs`).
#[allow(non_upper_case_globals)]
pub mod resources {
    use crate::policy::Resource;

    /// A site of the clinic, or a room of one (FHIR models both as Location).
    pub const Location: Resource = Resource::named("Location");
    /// A clinician of the clinic.
    pub const Practitioner: Resource = Resource::named("Practitioner");
    /// A booked appointment (one occurrence of a series), or a place on the waitlist (FHIR's
    /// Appointment with status `waitlist`).
    pub const Appointment: Resource = Resource::named("Appointment");
    /// When a clinician works: weekly hours and exceptions (time off, closures, extra hours).
    pub const Schedule: Resource = Resource::named("Schedule");
    /// A free time found by slot search.
    pub const Slot: Resource = Resource::named("Slot");
    /// How the clinic offers a kind of appointment: length, modalities, billing code.
    pub const ActivityDefinition: Resource = Resource::named("ActivityDefinition");
    /// A calendar feed: the secret address a calendar app subscribes to.
    pub const Endpoint: Resource = Resource::named("Endpoint");

    pub const ALL: &[Resource] = &[
        Location,
        Practitioner,
        Appointment,
        Schedule,
        Slot,
        ActivityDefinition,
        Endpoint,
    ];
}

/// Sites, rooms and clinicians are set up by those who run the clinic; everyone on staff sees
/// them. The front desk books, reads and cancels appointments and keeps the waitlist (they
/// hold no clinical content), as do clinicians and program directors. Working hours and time off are kept by
/// those who run the clinic and the front desk; everyone on staff reads them and searches
/// free slots. How each kind of appointment is offered and billed is set by those who run
/// the clinic; everyone on staff reads it. Calendar feeds are made and revoked by staff;
/// the scheduling service lets a clinician make or revoke only a feed of their own schedule.
const RULES: &[Rule] = &[
    (Role::Admin, resources::Endpoint, "csu"),
    (Role::ProgramDirector, resources::Endpoint, "csu"),
    (Role::FrontDesk, resources::Endpoint, "csu"),
    (Role::Clinician, resources::Endpoint, "csu"),
    (Role::Admin, resources::ActivityDefinition, "rus"),
    (Role::ProgramDirector, resources::ActivityDefinition, "rus"),
    (Role::FrontDesk, resources::ActivityDefinition, "rs"),
    (Role::Clinician, resources::ActivityDefinition, "rs"),
    (Role::Admin, resources::Schedule, "crusd"),
    (Role::ProgramDirector, resources::Schedule, "crusd"),
    (Role::FrontDesk, resources::Schedule, "crusd"),
    (Role::Clinician, resources::Schedule, "rs"),
    (Role::Admin, resources::Slot, "rs"),
    (Role::ProgramDirector, resources::Slot, "rs"),
    (Role::FrontDesk, resources::Slot, "rs"),
    (Role::Clinician, resources::Slot, "rs"),
    (Role::Admin, resources::Appointment, "crus"),
    (Role::ProgramDirector, resources::Appointment, "crus"),
    (Role::Clinician, resources::Appointment, "crus"),
    (Role::FrontDesk, resources::Appointment, "crus"),
    (Role::Admin, resources::Location, "crus"),
    (Role::ProgramDirector, resources::Location, "crus"),
    (Role::Clinician, resources::Location, "rs"),
    (Role::FrontDesk, resources::Location, "rs"),
    (Role::Admin, resources::Practitioner, "crus"),
    (Role::ProgramDirector, resources::Practitioner, "crus"),
    (Role::Clinician, resources::Practitioner, "rs"),
    (Role::FrontDesk, resources::Practitioner, "rs"),
];

const BEYOND_ROLES: &str = "A location's name, a room's name within its location, and a \
    clinician's NPI and user id, are unique within the clinic. No clinician, room or patient \
    is booked twice at once, unless booked over on purpose with a reason. A clinician signed \
    in as themselves sees, cancels, moves and checks in only appointments of their own \
    schedule and of their patients (those they have an appointment with), and makes and \
    revokes calendar feeds of their own schedule only; a feed's secret URL is answered \
    without a token, audited.";

const TAGS: &[(&str, &str)] = &[
    (
        "locations",
        "The clinic's sites and the time zone each one's schedule is kept in",
    ),
    ("rooms", "Rooms of the clinic's locations"),
    (
        "clinicians",
        "The clinic's clinicians: credentials, NPI, the kinds of appointment each provides",
    ),
    (
        "appointments",
        "Appointments, one or a weekly series, never double-booked; cancelling frees the time",
    ),
    (
        "appointment kinds",
        "How the clinic offers each kind of appointment: default length, modalities, billing code",
    ),
    (
        "waitlist",
        "Patients waiting for a kind of appointment; freed time is offered to them on its own",
    ),
    (
        "calendar feeds",
        "iCalendar feeds of a clinician's or a room's schedule behind revocable secret URLs",
    ),
    (
        "availability",
        "When clinicians work (weekly hours in local time, time off, closures, extra hours) \
         and the free slots that leaves",
    ),
];

/// What the scheduling service checks across fields of a body, in JSON Schema terms.
fn schema_rules(schemas: &mut serde_json::Map<String, serde_json::Value>) {
    use serde_json::json;
    let mut refine = |name: &str, rule| super::refine(schemas, name, rule);
    // No credential or kind twice.
    refine(
        "NewClinician",
        json!({ "properties": {
            "credentials": { "uniqueItems": true },
            "kinds": { "uniqueItems": true },
        } }),
    );
    // A status change moves on; booking and cancelling have their own operations.
    refine(
        "AppointmentStatusChange",
        json!({ "properties": { "status": { "enum": ["checked_in", "completed", "no_show"] } } }),
    );
    // In person takes a room and no link; telehealth a link and no room. A group hold is
    // placed by the group service, not booked.
    refine(
        "NewAppointment",
        json!({
            "if": { "properties": { "modality": { "const": "in_person" } }, "required": ["modality"] },
            "then": {
                "required": ["room_id"],
                "properties": { "room_id": { "type": "string" }, "join_url": { "maxLength": 0 } },
            },
        }),
    );
    refine(
        "NewAppointment",
        json!({
            "if": { "properties": { "modality": { "const": "telehealth" } }, "required": ["modality"] },
            "then": {
                "required": ["join_url"],
                "properties": { "join_url": { "minLength": 1 }, "room_id": { "type": "null" } },
            },
        }),
    );
    refine(
        "NewAppointment",
        json!({ "properties": { "kind": { "not": { "const": "group_hold" } } } }),
    );
    refine(
        "NewAppointment",
        json!({ "properties": { "clinician_ids": { "uniqueItems": true } } }),
    );
    // Family contacts take part in family sessions only, each once.
    refine(
        "NewAppointment",
        json!({
            "if": { "required": ["family_contact_ids"], "properties": { "family_contact_ids": { "minItems": 1 } } },
            "then": { "properties": { "kind": { "const": "family_session" } } },
        }),
    );
    refine(
        "NewAppointment",
        json!({ "properties": { "family_contact_ids": { "uniqueItems": true } } }),
    );
    // A referral's intake is one intake assessment, not a series.
    refine(
        "NewAppointment",
        json!({
            "if": { "required": ["referral_id"], "properties": { "referral_id": { "type": "string" } } },
            "then": {
                "properties": {
                    "kind": { "const": "intake_assessment" },
                    "recurrence": { "maxLength": 0 },
                },
            },
        }),
    );
    refine(
        "AppointmentKindUpdate",
        json!({ "properties": { "modalities": { "uniqueItems": true } } }),
    );
    // A hold holds a room, facilitators, or both.
    refine(
        "NewHold",
        json!({ "anyOf": [
            { "required": ["room_id"], "properties": { "room_id": { "type": "string" } } },
            { "required": ["clinician_ids"], "properties": { "clinician_ids": { "minItems": 1 } } },
        ] }),
    );
    refine(
        "NewHold",
        json!({ "properties": { "clinician_ids": { "uniqueItems": true } } }),
    );
    // A waitlist entry waits for an appointment kind (not a group's hold), naming each
    // preference once (services/scheduling/src/waitlist.rs `NewEntry::check`).
    refine(
        "NewWaitlistEntry",
        json!({ "properties": {
            "kind": { "not": { "const": "group_hold" } },
            "clinician_ids": { "uniqueItems": true },
            "days": { "uniqueItems": true },
            "modalities": { "uniqueItems": true },
        } }),
    );
    // A calendar feed is of a clinician's schedule or a room's, exactly one.
    refine(
        "NewCalendarFeed",
        json!({ "oneOf": [
            {
                "required": ["clinician_id"],
                "properties": { "clinician_id": { "type": "string" }, "room_id": { "type": "null" } },
            },
            {
                "required": ["room_id"],
                "properties": { "room_id": { "type": "string" }, "clinician_id": { "type": "null" } },
            },
        ] }),
    );
    // Extra hours are a clinician's at a location; time off names a clinician, a location
    // (a closure) or both (services/scheduling/src/availability.rs `NewException::check`).
    let named =
        |field: &str| json!({ "required": [field], "properties": { field: { "type": "string" } } });
    refine(
        "NewAvailabilityException",
        json!({
            "if": { "properties": { "kind": { "const": "extra_hours" } }, "required": ["kind"] },
            "then": { "allOf": [named("clinician_id"), named("location_id")] },
            "else": { "anyOf": [named("clinician_id"), named("location_id")] },
        }),
    );
}

crate::operation::backend_operations! {
    backend "scheduling";
    tags TAGS;
    schema rules schema_rules;
    public routes feeds::public_routes;
    resources resources::ALL, rules RULES, beyond roles BEYOND_ROLES;
    package "iop.scheduling.v1" in scheduling;

    service LocationService(location_service_server::LocationServiceServer, location_service_client::LocationServiceClient) {
        CreateLocation = create_location(CreateLocationRequest) -> Location {
            needs: Location.Create, audit: "location.create", data: None,
            asks: nothing, gives: id, rest: locations::create,
        }
        GetLocation = get_location(GetLocationRequest) -> Location {
            needs: Location.Read, audit: "location.read", data: None,
            asks: id, gives: id, rest: locations::get,
        }
        ListLocations = list_locations(ListLocationsRequest) -> ListLocationsResponse {
            needs: Location.Search, audit: "location.search", data: None,
            asks: nothing, gives: each(locations, id), rest: locations::list,
        }
        CreateRoom = create_room(CreateRoomRequest) -> Room {
            needs: Location.Create, audit: "room.create", data: None,
            asks: nothing, gives: id, rest: rooms::create,
        }
        GetRoom = get_room(GetRoomRequest) -> Room {
            needs: Location.Read, audit: "room.read", data: None,
            asks: id, gives: id, rest: rooms::get,
        }
        ListRooms = list_rooms(ListRoomsRequest) -> ListRoomsResponse {
            needs: Location.Search, audit: "room.search", data: None,
            asks: nothing, gives: each(rooms, id), rest: rooms::list,
        }
    }

    service AppointmentKindService(appointment_kind_service_server::AppointmentKindServiceServer, appointment_kind_service_client::AppointmentKindServiceClient) {
        ListAppointmentKinds = list_appointment_kinds(ListAppointmentKindsRequest) -> ListAppointmentKindsResponse {
            needs: ActivityDefinition.Search, audit: "appointment_kind.search", data: None,
            asks: nothing, gives: nothing, rest: kinds::list,
        }
        UpdateAppointmentKind = update_appointment_kind(UpdateAppointmentKindRequest) -> AppointmentKindSettings {
            needs: ActivityDefinition.Update, audit: "appointment_kind.update", data: None,
            asks: nothing, gives: nothing, rest: kinds::update,
        }
    }

    service ClinicianService(clinician_service_server::ClinicianServiceServer, clinician_service_client::ClinicianServiceClient) {
        CreateClinician = create_clinician(CreateClinicianRequest) -> Clinician {
            needs: Practitioner.Create, audit: "clinician.create", data: None,
            asks: nothing, gives: id, rest: clinicians::create,
        }
        GetClinician = get_clinician(GetClinicianRequest) -> Clinician {
            needs: Practitioner.Read, audit: "clinician.read", data: None,
            asks: id, gives: id, rest: clinicians::get,
        }
        ListClinicians = list_clinicians(ListCliniciansRequest) -> ListCliniciansResponse {
            needs: Practitioner.Search, audit: "clinician.search", data: None,
            asks: nothing, gives: each(clinicians, id), rest: clinicians::list,
        }
    }

    service AppointmentService(appointment_service_server::AppointmentServiceServer, appointment_service_client::AppointmentServiceClient) {
        BookAppointment = book_appointment(BookAppointmentRequest) -> BookAppointmentResponse {
            needs: Appointment.Create, audit: "appointment.book", data: Attendance,
            asks: each(appointment, patient), gives: each(appointments, resource), rest: appointments::book,
            audit as: appointments::booked_over,
        }
        GetAppointment = get_appointment(GetAppointmentRequest) -> Appointment {
            needs: Appointment.Read, audit: "appointment.read", data: Attendance,
            asks: id, gives: resource, rest: appointments::get,
        }
        ListAppointments = list_appointments(ListAppointmentsRequest) -> ListAppointmentsResponse {
            needs: Appointment.Search, audit: "appointment.search", data: Attendance,
            asks: patient_filter, gives: each(appointments, resource), rest: appointments::list,
        }
        CancelAppointment = cancel_appointment(CancelAppointmentRequest) -> CancelAppointmentResponse {
            needs: Appointment.Update, audit: "appointment.cancel", data: Attendance,
            asks: id, gives: each(appointments, resource), rest: appointments::cancel,
        }
        GetPatientWeeks = get_patient_weeks(GetPatientWeeksRequest) -> PatientWeeks {
            needs: Appointment.Search, audit: "appointment.weeks", data: Attendance,
            asks: patient, gives: patient, rest: appointments::weeks,
        }
        RescheduleAppointment = reschedule_appointment(RescheduleAppointmentRequest) -> Appointment {
            needs: Appointment.Update, audit: "appointment.reschedule", data: Attendance,
            asks: id, gives: resource, rest: appointments::reschedule,
            audit as: appointments::moved_over,
        }
        PlaceHold = place_hold(PlaceHoldRequest) -> Appointment {
            needs: Appointment.Create, audit: "hold.place", data: None,
            asks: nothing, gives: id, rest: appointments::place_hold,
        }
        ReleaseHold = release_hold(ReleaseHoldRequest) -> Appointment {
            needs: Appointment.Update, audit: "hold.release", data: None,
            asks: id, gives: id, rest: appointments::release_hold,
        }
        SetAppointmentStatus = set_appointment_status(SetAppointmentStatusRequest) -> Appointment {
            needs: Appointment.Update, audit: "appointment.status", data: Attendance,
            asks: id, gives: resource, rest: appointments::set_status,
        }
    }

    service WaitlistService(waitlist_service_server::WaitlistServiceServer, waitlist_service_client::WaitlistServiceClient) {
        CreateWaitlistEntry = create_waitlist_entry(CreateWaitlistEntryRequest) -> WaitlistEntry {
            needs: Appointment.Create, audit: "waitlist.create", data: Attendance,
            asks: each(entry, patient), gives: resource, rest: waitlist::create,
        }
        GetWaitlistEntry = get_waitlist_entry(GetWaitlistEntryRequest) -> WaitlistEntry {
            needs: Appointment.Read, audit: "waitlist.read", data: Attendance,
            asks: id, gives: resource, rest: waitlist::get,
        }
        ListWaitlistEntries = list_waitlist_entries(ListWaitlistEntriesRequest) -> ListWaitlistEntriesResponse {
            needs: Appointment.Search, audit: "waitlist.search", data: Attendance,
            asks: patient_filter, gives: each(entries, resource), rest: waitlist::list,
        }
        WithdrawWaitlistEntry = withdraw_waitlist_entry(WithdrawWaitlistEntryRequest) -> WaitlistEntry {
            needs: Appointment.Update, audit: "waitlist.withdraw", data: Attendance,
            asks: id, gives: resource, rest: waitlist::withdraw,
        }
        AcceptWaitlistOffer = accept_waitlist_offer(AcceptWaitlistOfferRequest) -> AcceptWaitlistOfferResponse {
            needs: Appointment.Update, audit: "waitlist.accept", data: Attendance,
            asks: id, gives: each(entry, resource), rest: waitlist::accept,
        }
        DeclineWaitlistOffer = decline_waitlist_offer(DeclineWaitlistOfferRequest) -> WaitlistEntry {
            needs: Appointment.Update, audit: "waitlist.decline", data: Attendance,
            asks: id, gives: resource, rest: waitlist::decline,
        }
    }

    service CalendarFeedService(calendar_feed_service_server::CalendarFeedServiceServer, calendar_feed_service_client::CalendarFeedServiceClient) {
        CreateCalendarFeed = create_calendar_feed(CreateCalendarFeedRequest) -> CalendarFeed {
            needs: Endpoint.Create, audit: "calendar_feed.create", data: None,
            asks: nothing, gives: id, rest: feeds::create,
        }
        ListCalendarFeeds = list_calendar_feeds(ListCalendarFeedsRequest) -> ListCalendarFeedsResponse {
            needs: Endpoint.Search, audit: "calendar_feed.search", data: None,
            asks: nothing, gives: each(feeds, id), rest: feeds::list,
        }
        RevokeCalendarFeed = revoke_calendar_feed(RevokeCalendarFeedRequest) -> CalendarFeed {
            needs: Endpoint.Update, audit: "calendar_feed.revoke", data: None,
            asks: id, gives: id, rest: feeds::revoke,
        }
    }

    service AvailabilityService(availability_service_server::AvailabilityServiceServer, availability_service_client::AvailabilityServiceClient) {
        GetWorkingHours = get_working_hours(GetWorkingHoursRequest) -> WorkingHours {
            needs: Schedule.Read, audit: "working_hours.read", data: None,
            asks: named(clinician_id), gives: named(clinician_id), rest: availability::get_hours,
        }
        SetWorkingHours = set_working_hours(SetWorkingHoursRequest) -> WorkingHours {
            needs: Schedule.Update, audit: "working_hours.set", data: None,
            asks: each(working_hours, named(clinician_id)), gives: named(clinician_id), rest: availability::set_hours,
        }
        CreateAvailabilityException = create_availability_exception(CreateAvailabilityExceptionRequest) -> AvailabilityException {
            needs: Schedule.Create, audit: "availability_exception.create", data: None,
            asks: nothing, gives: id, rest: availability::create_exception,
        }
        GetAvailabilityException = get_availability_exception(GetAvailabilityExceptionRequest) -> AvailabilityException {
            needs: Schedule.Read, audit: "availability_exception.read", data: None,
            asks: id, gives: id, rest: availability::get_exception,
        }
        ListAvailabilityExceptions = list_availability_exceptions(ListAvailabilityExceptionsRequest) -> ListAvailabilityExceptionsResponse {
            needs: Schedule.Search, audit: "availability_exception.search", data: None,
            asks: nothing, gives: each(exceptions, id), rest: availability::list_exceptions,
        }
        DeleteAvailabilityException = delete_availability_exception(DeleteAvailabilityExceptionRequest) -> AvailabilityException {
            needs: Schedule.Delete, audit: "availability_exception.delete", data: None,
            asks: id, gives: id, rest: availability::delete_exception,
        }
        SearchSlots = search_slots(SearchSlotsRequest) -> SearchSlotsResponse {
            needs: Slot.Search, audit: "slot.search", data: Attendance,
            asks: patient_filter, gives: nothing, rest: availability::search_slots,
        }
    }
}
