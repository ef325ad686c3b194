//! The group-session service (`iop.groups.v1`): every operation the gateway forwards to it,
//! declared once, and the REST handlers that map JSON onto its messages.

pub(crate) mod programs;
pub(crate) mod tracks;

use crate::policy::{Role, Rule};

/// Its resource types (FHIR names, as scopes say them: `system/PlanDefinition.rs`).
#[allow(non_upper_case_globals)]
pub mod resources {
    use crate::policy::Resource;

    /// What the clinic offers: a program, or a track of one (FHIR's PlanDefinition).
    pub const PlanDefinition: Resource = Resource::named("PlanDefinition");

    pub const ALL: &[Resource] = &[PlanDefinition];
}

/// Programs and tracks are set up by those who run the clinic; everyone on staff reads them
/// and the catalog (it holds no patient data), as do backend clients with
/// `system/PlanDefinition.rs` — a referral partner choosing a program for a patient.
const RULES: &[Rule] = &[
    (Role::Admin, resources::PlanDefinition, "crus"),
    (Role::ProgramDirector, resources::PlanDefinition, "crus"),
    (Role::Clinician, resources::PlanDefinition, "rs"),
    (Role::FrontDesk, resources::PlanDefinition, "rs"),
];

const BEYOND_ROLES: &str = "A program's name, and a track's name within its program, are \
    unique within the clinic. A track names an active program, a location, an active room of \
    that location seating its capacity (in person) and active facilitators, all of the \
    clinic, as the scheduling service answers; each of its sessions holds the room and \
    facilitators there, so a track clashing with their other bookings is refused.";

const TAGS: &[(&str, &str)] = &[
    (
        "programs",
        "The clinic's treatment programs and the catalog a person choosing one reads",
    ),
    (
        "tracks",
        "A program's tracks: rolling groups meeting weekly in their location's local time",
    ),
];

/// What the group service checks across fields of a body, in JSON Schema terms.
fn schema_rules(schemas: &mut serde_json::Map<String, serde_json::Value>) {
    use serde_json::json;
    let mut refine = |name: &str, rule| super::refine(schemas, name, rule);
    for body in ["NewProgram", "ProgramUpdate"] {
        refine(
            body,
            json!({ "properties": {
                "therapies": { "uniqueItems": true },
                "staff_clinician_ids": { "uniqueItems": true },
            } }),
        );
    }
    // Weekly minutes are 60-2400, or 0 for the population's default.
    refine(
        "ProgramUpdate",
        json!({ "properties": { "weekly_minutes": { "anyOf": [{ "const": 0 }, { "minimum": 60 }] } } }),
    );
    // A track meets in person in a room or by video without one; only a program is hybrid.
    refine(
        "NewTrack",
        json!({ "properties": {
            "modality": { "not": { "const": "hybrid" } },
            "facilitator_clinician_ids": { "uniqueItems": true },
        } }),
    );
    refine(
        "NewTrack",
        json!({
            "if": { "properties": { "modality": { "const": "in_person" } }, "required": ["modality"] },
            "then": { "required": ["room_id"], "properties": { "room_id": { "type": "string" } } },
            "else": { "properties": { "room_id": { "type": "null" } } },
        }),
    );
}

crate::operation::backend_operations! {
    backend "groups";
    tags TAGS;
    schema rules schema_rules;
    public routes super::no_public_routes;
    resources resources::ALL, rules RULES, beyond roles BEYOND_ROLES;
    package "iop.groups.v1" in groups;

    service ProgramService(program_service_server::ProgramServiceServer, program_service_client::ProgramServiceClient) {
        CreateProgram = create_program(CreateProgramRequest) -> Program {
            needs: PlanDefinition.Create, audit: "program.create", data: None,
            asks: nothing, gives: id, rest: programs::create,
        }
        GetProgram = get_program(GetProgramRequest) -> Program {
            needs: PlanDefinition.Read, audit: "program.read", data: None,
            asks: id, gives: id, rest: programs::get,
        }
        ListPrograms = list_programs(ListProgramsRequest) -> ListProgramsResponse {
            needs: PlanDefinition.Search, audit: "program.search", data: None,
            asks: nothing, gives: each(programs, id), rest: programs::list,
        }
        UpdateProgram = update_program(UpdateProgramRequest) -> Program {
            needs: PlanDefinition.Update, audit: "program.update", data: None,
            asks: each(program, id), gives: id, rest: programs::update,
        }
        CreateTrack = create_track(CreateTrackRequest) -> Track {
            needs: PlanDefinition.Create, audit: "track.create", data: None,
            asks: nothing, gives: id, rest: tracks::create,
        }
        GetTrack = get_track(GetTrackRequest) -> Track {
            needs: PlanDefinition.Read, audit: "track.read", data: None,
            asks: id, gives: id, rest: tracks::get,
        }
        ListTracks = list_tracks(ListTracksRequest) -> ListTracksResponse {
            needs: PlanDefinition.Search, audit: "track.search", data: None,
            asks: nothing, gives: each(tracks, id), rest: tracks::list,
        }
        ListSessions = list_sessions(ListSessionsRequest) -> ListSessionsResponse {
            needs: PlanDefinition.Read, audit: "track.sessions", data: None,
            asks: named(track_id), gives: nothing, rest: tracks::sessions,
        }
        GetCatalog = get_catalog(GetCatalogRequest) -> Catalog {
            needs: PlanDefinition.Search, audit: "program.catalog", data: None,
            asks: nothing, gives: nothing, rest: programs::catalog,
        }
    }
}
