//! The scheduling service (`iop.scheduling.v1`): every operation the gateway forwards to it,
//! declared once, and the REST handlers that map JSON onto its messages.

pub(crate) mod locations;

use crate::policy::{Role, Rule};

/// Its resource types (FHIR names, as scopes say them: `system/Location.rs`).
#[allow(non_upper_case_globals)]
pub mod resources {
    use crate::policy::Resource;

    /// A site of the clinic (and, later, its rooms: FHIR models both as Location).
    pub const Location: Resource = Resource::named("Location");

    pub const ALL: &[Resource] = &[Location];
}

/// Sites are set up by those who run the clinic; everyone on staff sees them.
const RULES: &[Rule] = &[
    (Role::Admin, resources::Location, "crus"),
    (Role::ProgramDirector, resources::Location, "crus"),
    (Role::Clinician, resources::Location, "rs"),
    (Role::FrontDesk, resources::Location, "rs"),
];

const BEYOND_ROLES: &str = "A location's name is unique within the clinic.";

const TAGS: &[(&str, &str)] = &[(
    "locations",
    "The clinic's sites and the time zone each one's schedule is kept in",
)];

/// Nothing across fields yet.
fn schema_rules(_: &mut serde_json::Map<String, serde_json::Value>) {}

crate::operation::backend_operations! {
    backend "scheduling";
    tags TAGS;
    schema rules schema_rules;
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
    }
}
