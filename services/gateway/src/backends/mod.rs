//! The services behind the gateway, one folder each, and the gateway's own operations.
//! Adding a service: a folder with its declaration (see `records/mod.rs`) and a line in
//! [`BACKENDS`]; nothing else in the gateway names it.

pub mod groups;
pub mod records;
pub mod scheduling;

use crate::downstream::Downstream;
use crate::operation::Operation;
use crate::policy::{Resource, Rule};

/// A service the gateway forwards to.
pub struct Backend {
    /// The name in configuration (`--backend records=http://…`), readiness and errors.
    pub name: &'static str,
    /// Its gRPC services, as the gateway serves them.
    pub services: &'static [&'static str],
    pub operations: &'static [&'static Operation],
    /// Its OpenAPI tags (the handlers' `tag = …`) and what each is about.
    pub tags: &'static [(&'static str, &'static str)],
    /// Its resource types, and what each staff role may do with them.
    pub resources: &'static [Resource],
    pub rules: &'static [Rule],
    /// The rules the service itself adds beyond scopes and roles, for `AUTHORIZATION.md`.
    pub rules_beyond_roles: &'static str,
    /// Rules of its bodies that span fields (one of two required, a count that depends on
    /// another field, no repeats), added to the generated JSON Schemas (`components.schemas`)
    /// so the published contract says everything a request is checked for.
    pub schema_rules: fn(&mut serde_json::Map<String, serde_json::Value>),
    /// Routes it serves without a bearer token, which must authenticate their callers
    /// otherwise (a calendar feed's secret URL): [`no_public_routes`] for most.
    pub(crate) public_routes: fn() -> axum::Router<crate::AppState>,
    pub(crate) add_services:
        fn(tonic::service::Routes, &Downstream, usize) -> tonic::service::Routes,
}

/// A backend without routes outside bearer authentication.
pub(crate) fn no_public_routes() -> axum::Router<crate::AppState> {
    axum::Router::new()
}

/// Every backend's routes served without a bearer token.
pub(crate) fn public_routes() -> axum::Router<crate::AppState> {
    BACKENDS
        .iter()
        .fold(axum::Router::new(), |all, b| all.merge((b.public_routes)()))
}

/// Adds `rule` to the `allOf` of the schema `name` (for a backend's `schema_rules`).
pub fn refine(
    schemas: &mut serde_json::Map<String, serde_json::Value>,
    name: &str,
    rule: serde_json::Value,
) {
    if let Some(schema) = schemas.get_mut(name).and_then(|s| s.as_object_mut()) {
        let all = schema
            .entry("allOf")
            .or_insert_with(|| serde_json::Value::Array(Vec::new()));
        if let Some(all) = all.as_array_mut() {
            all.push(rule);
        }
    }
}

/// Every backend, in the order they are listed to clients.
pub static BACKENDS: &[&Backend] = &[&records::BACKEND, &scheduling::BACKEND, &groups::BACKEND];

/// The gateway's own operations: it keeps the audit trail and the client registry itself.
pub mod own {
    use crate::policy::{Role, Rule};

    /// The gateway's own resource types.
    #[allow(non_upper_case_globals)]
    pub mod resources {
        use crate::policy::Resource;

        pub const AuditEvent: Resource = Resource::named("AuditEvent");
        /// A registered backend client (not a FHIR type); staff only.
        pub const Client: Resource = Resource::staff_only("Client");

        pub const ALL: &[Resource] = &[AuditEvent, Client];
    }

    pub const RULES: &[Rule] = &[
        // Who looked at which patient is for admins (compliance) only.
        (Role::Admin, resources::AuditEvent, "rs"),
        // Registering integrations and their keys: admins, and program directors, who alone may
        // grant a client clinical scopes (see `may_grant`: no one grants more than they hold).
        (Role::Admin, resources::Client, "crus"),
        (Role::ProgramDirector, resources::Client, "crus"),
    ];

    crate::operation::own_operations! {
        service AuditService in "iop.audit.v1" {
            ListAuditEvents {
                needs: AuditEvent.Search, audit: "auditevent.search", data: AccessLog,
                rest: crate::rest::audit::list,
            }
        }

        service ClientService in "iop.clients.v1" {
            CreateClient {
                needs: Client.Create, audit: "client.create", data: None,
                rest: crate::rest::clients::create,
            }
            GetClient {
                needs: Client.Read, audit: "client.read", data: None,
                rest: crate::rest::clients::get,
            }
            ListClients {
                needs: Client.Search, audit: "client.search", data: None,
                rest: crate::rest::clients::list,
            }
            UpdateClient {
                needs: Client.Update, audit: "client.update", data: None,
                rest: crate::rest::clients::update,
            }
        }
    }
}

