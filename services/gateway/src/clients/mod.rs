//! Backend clients of a tenant (EHR integrations, front ends, referral partners) and the
//! SMART Backend Services token exchange: a registered client signs a short assertion with
//! its own key and gets a five-minute access token with the scopes it asked for and may have.

use std::future::Future;

use iop_auth::SigningKey;
use iop_auth::assertion::{claimed_client, verify_assertion};
use iop_auth::keys::Grant;
use iop_auth::scope::{Context, Scope};
use iop_core::page::{self, Cursor};
use iop_core::{Error, FieldViolation, Principal, now_micros};
use iop_db::{Db, is_unique_violation};
use jsonwebtoken::jwk::{AlgorithmParameters, JwkSet};
use serde::{Deserialize, Serialize};
use sqlx::Row;

use crate::audit::{AuditEvent, AuditLog, Outcome};
use crate::backends::own::{CreateClient, GetClient, ListClients, UpdateClient};
use crate::operation::{Declared, Operation};

mod refusals;

/// Records the summaries of refused token requests whose window ended, until the registry
/// is gone.
async fn flush_refusals(refusals: std::sync::Weak<refusals::Refusals>, audit: AuditLog) {
    let mut tick = tokio::time::interval(refusals::WINDOW);
    tick.tick().await;
    loop {
        tick.tick().await;
        let Some(refusals) = refusals.upgrade() else {
            return;
        };
        let summaries = refusals.flush();
        if !summaries.is_empty()
            && let Err(e) = audit.record(summaries).await
        {
            tracing::error!(error = %e, "cannot record summaries of refused token requests");
        }
    }
}

/// Lifetime of the access tokens the token endpoint issues.
pub const ACCESS_TOKEN_TTL_SECS: i64 = 300;
pub const JWT_BEARER: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";

iop_kit::text_enum! {
    json
    pub enum ClientKind: iop_proto::clients::ClientKind {
        Ehr = "ehr",
        FrontEnd = "front_end",
        ReferralPartner = "referral_partner",
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Client {
    pub client_id: String,
    pub tenant: String,
    pub name: String,
    pub kind: ClientKind,
    pub jwks: serde_json::Value,
    pub scopes: Vec<String>,
    pub enabled: bool,
    pub version: i64,
    pub create_time_us: i64,
    pub update_time_us: i64,
}

/// Changes to a client; `None` keeps the field.
#[derive(Debug, Default)]
pub struct ClientChanges {
    pub name: Option<String>,
    pub jwks: Option<serde_json::Value>,
    pub scopes: Option<Vec<String>>,
    pub enabled: Option<bool>,
}

/// An OAuth 2.0 error response (RFC 6749 §5.2).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OAuthError {
    pub error: &'static str,
    pub description: String,
}

impl OAuthError {
    fn new(error: &'static str, description: impl Into<String>) -> Self {
        Self {
            error,
            description: description.into(),
        }
    }

    /// `invalid_client` is 401; every other error is 400.
    pub fn status(&self) -> u16 {
        if self.error == "invalid_client" {
            401
        } else {
            400
        }
    }
}

/// A successful token response.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct TokenResponse {
    pub access_token: String,
    pub token_type: &'static str,
    pub expires_in: i64,
    pub scope: String,
}

/// The client registry and the token endpoint. Changes to the registry and every token
/// request of a known client go to the audit trail (action `client.create`,
/// `client.update`, `token.issue`), allowed or not.
#[derive(Clone)]
pub struct Clients {
    db: Db,
    audit: AuditLog,
    refusals: std::sync::Arc<refusals::Refusals>,
}

/// Who sent a token request, for the audit trail (there is no principal yet).
#[derive(Debug, Clone, Default)]
pub struct Caller {
    pub request_id: String,
    pub source_addr: Option<String>,
}

/// The FHIR resource a referral is; the only one a referral partner may ever be granted.
const REFERRAL_RESOURCE: &str = "ServiceRequest";

