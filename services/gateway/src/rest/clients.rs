//! `/v1/clients`: the tenant's registered backend clients (admins), and the SMART token
//! endpoint `/oauth2/token` with its discovery document.

use axum::extract::{Path, State};
use axum::response::{IntoResponse, Response};
use axum::{Extension, Form, Json};
use http::{StatusCode, header};
use iop_core::Principal;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::extract::{JsonObject, Query};
use crate::AppState;
use crate::clients::{Caller, Client, ClientChanges, ClientKind, Issuer, TokenForm, TokenResponse};
use crate::problem::Problem;

/// A registered backend client. Its public keys verify the assertions it signs.
#[derive(Debug, Serialize, ToSchema)]
pub struct RegisteredClient {
    pub client_id: String,
    pub name: String,
    pub kind: ClientKind,
    /// Public keys (a JWKS) the client signs its assertions with.
    #[schema(value_type = Object)]
    pub jwks: serde_json::Value,
    /// SMART system scopes the client may be granted.
    pub scopes: Vec<String>,
    pub enabled: bool,
    pub version: i64,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewClient {
    pub name: String,
    pub kind: ClientKind,
    #[schema(value_type = Object)]
    pub jwks: serde_json::Value,
    pub scopes: Vec<String>,
}

/// Fields to change; `enabled: false` stops new tokens at once.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ClientUpdate {
    pub name: Option<String>,
    #[schema(value_type = Option<Object>)]
    pub jwks: Option<serde_json::Value>,
    pub scopes: Option<Vec<String>>,
    pub enabled: Option<bool>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ClientList {
    pub clients: Vec<RegisteredClient>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_page_token: Option<String>,
}

#[derive(Debug, Default, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ClientListParams {
    /// 1-200, default 50.
    #[param(minimum = 0)]
    pub page_size: Option<i32>,
    pub page_token: Option<String>,
}

fn json(c: Client) -> RegisteredClient {
    RegisteredClient {
        client_id: c.client_id,
        name: c.name,
        kind: c.kind,
        jwks: c.jwks,
        scopes: c.scopes,
        enabled: c.enabled,
        version: c.version,
    }
}

fn problem(e: iop_core::Error) -> Problem {
    Problem::from_status(&tonic::Status::from(e), "")
}

/// Register a backend client of your clinic.
#[utoipa::path(post, path = "/v1/clients", tag = "clients", request_body = NewClient,
    responses((status = 201, description = "Registered", body = RegisteredClient),
        (status = 403, description = "Not an admin", body = Problem, content_type = "application/problem+json")),
    security(("bearer" = [])))]
pub async fn create(
    State(st): State<AppState>,
    Extension(who): Extension<Principal>,
    body: JsonObject,
) -> Result<Response, Problem> {
    let new: NewClient = body.parse()?;
    let client = st
        .clients
        .create(&who, new.name, new.kind, new.jwks, new.scopes)
        .await
        .map_err(problem)?;
    let location = format!("/v1/clients/{}", client.client_id);
    Ok(super::created_at(&location, json(client), None))
}

/// One client of your clinic.
#[utoipa::path(get, path = "/v1/clients/{id}", tag = "clients",
    params(("id" = String, Path, description = "Client id")),
    responses((status = 200, description = "The client", body = RegisteredClient),
        (status = 404, description = "No such client in your clinic", body = Problem, content_type = "application/problem+json")),
    security(("bearer" = [])))]
pub async fn get(
    State(st): State<AppState>,
    Extension(who): Extension<Principal>,
    Path(id): Path<String>,
) -> Result<Json<RegisteredClient>, Problem> {
    Ok(Json(json(
        st.clients.get(&who, &id).await.map_err(problem)?,
    )))
}

/// Your clinic's clients, oldest first, a page at a time.
#[utoipa::path(get, path = "/v1/clients", tag = "clients", params(ClientListParams),
    responses((status = 200, description = "A page of clients", body = ClientList),
        (status = 400, description = "Invalid parameter", body = Problem, content_type = "application/problem+json")),
    security(("bearer" = [])))]
pub async fn list(
    State(st): State<AppState>,
    Extension(who): Extension<Principal>,
    Query(p): Query<ClientListParams>,
) -> Result<Json<ClientList>, Problem> {
    let (clients, next) = st
        .clients
        .list(
            &who,
            p.page_size.unwrap_or(0),
            p.page_token.as_deref().unwrap_or(""),
        )
        .await
        .map_err(problem)?;
    Ok(Json(ClientList {
        clients: clients.into_iter().map(json).collect(),
        next_page_token: next,
    }))
}

