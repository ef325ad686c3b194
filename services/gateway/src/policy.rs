//! Who may do what. Two gates, both must open:
//!
//! 1. **Scope** (SMART v2): the token must carry a scope granting the operation's resource and
//!    action, `user/…` for a staff user's token, `system/…` for a backend client's.
//! 2. **Role** (minimum necessary), for staff users only: one of the user's roles must allow it
//!    by the rules each backend declares (`backends/`). A token with roles is a user token; without, a system token.
//!
//! Every operation the gateway serves is declared with the permission it needs (see
//! `backends/`); a method without a declaration is not served. `AUTHORIZATION.md` is
//! generated from this file and the declarations (see the test at the bottom).

use iop_auth::scope::{Context, Scope};
use iop_core::Principal;

use crate::operation::Operation;

/// A resource type, by the FHIR name scopes use (`Patient`). Each backend declares its own
/// in its folder, with the roles that may use them (see `backends/`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Resource {
    name: &'static str,
    staff_only: bool,
}

impl Resource {
    pub const fn named(name: &'static str) -> Self {
        Self {
            name,
            staff_only: false,
        }
    }

    /// A resource only staff users reach, whatever a backend client's scopes say (a client
    /// that could manage clients could give itself, or others, more rights).
    pub const fn staff_only(name: &'static str) -> Self {
        Self {
            name,
            staff_only: true,
        }
    }

    /// The FHIR resource type name used in scopes.
    pub fn name(self) -> &'static str {
        self.name
    }

    pub fn is_staff_only(self) -> bool {
        self.staff_only
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    Create,
    Read,
    Update,
    Delete,
    Search,
}

impl Action {
    pub const ALL: [Self; 5] = [
        Self::Create,
        Self::Read,
        Self::Update,
        Self::Delete,
        Self::Search,
    ];

    /// The SMART v2 permission letter.
    pub fn letter(self) -> char {
        match self {
            Self::Create => 'c',
            Self::Read => 'r',
            Self::Update => 'u',
            Self::Delete => 'd',
            Self::Search => 's',
        }
    }

    fn verb(self) -> &'static str {
        match self {
            Self::Create => "create",
            Self::Read => "read",
            Self::Update => "update",
            Self::Delete => "delete",
            Self::Search => "search",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    Admin,
    ProgramDirector,
    Clinician,
    FrontDesk,
}

impl Role {
    pub const ALL: [Self; 4] = [
        Self::Admin,
        Self::ProgramDirector,
        Self::Clinician,
        Self::FrontDesk,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Self::Admin => "admin",
            Self::ProgramDirector => "program_director",
            Self::Clinician => "clinician",
            Self::FrontDesk => "front_desk",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|r| r.name() == s)
    }
}