fn validate(
    name: &str,
    kind: ClientKind,
    jwks: &serde_json::Value,
    scopes: &[String],
) -> Result<(), Error> {
    let mut v = Vec::new();
    let mut bad = |field: String, description: &str| {
        v.push(FieldViolation {
            field,
            description: description.into(),
        })
    };
    if name.trim().is_empty() || name.len() > 200 {
        bad("name".into(), "must be 1-200 characters");
    }
    match serde_json::from_value::<JwkSet>(jwks.clone()) {
        Err(_) => bad("jwks".into(), "must be a JWKS: {\"keys\": [...]}"),
        Ok(set) if set.keys.is_empty() => bad("jwks.keys".into(), "must hold at least one key"),
        Ok(set) => {
            for (i, key) in set.keys.iter().enumerate() {
                if key.common.key_id.as_deref().is_none_or(str::is_empty) {
                    bad(format!("jwks.keys[{i}].kid"), "is required");
                }
                if matches!(key.algorithm, AlgorithmParameters::OctetKey(_)) {
                    bad(
                        format!("jwks.keys[{i}]"),
                        "must be a public key (RSA, EC or OKP), not a shared secret",
                    );
                }
                if let AlgorithmParameters::RSA(rsa) = &key.algorithm {
                    let bits = rsa_bits(&rsa.n);
                    if bits < MIN_RSA_BITS {
                        bad(
                            format!("jwks.keys[{i}].n"),
                            &format!(
                                "an RSA key must have at least {MIN_RSA_BITS} bits; this one has {bits}"
                            ),
                        );
                    }
                }
            }
            let private = jwks["keys"]
                .as_array()
                .is_some_and(|keys| keys.iter().any(|k| k.get("d").is_some()));
            if private {
                bad(
                    "jwks".into(),
                    "must hold public keys only: never send a private key",
                );
            }
        }
    }
    for (i, s) in scopes.iter().enumerate() {
        match Scope::parse(s) {
            Some(s) if s.context == Context::System => {
                if kind == ClientKind::ReferralPartner
                    && s.resource.as_deref() != Some(REFERRAL_RESOURCE)
                {
                    bad(
                        format!("scopes[{i}]"),
                        "a referral partner may only be granted system/ServiceRequest scopes",
                    );
                }
            }
            _ => bad(
                format!("scopes[{i}]"),
                "must be a SMART system scope such as system/Patient.rs",
            ),
        }
    }
    if v.is_empty() {
        Ok(())
    } else {
        Err(Error::InvalidFields(v))
    }
}

/// The smallest RSA modulus accepted (NIST SP 800-131A: 2048 bits).
const MIN_RSA_BITS: usize = 2048;

/// The size in bits of an RSA modulus given base64url-encoded (0 when it is not).
fn rsa_bits(n: &str) -> usize {
    use base64::Engine;
    let Ok(bytes) =
        base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(n.trim_end_matches('='))
    else {
        return 0;
    };
    match bytes.iter().position(|b| *b != 0) {
        Some(first) => (bytes.len() - first) * 8 - bytes[first].leading_zeros() as usize,
        None => 0,
    }
}

const COLUMNS: &str = "client_id, tenant_id, name, kind, jwks, scopes, enabled, version, create_time_us, update_time_us";

fn from_row(row: &sqlx::any::AnyRow) -> Result<Client, Error> {
    let text = |c: &str| row.try_get::<String, _>(c).map_err(Error::internal);
    let kind = text("kind")?;
    Ok(Client {
        client_id: text("client_id")?,
        tenant: text("tenant_id")?,
        name: text("name")?,
        kind: ClientKind::parse(&kind)
            .ok_or_else(|| Error::internal("stored client has an unknown kind"))?,
        jwks: serde_json::from_str(&text("jwks")?).map_err(Error::internal)?,
        scopes: text("scopes")?
            .split_whitespace()
            .map(str::to_owned)
            .collect(),
        enabled: row.try_get::<i64, _>("enabled").map_err(Error::internal)? != 0,
        version: row.try_get("version").map_err(Error::internal)?,
        create_time_us: row.try_get("create_time_us").map_err(Error::internal)?,
        update_time_us: row.try_get("update_time_us").map_err(Error::internal)?,
    })
}

