//! The REST/JSON API and its OpenAPI 3.1 document, generated from the handlers.

pub mod audit;
pub mod clients;
pub mod extract;
pub mod patients;

use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

#[derive(OpenApi)]
#[openapi(
    info(
        title = "IOP Platform API",
        description = "Scheduling, patient records and group sessions for Intensive Outpatient Programs. \
            Every call needs `Authorization: Bearer <JWT>`; errors are RFC 9457 problem+json.",
    ),
    paths(patients::create, patients::get, patients::list, patients::update, audit::list,
        clients::create, clients::get, clients::list, clients::update, clients::token),
    components(schemas(
        patients::Patient,
        patients::PatientWrite,
        patients::PatientList,
        patients::Sex,
        patients::Contact,
        patients::Address,
        patients::Identifier,
        audit::AuditEvent,
        audit::AuditEventList,
        clients::RegisteredClient,
        clients::NewClient,
        clients::ClientUpdate,
        clients::ClientList,
        clients::OAuthErrorBody,
        crate::clients::ClientKind,
        crate::clients::TokenResponse,
        crate::problem::Problem,
        crate::problem::ProblemField,
    )),
    modifiers(&BearerAuth),
    tags(
        (name = "patients", description = "Patients of your clinic"),
        (name = "audit", description = "Who accessed which patient's data (admins)"),
        (name = "clients", description = "Backend clients registered by your clinic (admins)"),
        (name = "oauth", description = "SMART Backend Services tokens"),
    ),
)]
pub struct ApiDoc;

struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("JWT")
                    .build(),
            ),
        );
    }
}
