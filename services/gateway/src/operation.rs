//! What an operation is, and the macros that declare one. Every operation the gateway serves
//! is declared once, in its backend's folder (`backends/<name>/mod.rs`): its gRPC method, REST
//! handler, the permission it needs, its audit action, what in its request and response names
//! the resource and the patient, and the category of patient data it returns. Authorization,
//! the gRPC pass-through, the audit events, the route table, the OpenAPI paths and
//! `AUTHORIZATION.md` are all derived from that declaration.

use std::future::Future;

use tonic::transport::Channel;

use crate::downstream::Touched;
use crate::policy::{Action, Resource};

/// What kind of patient data an operation returns, so that a disclosure can be checked
/// against what a consent covers. Under 42 CFR Part 2 §2.31(a)(3) a consent names "the
/// amount and kind of information to be used or disclosed"; the categories follow the
/// records service's `RecordCategory`, plus what is not clinical record at all.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Data {
    /// Name, birth date, contact details; family and support contacts.
    Demographics,
    /// Enrollment in a program (episodes of care), schedule and attendance.
    Attendance,
    /// Screening scores (PHQ-9, GAD-7) and the safety flags they raise.
    Assessments,
    TreatmentPlans,
    ClinicalNotes,
    DischargeSummary,
    /// Referrals in and out, with the reason for referral.
    Referrals,
    /// The consents themselves (what the patient agreed to disclose, and to whom).
    Consents,
    /// Who accessed which patient's record.
    AccessLog,
    /// No patient data (the client registry).
    None,
}

impl Data {
    pub fn name(self) -> &'static str {
        match self {
            Self::Demographics => "demographics",
            Self::Attendance => "attendance",
            Self::Assessments => "assessments",
            Self::TreatmentPlans => "treatment plans",
            Self::ClinicalNotes => "clinical notes",
            Self::DischargeSummary => "discharge summary",
            Self::Referrals => "referrals",
            Self::Consents => "consents",
            Self::AccessLog => "access log",
            Self::None => "none",
        }
    }
}

/// One operation the gateway serves.
#[derive(Debug)]
pub struct Operation {
    /// The backend that answers it (`records`), or `gateway` for the gateway's own.
    pub backend: &'static str,
    /// `/iop.records.v1.PatientService/CreatePatient`.
    pub grpc_path: &'static str,
    pub resource: Resource,
    pub action: Action,
    /// The action name in the audit trail (`patient.create`).
    pub audit_action: &'static str,
    pub data: Data,
    /// Its REST route and OpenAPI operation, from the handler's `#[utoipa::path]`.
    pub(crate) rest: fn() -> utoipa_axum::router::UtoipaMethodRouter<crate::AppState>,
}

impl Operation {
    pub fn permission(&self) -> (Resource, Action) {
        (self.resource, self.action)
    }

    /// Whether the operation changes data (create, update, delete): its attempt is audited
    /// before it is forwarded.
    pub fn changes(&self) -> bool {
        match self.action {
            Action::Create | Action::Update | Action::Delete => true,
            Action::Read | Action::Search => false,
        }
    }

    /// The gRPC service, `iop.records.v1.PatientService`.
    pub fn grpc_service(&self) -> &'static str {
        let path = self.grpc_path.trim_start_matches('/');
        path.split_once('/').map_or(path, |(service, _)| service)
    }

    /// `POST /v1/patients`, from the handler's OpenAPI description.
    pub fn rest_route(&self) -> String {
        let (_, paths, _) = (self.rest)();
        paths
            .paths
            .iter()
            .flat_map(|(path, item)| {
                let methods = [
                    ("GET", &item.get),
                    ("PUT", &item.put),
                    ("POST", &item.post),
                    ("PATCH", &item.patch),
                    ("DELETE", &item.delete),
                ];
                methods
                    .into_iter()
                    .filter(|(_, op)| op.is_some())
                    .map(move |(method, _)| format!("{method} {path}"))
            })
            .collect::<Vec<_>>()
            .join(", ")
    }
}

/// A declared operation, as a type: `records::CreatePatient`.
pub trait Declared {
    const OP: &'static Operation;
}