impl Clients {
    /// The registry, and (inside the runtime) the task that records the summaries of
    /// refused token requests.
    pub fn new(db: Db, audit: AuditLog) -> Self {
        let refusals = std::sync::Arc::new(refusals::Refusals::default());
        tokio::spawn(flush_refusals(
            std::sync::Arc::downgrade(&refusals),
            audit.clone(),
        ));
        Self {
            db,
            audit,
            refusals,
        }
    }

    /// Makes a registry change audited like a change forwarded to a service: refused (and
    /// recorded) unless allowed, made only once its attempt is in the trail, its outcome
    /// recorded after.
    async fn audited(
        &self,
        who: &Principal,
        op: &Operation,
        client_id: &str,
        change: impl Future<Output = Result<Client, Error>>,
    ) -> Result<Client, Error> {
        let deadline = self.audit.deadline();
        let event = |outcome, code, id: &str| {
            let mut event =
                AuditEvent::new(who, op.audit_action, op.resource.name(), outcome, code);
            event.resource_id = id.to_owned();
            event
        };
        if let Err(denied) = allow(who, op) {
            let refused = event(Outcome::Denied, denied.code().grpc_code(), client_id);
            self.audit.record_kept(vec![refused], deadline).await?;
            return Err(denied);
        }
        let attempted = event(Outcome::Attempted, tonic::Code::Ok, client_id);
        let attempt = self.audit.attempt(vec![attempted], deadline).await?;
        let result = change.await;
        let (outcome, code) = match &result {
            Ok(_) => (Outcome::Success, tonic::Code::Ok),
            Err(e @ Error::PermissionDenied(_)) => (Outcome::Denied, e.code().grpc_code()),
            Err(e) => (Outcome::Failed, e.code().grpc_code()),
        };
        let id = result.as_ref().map_or(client_id, |c| c.client_id.as_str());
        self.audit
            .conclude(attempt, vec![event(outcome, code, id)], deadline)
            .await;
        result
    }

    pub async fn create(
        &self,
        who: &Principal,
        name: String,
        kind: ClientKind,
        jwks: serde_json::Value,
        scopes: Vec<String>,
    ) -> Result<Client, Error> {
        let change = self.insert(who, name, kind, jwks, scopes);
        self.audited(who, CreateClient::OP, "", change).await
    }

    async fn insert(
        &self,
        who: &Principal,
        name: String,
        kind: ClientKind,
        jwks: serde_json::Value,
        scopes: Vec<String>,
    ) -> Result<Client, Error> {
        allow(who, CreateClient::OP)?;
        validate(&name, kind, &jwks, &scopes)?;
        grantable(who, &scopes)?;
        let now = now_micros();
        let client = Client {
            client_id: uuid::Uuid::now_v7().to_string(),
            tenant: who.tenant.to_string(),
            name,
            kind,
            jwks,
            scopes,
            enabled: true,
            version: 1,
            create_time_us: now,
            update_time_us: now,
        };
        let _turn = self.db.write_turn().await;
        sqlx::query(
            "INSERT INTO clients (client_id, tenant_id, name, kind, jwks, scopes, enabled, version, create_time_us, \
             update_time_us) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
        )
        .bind(&client.client_id)
        .bind(&client.tenant)
        .bind(&client.name)
        .bind(client.kind.as_str())
        .bind(client.jwks.to_string())
        .bind(client.scopes.join(" "))
        .bind(1_i64)
        .bind(client.version)
        .bind(client.create_time_us)
        .bind(client.update_time_us)
        .execute(self.db.pool())
        .await
        .map_err(Error::internal)?;
        tracing::info!(client_id = %client.client_id, tenant = %client.tenant, "client registered");
        Ok(client)
    }

    async fn load(&self, client_id: &str) -> Result<Option<Client>, Error> {
        let row = sqlx::query(&format!(
            "SELECT {COLUMNS} FROM clients WHERE client_id = $1"
        ))
        .bind(client_id)
        .fetch_optional(self.db.pool())
        .await
        .map_err(Error::internal)?;
        row.as_ref().map(from_row).transpose()
    }

