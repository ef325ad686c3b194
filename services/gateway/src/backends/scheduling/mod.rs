//! The scheduling service (`iop.scheduling.v1`): every operation the gateway forwards to it,
//! declared once, and the REST handlers that map JSON onto its messages.

pub(crate) mod clinicians;
pub(crate) mod locations;

use crate::policy::{Role, Rule};

/// Its resource types (FHIR names, as scopes say them: `system/Location.rs`).
#[allow(non_upper_case_globals)]
pub mod resources {
    use crate::policy::Resource;

    /// A site of the clinic (and, later, its rooms: FHIR models both as Location).
    pub const Location: Resource = Resource::named("Location");
    /// A clinician of the clinic.
    pub const Practitioner: Resource = Resource::named("Practitioner");

    pub const ALL: &[Resource] = &[Location, Practitioner];
}

/// Sites and clinicians are set up by those who run the clinic; everyone on staff sees them.
const RULES: &[Rule] = &[
    (Role::Admin, resources::Location, "crus"),
    (Role::ProgramDirector, resources::Location, "crus"),
    (Role::Clinician, resources::Location, "rs"),
    (Role::FrontDesk, resources::Location, "rs"),
    (Role::Admin, resources::Practitioner, "crus"),
    (Role::ProgramDirector, resources::Practitioner, "crus"),
    (Role::Clinician, resources::Practitioner, "rs"),
    (Role::FrontDesk, resources::Practitioner, "rs"),
];

const BEYOND_ROLES: &str = "A location's name, and a clinician's NPI and user id, are unique \
    within the clinic.";

const TAGS: &[(&str, &str)] = &[
    (
        "locations",
        "The clinic's sites and the time zone each one's schedule is kept in",
    ),
    (
        "clinicians",
        "The clinic's clinicians: credentials, NPI, the kinds of appointment each provides",
    ),
];

/// What the scheduling service checks across fields of a body, in JSON Schema terms.
fn schema_rules(schemas: &mut serde_json::Map<String, serde_json::Value>) {
    use serde_json::json;
    // No credential or kind twice.
    if let Some(schema) = schemas
        .get_mut("NewClinician")
        .and_then(|s| s.as_object_mut())
    {
        schema.insert(
            "allOf".into(),
            json!([{ "properties": {
                "credentials": { "uniqueItems": true },
                "kinds": { "uniqueItems": true },
            } }]),
        );
    }
}

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
}
