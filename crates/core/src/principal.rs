//! Who is calling: established by the gateway from a verified JWT and forwarded to the
//! services, which take the tenant from here and nowhere else.

use serde::{Deserialize, Serialize};

use crate::TenantId;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Principal {
    pub tenant: TenantId,
    /// The user or system the token was issued to (`sub`).
    pub subject: String,
    /// The OAuth client that obtained the token, when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_id: Option<String>,
    /// The issuer that vouched for the subject.
    pub issuer: String,
    #[serde(default)]
    pub roles: Vec<String>,
    #[serde(default)]
    pub scopes: Vec<String>,
    /// Correlates logs, audit events and traces of one request.
    pub request_id: String,
    /// The client's network address as the gateway saw it, for the audit trail.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source_addr: Option<String>,
}

impl Principal {
    /// A staff user signed in as themselves (the token carries roles), as opposed to a
    /// backend client (system token, no roles). Scopes, accountability (who signed,
    /// who acknowledged) and what a partner may see all turn on this.
    pub fn is_user(&self) -> bool {
        !self.roles.is_empty()
    }

    pub fn has_role(&self, role: &str) -> bool {
        self.roles.iter().any(|r| r == role)
    }
}