/// Change a client: rotate its keys, change its scopes, disable it.
#[utoipa::path(patch, path = "/v1/clients/{id}", tag = "clients", request_body = ClientUpdate,
    params(("id" = String, Path, description = "Client id")),
    responses((status = 200, description = "Updated", body = RegisteredClient),
        (status = 404, description = "No such client in your clinic", body = Problem, content_type = "application/problem+json")),
    security(("bearer" = [])))]
pub async fn update(
    State(st): State<AppState>,
    Extension(who): Extension<Principal>,
    Path(id): Path<String>,
    body: JsonObject,
) -> Result<Json<RegisteredClient>, Problem> {
    let u: ClientUpdate = body.parse()?;
    let changes = ClientChanges {
        name: u.name,
        jwks: u.jwks,
        scopes: u.scopes,
        enabled: u.enabled,
    };
    Ok(Json(json(
        st.clients
            .update(&who, &id, changes)
            .await
            .map_err(problem)?,
    )))
}

/// OAuth 2.0 error body.
#[derive(Debug, Serialize, ToSchema)]
pub struct OAuthErrorBody {
    pub error: String,
    pub error_description: String,
}

/// SMART Backend Services token endpoint: `grant_type=client_credentials` with a
/// `private_key_jwt` client assertion.
#[utoipa::path(post, path = "/oauth2/token", tag = "oauth",
    request_body(content_type = "application/x-www-form-urlencoded", content = crate::clients::TokenForm),
    responses((status = 200, description = "An access token", body = TokenResponse),
        (status = 400, description = "invalid_request, invalid_scope, unsupported_grant_type", body = OAuthErrorBody),
        (status = 401, description = "invalid_client", body = OAuthErrorBody),
        (status = 429, description = "slow_down: too many token requests from this address; see Retry-After", body = OAuthErrorBody)))]
pub async fn token(
    State(st): State<AppState>,
    extensions: http::Extensions,
    form: Result<Form<TokenForm>, axum::extract::rejection::FormRejection>,
) -> Response {
    let no_store = [
        (header::CACHE_CONTROL, "no-store"),
        (header::PRAGMA, "no-cache"),
    ];
    let source = crate::auth::source_addr(&extensions);
    // Every token request, good or bad, counts against its source address: a flood of
    // forged assertions costs the flooder, not the clinic.
    if let Err(wait) = st.anonymous.check_address(source.as_deref()) {
        let secs = crate::limits::retry_after_secs(wait);
        let body = OAuthErrorBody {
            error: "slow_down".into(),
            error_description: format!("too many token requests; retry in {secs} s"),
        };
        let mut res = (StatusCode::TOO_MANY_REQUESTS, no_store, Json(body)).into_response();
        res.headers_mut()
            .insert(header::RETRY_AFTER, http::HeaderValue::from(secs));
        return res;
    }
    let Ok(Form(form)) = form else {
        let body = OAuthErrorBody {
            error: "invalid_request".into(),
            error_description: "body must be application/x-www-form-urlencoded".into(),
        };
        return (StatusCode::BAD_REQUEST, no_store, Json(body)).into_response();
    };
    let ring = st.keys.ring();
    let issuer = Issuer {
        key: &ring.current,
        issuer: &st.issuer,
        audience: &st.audience,
    };
    let caller = Caller {
        request_id: crate::request_id::current().unwrap_or_default(),
        source_addr: source,
    };
    match st
        .clients
        .exchange(&form, &st.token_url, &issuer, &caller)
        .await
    {
        Ok(token) => (StatusCode::OK, no_store, Json(token)).into_response(),
        Err(e) => {
            tracing::info!(error = e.error, reason = %e.description, "token request refused");
            let status = StatusCode::from_u16(e.status()).unwrap_or(StatusCode::BAD_REQUEST);
            let body = OAuthErrorBody {
                error: e.error.into(),
                error_description: e.description,
            };
            (status, no_store, Json(body)).into_response()
        }
    }
}

/// SMART discovery: how backend clients get tokens here.
pub async fn smart_configuration(State(st): State<AppState>) -> Json<serde_json::Value> {
    let base = st.token_url.trim_end_matches("/oauth2/token");
    Json(serde_json::json!({
        "issuer": st.issuer,
        "jwks_uri": format!("{base}/.well-known/jwks.json"),
        "token_endpoint": st.token_url,
        "grant_types_supported": ["client_credentials"],
        "token_endpoint_auth_methods_supported": ["private_key_jwt"],
        "token_endpoint_auth_signing_alg_values_supported": ["RS256", "RS384", "ES256", "ES384", "PS256", "PS384", "EdDSA"],
        "scopes_supported": ["system/Patient.cruds", "system/Patient.rs", "system/AuditEvent.rs"],
        "capabilities": ["client-confidential-asymmetric", "permission-v2"],
    }))
}
