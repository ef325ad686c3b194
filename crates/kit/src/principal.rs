//! Who is calling: the principal the gateway sealed onto the call (checked and opened by
//! `iop_auth::PrincipalLayer`), and the rule that some acts need a person.

use iop_core::{Error, Principal, TenantId};

/// The caller of a gRPC call. The principal layer refuses calls without one; this is
/// defence in depth.
pub fn principal<T>(req: &tonic::Request<T>) -> Result<Principal, tonic::Status> {
    req.extensions()
        .get::<Principal>()
        .cloned()
        .ok_or_else(|| tonic::Status::unauthenticated("missing internal principal"))
}

/// PERMISSION_DENIED unless a staff user is calling: what needs an accountable person
/// (signing, acknowledging, changing a referral's status) is refused to backend clients.
/// `who_does` says who should, e.g. "a note is signed by its author".
pub fn require_user(who: &Principal, who_does: &str) -> Result<(), Error> {
    if who.is_user() {
        Ok(())
    } else {
        Err(Error::PermissionDenied(format!(
            "{who_does} signed in as themselves, not by a backend client"
        )))
    }
}

/// A service's own background work acting in `tenant`'s clinic (the waitlist offering freed
/// time, a group track being settled), as it names itself to the services it calls:
/// `service/task`, no roles or scopes — it is never a user.
pub fn worker(tenant: TenantId, service: &str, task: &str) -> Principal {
    Principal {
        tenant,
        subject: format!("{service}/{task}"),
        client_id: None,
        issuer: format!("iop:{service}"),
        roles: Vec::new(),
        scopes: Vec::new(),
        request_id: String::new(),
        source_addr: None,
    }
}