/// A declared operation a backend answers over gRPC: its messages, the resources and
/// patients they name for the audit trail, and the call on the backend's channel.
pub trait Call: Declared {
    type Req: Send + 'static;
    type Res: Send + 'static;
    /// What the request asks for (audited when the call is denied or fails).
    fn asks(req: &Self::Req) -> Vec<Touched>;
    /// What the response discloses or wrote.
    fn gives(res: &Self::Res) -> Vec<Touched>;
    /// The action the audit trail records for this request: the declared one, unless the
    /// declaration names a more telling one for it (booking over a clash on purpose).
    fn audit_action(req: &Self::Req) -> &'static str;
    fn send(
        channel: Channel,
        req: tonic::Request<Self::Req>,
    ) -> impl Future<Output = Result<tonic::Response<Self::Res>, tonic::Status>> + Send;
}

/// The resources and patients a message names, by its shape:
/// - `nothing`; `id` (a resource by id, its patient not yet known); `resource` (its `id`
///   under its `patient_id`); `fields(resource_field, patient_field)`;
/// - `patient` (a request about one patient's record: `patient_id`); `patient_filter` (a list
///   that may be filtered to one patient); `the_patient` (a patient itself: `id`);
/// - `each(field, shape)`: every message in a repeated or optional field, by its shape.
macro_rules! touches {
    ($m:ident, nothing) => {{
        let _ = $m;
        Vec::new()
    }};
    ($m:ident, id) => {
        vec![$crate::downstream::Touched::of(&$m.id, "")]
    };
    ($m:ident, resource) => {
        vec![$crate::downstream::Touched::of(&$m.id, &$m.patient_id)]
    };
    ($m:ident, named($resource:ident)) => {
        vec![$crate::downstream::Touched::of(&$m.$resource, "")]
    };
    ($m:ident, fields($resource:ident, $patient:ident)) => {
        vec![$crate::downstream::Touched::of(&$m.$resource, &$m.$patient)]
    };
    ($m:ident, patient) => {
        vec![$crate::downstream::Touched::of("", &$m.patient_id)]
    };
    ($m:ident, patient_filter) => {
        if $m.patient_id.is_empty() {
            Vec::new()
        } else {
            vec![$crate::downstream::Touched::of("", &$m.patient_id)]
        }
    };
    ($m:ident, the_patient) => {
        vec![$crate::downstream::Touched::patient(&$m.id)]
    };
    ($m:ident, each($field:ident, $shape:ident $(($($arg:tt)*))?)) => {
        $m.$field
            .iter()
            .flat_map(|item| $crate::operation::touches!(item, $shape $(($($arg)*))?))
            .collect()
    };
}
pub(crate) use touches;