    /// A client of the caller's tenant.
    pub async fn get(&self, who: &Principal, client_id: &str) -> Result<Client, Error> {
        allow(who, GetClient::OP)?;
        self.owned(who, client_id).await
    }

    /// The client, if it belongs to the caller's tenant; another tenant's is "not found".
    async fn owned(&self, who: &Principal, client_id: &str) -> Result<Client, Error> {
        match self.load(client_id).await? {
            Some(c) if c.tenant == who.tenant.as_str() => Ok(c),
            _ => Err(Error::NotFound {
                kind: "client",
                id: client_id.to_owned(),
            }),
        }
    }

    /// A page of the caller's tenant's clients, oldest first, and the next page's token.
    pub async fn list(
        &self,
        who: &Principal,
        page_size: i32,
        page_token: &str,
    ) -> Result<(Vec<Client>, Option<String>), Error> {
        allow(who, ListClients::OP)?;
        let size = page::page_size(page_size)?;
        let query = page::fingerprint(&["clients"]);
        let after = Cursor::decode(page_token, query)?.map(|c| c.after);
        let rows = sqlx::query(&format!(
            "SELECT {COLUMNS} FROM clients WHERE tenant_id = $1 AND client_id > $2 \
             ORDER BY client_id LIMIT $3"
        ))
        .bind(who.tenant.as_str())
        .bind(after.unwrap_or_default())
        .bind(i64::try_from(size + 1).unwrap_or(i64::MAX))
        .fetch_all(self.db.pool())
        .await
        .map_err(Error::internal)?;
        let mut clients = rows.iter().map(from_row).collect::<Result<Vec<_>, _>>()?;
        let next = if clients.len() > size {
            clients.truncate(size);
            clients.last().map(|c| {
                Cursor {
                    after: c.client_id.clone(),
                    query,
                }
                .encode()
            })
        } else {
            None
        };
        Ok((clients, next))
    }

    pub async fn update(
        &self,
        who: &Principal,
        client_id: &str,
        changes: ClientChanges,
    ) -> Result<Client, Error> {
        let change = self.change(who, client_id, changes);
        self.audited(who, UpdateClient::OP, client_id, change).await
    }

    async fn change(
        &self,
        who: &Principal,
        client_id: &str,
        changes: ClientChanges,
    ) -> Result<Client, Error> {
        allow(who, UpdateClient::OP)?;
        let mut c = self.owned(who, client_id).await?;
        let old_version = c.version;
        // Disabling is always allowed (it only takes rights away); any other change — new
        // keys especially — is a grant of the client's scopes to whoever holds those keys.
        let only_disables = changes.name.is_none()
            && changes.jwks.is_none()
            && changes.scopes.is_none()
            && changes.enabled == Some(false);
        if let Some(name) = changes.name {
            c.name = name;
        }
        if let Some(jwks) = changes.jwks {
            c.jwks = jwks;
        }
        if let Some(scopes) = changes.scopes {
            c.scopes = scopes;
        }
        if let Some(enabled) = changes.enabled {
            c.enabled = enabled;
        }
        validate(&c.name, c.kind, &c.jwks, &c.scopes)?;
        if !only_disables {
            grantable(who, &c.scopes)?;
        }
        c.version += 1;
        c.update_time_us = now_micros();
        let _turn = self.db.write_turn().await;
        let done = sqlx::query(
            "UPDATE clients SET name = $3, jwks = $4, scopes = $5, enabled = $6, version = $7, update_time_us = $8 \
             WHERE client_id = $1 AND tenant_id = $2 AND version = $9",
        )
        .bind(&c.client_id)
        .bind(&c.tenant)
        .bind(&c.name)
        .bind(c.jwks.to_string())
        .bind(c.scopes.join(" "))
        .bind(i64::from(c.enabled))
        .bind(c.version)
        .bind(c.update_time_us)
        .bind(old_version)
        .execute(self.db.pool())
        .await
        .map_err(Error::internal)?;
        if done.rows_affected() == 0 {
            return Err(Error::Conflict(format!(
                "client {client_id} was changed concurrently; retry"
            )));
        }
        tracing::info!(client_id = %c.client_id, enabled = c.enabled, "client updated");
        Ok(c)
    }