/// Every operation the gateway serves: its own, then each backend's.
pub fn operations() -> impl Iterator<Item = &'static Operation> {
    BACKENDS
        .iter()
        .flat_map(|b| b.operations.iter())
        .chain(own::OPERATIONS.iter())
        .copied()
}

/// Every resource type: each backend's, then the gateway's own.
pub fn resources() -> impl Iterator<Item = Resource> {
    BACKENDS
        .iter()
        .flat_map(|b| b.resources.iter())
        .chain(own::resources::ALL.iter())
        .copied()
}

/// What each staff role may do, from every backend's rules and the gateway's own.
pub fn rules() -> impl Iterator<Item = &'static Rule> {
    BACKENDS
        .iter()
        .flat_map(|b| b.rules.iter())
        .chain(own::RULES.iter())
}

/// The operation of a gRPC method, if the gateway serves it.
pub fn operation(grpc_path: &str) -> Option<&'static Operation> {
    operations().find(|op| op.grpc_path == grpc_path)
}

/// The gRPC services the gateway serves (`iop.records.v1.PatientService`…), for reflection.
pub fn served_grpc_services() -> Vec<&'static str> {
    let mut services: Vec<&'static str> = operations().map(Operation::grpc_service).collect();
    services.sort_unstable();
    services.dedup();
    services
}

/// The backend called `name`.
pub fn backend(name: &str) -> Option<&'static Backend> {
    BACKENDS.iter().copied().find(|b| b.name == name)
}

#[cfg(test)]
mod tests {
    use super::*;
    use prost::Message;

    /// Every method of every service the gateway serves has a declaration (the gRPC
    /// pass-through would not compile otherwise; this checks against the protos themselves),
    /// and every declaration names a method that exists.
    #[test]
    fn every_served_method_is_declared_and_every_declaration_is_a_method() {
        let set = prost_types::FileDescriptorSet::decode(iop_proto::FILE_DESCRIPTOR_SET).unwrap();
        let served = served_grpc_services();
        let mut methods = Vec::new();
        for file in &set.file {
            for service in &file.service {
                let name = format!("{}.{}", file.package(), service.name());
                if !served.contains(&name.as_str()) {
                    continue;
                }
                for m in &service.method {
                    methods.push(format!("/{name}/{}", m.name()));
                }
            }
        }
        for path in &methods {
            assert!(
                operation(path).is_some(),
                "{path} is served without a declaration"
            );
        }
        for op in operations() {
            assert!(
                methods.iter().any(|m| m == op.grpc_path),
                "{} is declared but no such method is served",
                op.grpc_path
            );
        }
        for backend in BACKENDS {
            for service in backend.services {
                assert!(
                    served.contains(service),
                    "{service} of {} has no operation",
                    backend.name
                );
            }
        }
    }

    /// Every declaration has exactly one REST route, and no two share one.
    #[test]
    fn every_declaration_has_its_own_route() {
        let mut seen = std::collections::HashSet::new();
        for op in operations() {
            let route = op.rest_route();
            assert!(
                !route.is_empty() && !route.contains(','),
                "{}: {route:?}",
                op.grpc_path
            );
            assert!(seen.insert(route.clone()), "{route} is declared twice");
        }
    }

    /// Resource names are unique, and every operation's resource is listed, so the matrix
    /// and `may_grant` see it.
    #[test]
    fn every_resource_is_listed_once() {
        let listed: Vec<Resource> = resources().collect();
        let names: std::collections::HashSet<_> = listed.iter().map(|r| r.name()).collect();
        assert_eq!(names.len(), listed.len(), "a resource name is used twice");
        for op in operations() {
            assert!(
                listed.contains(&op.resource),
                "{} is not listed",
                op.resource.name()
            );
        }
    }

    #[test]
    fn audit_actions_are_unique() {
        let mut seen = std::collections::HashSet::new();
        for op in operations() {
            assert!(seen.insert(op.audit_action), "{} twice", op.audit_action);
        }
    }
}