/// The operations of the gateway's own services (audit trail, client registry), which it
/// answers itself rather than forwarding: one unit type per operation, implementing
/// [`Declared`], and `OPERATIONS`, the list of them.
macro_rules! own_operations {
    (
        $(
            service $service:ident in $package:literal {
                $(
                    $(#[$doc:meta])*
                    $op:ident {
                        needs: $resource:ident . $action:ident,
                        audit: $audit:literal,
                        data: $data:ident,
                        rest: $($handler:ident)::+ $(,)?
                    }
                )+
            }
        )+
    ) => {
        $($(
            $(#[$doc])*
            pub struct $op;

            impl $crate::operation::Declared for $op {
                const OP: &'static $crate::operation::Operation = &$crate::operation::Operation {
                    backend: "gateway",
                    grpc_path: concat!("/", $package, ".", stringify!($service), "/", stringify!($op)),
                    resource: resources::$resource,
                    action: $crate::policy::Action::$action,
                    audit_action: $audit,
                    data: $crate::operation::Data::$data,
                    rest: || utoipa_axum::routes!($($handler)::+),
                };
            }
        )+)+

        /// Every operation declared here.
        pub static OPERATIONS: &[&$crate::operation::Operation] = &[
            $($(<$op as $crate::operation::Declared>::OP,)+)+
        ];
    };
}
pub(crate) use own_operations;

/// The operations of a backend service: for each, a unit type implementing [`Call`] (REST
/// handlers forward with `st.down.forward(&who, CreatePatient, message)`), the gRPC services
/// as the gateway serves them (every method authorized, audited and forwarded through
/// [`crate::downstream::Downstream::forward`]), and `BACKEND`, which lists them for the route
/// table, reflection, health and readiness. A gRPC method without a declaration does not
/// compile: the generated service implements the whole generated trait.
macro_rules! backend_operations {
    (
        backend $backend:literal;
        tags $tags:expr;
        schema rules $schema_rules:expr;
        public routes $public:expr;
        resources $resources:expr, rules $rules:expr, beyond roles $beyond:expr;
        package $package:literal in $proto:ident;
        $(
            service $service:ident($server_mod:ident :: $server:ident, $client_mod:ident :: $client:ident) {
                $(
                    $(#[$doc:meta])*
                    $op:ident = $method:ident($req:ident) -> $res:ident {
                        needs: $resource:ident . $action:ident,
                        audit: $audit:literal,
                        data: $data:ident,
                        asks: $asks:ident $(($($asks_arg:tt)*))?,
                        gives: $gives:ident $(($($gives_arg:tt)*))?,
                        rest: $($handler:ident)::+
                        $(, audit as: $audit_as:path)? $(,)?
                    }
                )+
            }
        )+
    ) => {
        $($(
            $(#[$doc])*
            pub struct $op;

            impl $crate::operation::Declared for $op {
                const OP: &'static $crate::operation::Operation = &$crate::operation::Operation {
                    backend: $backend,
                    grpc_path: concat!("/", $package, ".", stringify!($service), "/", stringify!($op)),
                    resource: resources::$resource,
                    action: $crate::policy::Action::$action,
                    audit_action: $audit,
                    data: $crate::operation::Data::$data,
                    rest: || utoipa_axum::routes!($($handler)::+),
                };
            }

            impl $crate::operation::Call for $op {
                type Req = iop_proto::$proto::$req;
                type Res = iop_proto::$proto::$res;

                fn asks(m: &Self::Req) -> Vec<$crate::downstream::Touched> {
                    $crate::operation::touches!(m, $asks $(($($asks_arg)*))?)
                }

                fn gives(m: &Self::Res) -> Vec<$crate::downstream::Touched> {
                    $crate::operation::touches!(m, $gives $(($($gives_arg)*))?)
                }

                fn audit_action(_m: &Self::Req) -> &'static str {
                    $(if let Some(action) = $audit_as(_m) {
                        return action;
                    })?
                    $audit
                }

                async fn send(
                    channel: tonic::transport::Channel,
                    req: tonic::Request<Self::Req>,
                ) -> Result<tonic::Response<Self::Res>, tonic::Status> {
                    iop_proto::$proto::$client_mod::$client::new(channel).$method(req).await
                }
            }
        )+)+

        /// The gRPC services of this backend as the gateway serves them.
        #[derive(Clone)]
        pub struct Proxy {
            down: $crate::downstream::Downstream,
        }

        $(
            #[tonic::async_trait]
            impl iop_proto::$proto::$server_mod::$service for Proxy {
                $(
                    async fn $method(
                        &self,
                        req: tonic::Request<iop_proto::$proto::$req>,
                    ) -> Result<tonic::Response<iop_proto::$proto::$res>, tonic::Status> {
                        self.down.forward_grpc($op, req).await
                    }
                )+
            }
        )+

        fn add_services(
            routes: tonic::service::Routes,
            down: &$crate::downstream::Downstream,
            limit: usize,
        ) -> tonic::service::Routes {
            let proxy = Proxy { down: down.clone() };
            routes
                $(.add_service(
                    iop_proto::$proto::$server_mod::$server::new(proxy.clone())
                        .max_decoding_message_size(limit)
                        .max_encoding_message_size(usize::MAX),
                ))+
        }

        /// This backend, for the gateway's tables.
        pub static BACKEND: $crate::backends::Backend = $crate::backends::Backend {
            name: $backend,
            services: &[$(iop_proto::$proto::$server_mod::SERVICE_NAME,)+],
            operations: &[$($(<$op as $crate::operation::Declared>::OP,)+)+],
            tags: $tags,
            resources: $resources,
            rules: $rules,
            rules_beyond_roles: $beyond,
            schema_rules: $schema_rules,
            public_routes: $public,
            add_services,
        };
    };
}
pub(crate) use backend_operations;