/// What a staff role may do with a resource, as SMART permission letters (`"crus"`).
/// Anything not granted by some rule is refused.
pub type Rule = (Role, Resource, &'static str);

/// Does `role` allow `action` on `resource` by the rules of the backends?
pub fn role_allows(role: Role, resource: Resource, action: Action) -> bool {
    crate::backends::rules().any(|(r, res, letters)| {
        *r == role && *res == resource && letters.contains(action.letter())
    })
}

/// Why a call was refused; the text names what is missing.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct Denied(pub String);

pub fn authorize(who: &Principal, op: &Operation) -> Result<(), Denied> {
    let (resource, action) = op.permission();
    let context = if who.is_user() {
        Context::User
    } else {
        Context::System
    };
    if context == Context::System && resource.is_staff_only() {
        return Err(Denied(format!(
            "backend clients may not {} {}: only staff users may",
            action.verb(),
            resource.name()
        )));
    }
    let prefix = match context {
        Context::User => "user",
        Context::System => "system",
    };
    let scoped = who
        .scopes
        .iter()
        .filter_map(|s| Scope::parse(s))
        .any(|s| s.grants(context, resource.name(), action.letter()));
    if !scoped {
        return Err(Denied(format!(
            "missing scope {prefix}/{}.{} (to {} {})",
            resource.name(),
            action.letter(),
            action.verb(),
            resource.name()
        )));
    }
    if context == Context::User {
        let allowed = who
            .roles
            .iter()
            .filter_map(|r| Role::parse(r))
            .any(|role| role_allows(role, resource, action));
        if !allowed {
            return Err(Denied(format!(
                "role {} may not {} {}",
                who.roles.join(", "),
                action.verb(),
                resource.name()
            )));
        }
    }
    Ok(())
}

/// Whether `who` may give a backend client `scope`: only rights the caller holds itself
/// through one of its roles. No one grants more than they have — an admin, who has no
/// clinical rights, cannot register a client that reads notes, nor take such a client over
/// by changing its keys; a program director can.
pub fn may_grant(who: &Principal, scope: &str) -> Result<(), Denied> {
    let Some(parsed) = Scope::parse(scope) else {
        // Grants nothing; validation names it.
        return Ok(());
    };
    let resources = crate::backends::resources().filter(|r| {
        parsed
            .resource
            .as_deref()
            .is_none_or(|name| name == r.name())
    });
    for resource in resources {
        for action in Action::ALL {
            if !parsed.perms.allows(action.letter()) {
                continue;
            }
            let held = who
                .roles
                .iter()
                .filter_map(|r| Role::parse(r))
                .any(|role| role_allows(role, resource, action));
            if !held {
                return Err(Denied(format!(
                    "role {} may not grant {scope}: it may not {} {} itself",
                    if who.roles.is_empty() {
                        "(none)".to_owned()
                    } else {
                        who.roles.join(", ")
                    },
                    action.verb(),
                    resource.name()
                )));
            }
        }
    }
    Ok(())
}

/// The role matrix as Markdown, for `AUTHORIZATION.md`.
pub fn matrix_markdown() -> String {
    let mut md = String::from(
        "# Authorization matrix\n\n\
         Generated from `src/policy.rs` and `src/backends/` by `cargo test -p iop-gateway` (set `UPDATE_DOCS=1` to\n\
         rewrite it). A call needs **both** a scope granting it (`user/…` for staff users,\n\
         `system/…` for backend clients) and, for staff users, a role allowing it below.\n\
         Backend clients never reach the client registry (`Client`), whatever their scopes, and\n\
         a staff user may grant a client only scopes their own roles allow.\n\
         Letters: c create, r read, u update, d delete, s search; `-` none.\n\n| role |",
    );
    let resources: Vec<Resource> = crate::backends::resources().collect();
    for res in &resources {
        md.push_str(&format!(" {} |", res.name()));
    }
    md.push_str("\n|---|");
    md.push_str(&"---|".repeat(resources.len()));
    md.push('\n');
    for role in Role::ALL {
        md.push_str(&format!("| {} |", role.name()));
        for &res in &resources {
            let letters: String = Action::ALL
                .into_iter()
                .filter(|a| role_allows(role, res, *a))
                .map(Action::letter)
                .collect();
            md.push_str(&format!(
                " {} |",
                if letters.is_empty() {
                    "-".into()
                } else {
                    letters
                }
            ));
        }
        md.push('\n');
    }
    md.push_str(
        "\nBackend clients (system tokens) have no role: their scopes decide. A \
         `referral_partner` client can only be granted `system/ServiceRequest` scopes.",
    );
    for backend in crate::backends::BACKENDS {
        md.push(' ');
        md.push_str(backend.rules_beyond_roles);
    }
    md.push('\n');
    md.push_str(
        "\n## Operations\n\nDeclared in `src/backends/`; *data* is the kind of patient data \
         an operation returns.\n\n| gRPC method | REST | needs | data |\n|---|---|---|---|\n",
    );
    for op in crate::backends::operations() {
        md.push_str(&format!(
            "| `{}` | `{}` | `{}.{}` | {} |\n",
            op.grpc_path.trim_start_matches('/'),
            op.rest_route(),
            op.resource.name(),
            op.action.letter(),
            op.data.name(),
        ));
    }
    md
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backends::records::{GetPatient, UpdatePatient};
    use crate::operation::Declared;
    use iop_core::TenantId;

    fn user(roles: &[&str], scopes: &[&str]) -> Principal {
        Principal {
            tenant: TenantId::parse("t").unwrap(),
            subject: "u".into(),
            client_id: None,
            issuer: "i".into(),
            roles: roles.iter().map(|s| s.to_string()).collect(),
            scopes: scopes.iter().map(|s| s.to_string()).collect(),
            request_id: "r".into(),
            source_addr: None,
        }
    }

    #[test]
    fn the_docs_matrix_is_current() {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("AUTHORIZATION.md");
        let generated = matrix_markdown();
        if std::env::var("UPDATE_DOCS").is_ok() {
            std::fs::write(&path, &generated).unwrap();
        }
        let on_disk = std::fs::read_to_string(&path).unwrap_or_default();
        assert_eq!(
            on_disk, generated,
            "AUTHORIZATION.md is stale: run with UPDATE_DOCS=1"
        );
    }

    #[test]
    fn every_grpc_path_maps_back_to_its_operation() {
        for op in crate::backends::operations() {
            assert!(std::ptr::eq(
                crate::backends::operation(op.grpc_path).unwrap(),
                op
            ));
        }
        assert!(
            crate::backends::operation("/iop.records.v1.PatientService/DeletePatient").is_none()
        );
    }

    #[test]
    fn scope_is_required_and_named_when_missing() {
        let err =
            authorize(&user(&["admin"], &["user/Patient.rs"]), UpdatePatient::OP).unwrap_err();
        assert_eq!(err.0, "missing scope user/Patient.u (to update Patient)");
        assert!(authorize(&user(&["admin"], &["user/*.cruds"]), UpdatePatient::OP).is_ok());
    }

    #[test]
    fn user_tokens_need_user_scopes_and_system_tokens_system_scopes() {
        assert!(authorize(&user(&["admin"], &["system/Patient.rs"]), GetPatient::OP).is_err());
        assert!(authorize(&user(&[], &["system/Patient.rs"]), GetPatient::OP).is_ok());
        assert!(authorize(&user(&[], &["user/Patient.rs"]), GetPatient::OP).is_err());
    }

    #[test]
    fn roles_limit_what_scopes_allow() {
        let all = ["user/*.cruds"];
        for role in Role::ALL {
            for op in crate::backends::operations() {
                let (res, action) = op.permission();
                let got = authorize(&user(&[role.name()], &all), op).is_ok();
                assert_eq!(
                    got,
                    role_allows(role, res, action),
                    "{role:?} {}",
                    op.grpc_path
                );
            }
        }
        let err = authorize(&user(&["receptionist"], &all), GetPatient::OP).unwrap_err();
        assert_eq!(err.0, "role receptionist may not read Patient");
    }
}