    /// The token endpoint's work: client_credentials with a `private_key_jwt` assertion.
    pub async fn exchange(
        &self,
        form: &TokenForm,
        token_url: &str,
        issuer: &Issuer<'_>,
        caller: &Caller,
    ) -> Result<TokenResponse, OAuthError> {
        if form.grant_type.as_deref() != Some("client_credentials") {
            return Err(OAuthError::new(
                "unsupported_grant_type",
                "grant_type must be client_credentials",
            ));
        }
        if form.client_assertion_type.as_deref() != Some(JWT_BEARER) {
            return Err(OAuthError::new(
                "invalid_request",
                format!("client_assertion_type must be {JWT_BEARER}"),
            ));
        }
        let assertion = form
            .client_assertion
            .as_deref()
            .ok_or_else(|| OAuthError::new("invalid_request", "client_assertion is required"))?;
        let invalid_client = |d: String| OAuthError::new("invalid_client", d);
        let client_id = claimed_client(assertion).map_err(|e| invalid_client(e.to_string()))?;
        let server_error = |_| OAuthError::new("server_error", "try again shortly");
        let client = self
            .load(&client_id)
            .await
            .map_err(server_error)?
            .ok_or_else(|| invalid_client("unknown client".into()))?;
        // From here the client, and so its tenant, is known: the outcome is audited.
        let result = self
            .issue(&client, assertion, form, token_url, issuer)
            .await;
        let (outcome, status) = match &result {
            Ok(_) => (Outcome::Success, "Ok"),
            Err(e) if e.error == "server_error" => (Outcome::Failed, e.error),
            Err(e) => (Outcome::Denied, e.error),
        };
        let event = AuditEvent {
            time_us: now_micros(),
            tenant: client.tenant.clone(),
            issuer: client.client_id.clone(),
            client_id: client.client_id.clone(),
            subject: client.client_id.clone(),
            action: "token.issue".into(),
            resource_type: "Client".into(),
            resource_id: client.client_id.clone(),
            patient_id: String::new(),
            outcome,
            status: status.into(),
            request_id: caller.request_id.clone(),
            source_addr: caller.source_addr.clone().unwrap_or_default(),
        };
        let events = match outcome {
            Outcome::Denied => self.refusals.admit(&client.client_id, event),
            _ => vec![event],
        };
        if !events.is_empty() {
            self.audit
                .record(events)
                .await
                .map_err(|_| OAuthError::new("server_error", "try again shortly"))?;
        }
        result
    }

    async fn issue(
        &self,
        client: &Client,
        assertion: &str,
        form: &TokenForm,
        token_url: &str,
        issuer: &Issuer<'_>,
    ) -> Result<TokenResponse, OAuthError> {
        let invalid_client = |d: String| OAuthError::new("invalid_client", d);
        if !client.enabled {
            return Err(invalid_client("client is disabled".into()));
        }
        let jwks: JwkSet = serde_json::from_value(client.jwks.clone())
            .map_err(|_| invalid_client("client has no usable keys".into()))?;
        let claims = verify_assertion(assertion, &jwks, &client.client_id, token_url)
            .map_err(|e| invalid_client(format!("client assertion refused: {e}")))?;
        self.claim_jti(&client.client_id, &claims.jti, claims.exp)
            .await?;

        let requested: Vec<&str> = form
            .scope
            .as_deref()
            .unwrap_or("")
            .split_whitespace()
            .collect();
        if requested.is_empty() {
            return Err(OAuthError::new("invalid_scope", "scope is required"));
        }
        let allowed: Vec<Scope> = client
            .scopes
            .iter()
            .filter_map(|s| Scope::parse(s))
            .collect();
        let granted: Vec<String> = requested
            .iter()
            .filter(|r| Scope::parse(r).is_some_and(|r| allowed.iter().any(|a| a.covers(&r))))
            .map(|s| (*s).to_owned())
            .collect();
        if granted.is_empty() {
            return Err(OAuthError::new(
                "invalid_scope",
                "none of the requested scopes is allowed for this client",
            ));
        }
        let access_token = issuer
            .key
            .mint(&Grant {
                issuer: issuer.issuer,
                audience: issuer.audience,
                tenant: &client.tenant,
                subject: &client.client_id,
                roles: &[],
                scopes: &granted,
                client_id: Some(&client.client_id),
                ttl_secs: ACCESS_TOKEN_TTL_SECS,
            })
            .map_err(|_| OAuthError::new("server_error", "cannot sign the token"))?;
        tracing::info!(client_id = %client.client_id, scope = %granted.join(" "), "token issued");
        Ok(TokenResponse {
            access_token,
            token_type: "bearer",
            expires_in: ACCESS_TOKEN_TTL_SECS,
            scope: granted.join(" "),
        })
    }

    /// Remembers an assertion's `jti` until it expires; a second use is refused, on any
    /// gateway replica sharing this database.
    async fn claim_jti(&self, client_id: &str, jti: &str, exp: i64) -> Result<(), OAuthError> {
        let server_error = |_| OAuthError::new("server_error", "try again shortly");
        let now = now_micros();
        let _turn = self.db.write_turn().await;
        sqlx::query("DELETE FROM used_assertions WHERE client_id = $1 AND expires_us < $2")
            .bind(client_id)
            .bind(now - 3_600_000_000)
            .execute(self.db.pool())
            .await
            .map_err(server_error)?;
        let claimed = sqlx::query(
            "INSERT INTO used_assertions (client_id, jti, expires_us) VALUES ($1, $2, $3)",
        )
        .bind(client_id)
        .bind(jti)
        .bind(exp.saturating_mul(1_000_000))
        .execute(self.db.pool())
        .await;
        match claimed {
            Ok(_) => Ok(()),
            Err(e) if is_unique_violation(&e) => {
                tracing::warn!(client_id, "client assertion replayed");
                Err(OAuthError::new(
                    "invalid_client",
                    "client assertion jti was already used",
                ))
            }
            Err(_) => Err(OAuthError::new("server_error", "try again shortly")),
        }
    }
}

/// Registering and changing clients is the policy's call (admins), for REST and gRPC alike.
fn allow(who: &Principal, op: &Operation) -> Result<(), Error> {
    crate::policy::authorize(who, op).map_err(|denied| Error::PermissionDenied(denied.0))
}

/// Every scope of a client must be one the caller could use itself (`policy::may_grant`).
fn grantable(who: &Principal, scopes: &[String]) -> Result<(), Error> {
    for scope in scopes {
        crate::policy::may_grant(who, scope).map_err(|denied| Error::PermissionDenied(denied.0))?;
    }
    Ok(())
}

/// What the gateway signs access tokens as.
pub struct Issuer<'a> {
    pub key: &'a SigningKey,
    pub issuer: &'a str,
    pub audience: &'a str,
}

/// The token request form (`application/x-www-form-urlencoded`), SMART Backend Services
/// (RFC 7523 client assertion).
#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
pub struct TokenForm {
    #[schema(value_type = String, required = true, pattern = "^client_credentials$", example = "client_credentials")]
    pub grant_type: Option<String>,
    #[schema(
        value_type = String,
        required = true,
        pattern = "^urn:ietf:params:oauth:client-assertion-type:jwt-bearer$",
        example = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
    )]
    pub client_assertion_type: Option<String>,
    /// A JWT signed with the client's key: `iss` = `sub` = client id, `aud` = the token URL,
    /// `exp` at most 5 minutes ahead, a `jti` never used before.
    #[schema(value_type = String, required = true, min_length = 1)]
    pub client_assertion: Option<String>,
    /// Space-separated SMART scopes (`system/Patient.rs`); absent: every scope the client
    /// is allowed.
    #[schema(value_type = String)]
    pub scope: Option<String>,
}
