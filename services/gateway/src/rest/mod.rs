//! The REST/JSON API and its OpenAPI 3.1 document, generated from the handlers.

pub mod audit;
pub mod clients;
pub mod extract;
pub mod text;

use crate::problem::Problem;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

#[derive(OpenApi)]
#[openapi(
    info(
        title = "IOP Platform API",
        description = "Scheduling, patient records and group sessions for Intensive Outpatient Programs. \
            Every call needs `Authorization: Bearer <JWT>`; errors are RFC 9457 problem+json.",
    ),
    // Schemas named by an operation's handler are collected from it (see `api`); listed
    // here are only those no handler names directly.
    components(schemas(crate::problem::Problem, crate::problem::ProblemField)),
    modifiers(&BearerAuth, &OperationIds),
    tags(
        (name = "audit", description = "Who accessed which patient's data (admins)"),
        (name = "clients", description = "Backend clients registered by your clinic (admins)"),
        (name = "oauth", description = "SMART Backend Services tokens"),
    ),
)]
pub struct ApiDoc;

/// The REST routes of every declared operation (see `backends/`), and the OpenAPI document
/// they make with [`ApiDoc`] and the token endpoint.
pub(crate) fn api() -> (axum::Router<crate::AppState>, utoipa::openapi::OpenApi) {
    let mut doc = ApiDoc::openapi();
    // Each backend describes its own tags, listed before the gateway's.
    let own_tags = doc.tags.take().unwrap_or_default();
    let mut tags: Vec<utoipa::openapi::Tag> = crate::backends::BACKENDS
        .iter()
        .flat_map(|b| b.tags.iter())
        .map(|(name, description)| {
            utoipa::openapi::tag::TagBuilder::new()
                .name(*name)
                .description(Some(*description))
                .build()
        })
        .collect();
    tags.extend(own_tags);
    doc.tags = Some(tags);
    let mut routes = utoipa_axum::router::OpenApiRouter::with_openapi(doc);
    for op in crate::backends::operations() {
        routes = routes.routes((op.rest)());
    }
    let (router, mut doc) = routes.split_for_parts();
    // The token endpoint is routed apart (no bearer token, its own body limit).
    let (schemas, token, _): utoipa_axum::router::UtoipaMethodRouter<crate::AppState> =
        utoipa_axum::routes!(clients::token);
    doc.paths.merge(token);
    doc.components
        .get_or_insert_with(Default::default)
        .schemas
        .extend(schemas);
    OperationIds.modify(&mut doc);
    Contract.modify(&mut doc);
    (router, doc)
}

/// The published OpenAPI document.
pub fn openapi() -> utoipa::openapi::OpenApi {
    api().1
}

/// The document as `/openapi.json` serves it: with links from each create to what can be
/// done with what it created (OpenAPI 3.1 Link objects), so a client generator, and a
/// fuzzer's stateful phase, can chain real ids: `POST /v1/patients` → `GET`/`PATCH
/// /v1/patients/{id}`, `POST /v1/patients/{id}/episodes`…; `POST /v1/patients/{id}/episodes`
/// → `/v1/episodes/{id}` and what is under it. Only operations whose one path parameter is
/// `id` are linked, from creates whose answer has an `id`. Written on the JSON: utoipa 5.5
/// serializes a Link's `operationId` as `operation_id`. Also here: a PATCH body must name a
/// field to change (`anyOf` its fields besides `etag`).
pub fn openapi_json(doc: &utoipa::openapi::OpenApi) -> String {
    use serde_json::{Value, json};
    let mut doc = serde_json::to_value(doc).unwrap_or_default();
    let with_id = |r: &Value| -> bool {
        let name = r
            .as_str()
            .unwrap_or_default()
            .rsplit('/')
            .next()
            .unwrap_or_default();
        doc["components"]["schemas"][name]["properties"]
            .get("id")
            .is_some()
    };
    let paths = doc["paths"].as_object().cloned().unwrap_or_default();
    let by_id: Vec<(&String, Vec<String>)> = paths
        .iter()
        .filter(|(path, _)| path.matches('{').count() == 1 && path.contains("{id}"))
        .map(|(path, item)| {
            let ids = item
                .as_object()
                .into_iter()
                .flat_map(|ops| ops.values())
                .filter_map(|op| op["operationId"].as_str().map(str::to_owned))
                .collect();
            (path, ids)
        })
        .collect();
    let mut links = Vec::new();
    for (path, item) in &paths {
        let created = &item["post"]["responses"]["201"];
        if !with_id(&created["content"]["application/json"]["schema"]["$ref"]) {
            continue;
        }
        let collection = path.rsplit('/').next().unwrap_or_default();
        let at = format!("/v1/{collection}/{{id}}");
        let mut these = serde_json::Map::new();
        for (target, ids) in &by_id {
            if **target == at || target.starts_with(&format!("{at}/")) {
                for id in ids {
                    let link =
                        json!({ "operationId": id, "parameters": { "id": "$response.body#/id" } });
                    these.insert(id.clone(), link);
                }
            }
        }
        if !these.is_empty() {
            links.push((path.clone(), these));
        }
    }
    for (path, these) in links {
        doc["paths"][&path]["post"]["responses"]["201"]["links"] = Value::Object(these);
    }
    if let Some(schemas) = doc["components"]["schemas"].as_object_mut() {
        for backend in crate::backends::BACKENDS {
            (backend.schema_rules)(schemas);
        }
    }
    // A PATCH must name a field to change (the handlers refuse a body with none, or with
    // only `etag`): every PATCH body requires one of its fields besides `etag`.
    let patched: Vec<String> = paths
        .values()
        .filter_map(|item| {
            item["patch"]["requestBody"]["content"]["application/json"]["schema"]["$ref"].as_str()
        })
        .filter_map(|r| r.rsplit('/').next().map(str::to_owned))
        .collect();
    for name in patched {
        let schema = &mut doc["components"]["schemas"][&name];
        let fields: Vec<Value> = schema["properties"]
            .as_object()
            .map(|p| {
                p.keys()
                    .filter(|k| *k != "etag")
                    .map(|k| json!({ "required": [k] }))
                    .collect()
            })
            .unwrap_or_default();
        if !fields.is_empty() {
            schema["minProperties"] = json!(1);
            schema["anyOf"] = Value::Array(fields);
        }
    }
    serde_json::to_string_pretty(&doc).unwrap_or_default()
}

/// The header that makes a creating POST safe to retry.
pub const IDEMPOTENCY_KEY: &str = "Idempotency-Key";

/// The `Idempotency-Key` header, or empty without one; the services check its shape.
pub fn idempotency_key(headers: &http::HeaderMap) -> Result<String, Problem> {
    match headers.get(IDEMPOTENCY_KEY).map(|v| v.to_str()) {
        None => Ok(String::new()),
        Some(Ok(key)) => Ok(key.to_owned()),
        Some(Err(_)) => Err(Problem::field(IDEMPOTENCY_KEY, "must be printable ASCII")),
    }
}

/// The etag of `If-Match` (`"3"`, `W/"3"` → `3`); `*` or no header means no check.
pub fn if_match(headers: &http::HeaderMap) -> Result<Option<String>, Problem> {
    match headers.get(http::header::IF_MATCH).map(|v| v.to_str()) {
        None => Ok(None),
        Some(Err(_)) => Err(Problem::field("If-Match", "must be an etag")),
        Some(Ok(v)) => {
            let v = v.trim();
            if v == "*" {
                return Ok(Some(String::new()));
            }
            Ok(Some(
                v.trim_start_matches("W/").trim_matches('"').to_owned(),
            ))
        }
    }
}

/// A JSON response with an `ETag` header.
pub fn with_etag(
    status: http::StatusCode,
    body: impl serde::Serialize,
    etag: &str,
) -> axum::response::Response {
    use axum::response::IntoResponse;
    let mut res = (status, axum::Json(body)).into_response();
    if let Ok(v) = http::HeaderValue::from_str(&format!("\"{etag}\"")) {
        res.headers_mut().insert(http::header::ETAG, v);
    }
    res
}

/// A resource just created: 201 with its JSON, `Location` (where to read it) and, for a
/// versioned resource, its `ETag`.
pub fn created_at(
    location: &str,
    body: impl serde::Serialize,
    etag: Option<&str>,
) -> axum::response::Response {
    use axum::response::IntoResponse;
    let mut res = match etag {
        Some(etag) => with_etag(http::StatusCode::CREATED, body, etag),
        None => (http::StatusCode::CREATED, axum::Json(body)).into_response(),
    };
    if let Ok(v) = http::HeaderValue::from_str(location) {
        res.headers_mut().insert(http::header::LOCATION, v);
    }
    res
}

/// The etag an `If-Match` header names; empty (write whatever is current) without one.
pub fn etag_or_any(headers: &http::HeaderMap) -> Result<String, Problem> {
    Ok(if_match(headers)?.unwrap_or_default())
}

/// How a backend's resource message is answered over REST: its JSON face, where it lives,
/// its version, and the prefix its field paths carry in the service's errors. One impl per
/// resource message makes [`answer`] (200) and [`create`] (201) serve every operation that
/// returns it.
pub trait Shown: Sized {
    type Json: serde::Serialize;
    /// The collection its `Location` is under (`/v1/notes`).
    const COLLECTION: &'static str;
    /// The prefix of field paths in the service's errors (`note.`), dropped over REST.
    const FIELDS: &'static str;
    fn id(&self) -> &str;
    /// Its etag; `None` for a resource that is never updated.
    fn etag(&self) -> Option<&str>;
    fn json(self) -> Self::Json;

    /// A failed call about this resource as a problem, with REST's field paths.
    fn problem(status: tonic::Status) -> Problem {
        Problem::from_status(&status, Self::FIELDS)
    }
}

/// Implements [`Shown`]: `shown! { pb::Note => Note, by from_proto, at "/v1/notes", fields
/// "note.", versioned }` (without `versioned`, a resource that is never updated).
macro_rules! shown {
    ($pb:ty => $json:ty, by $to_json:expr, at $coll:literal, fields $fields:literal $(, $versioned:ident)?) => {
        impl $crate::rest::Shown for $pb {
            type Json = $json;
            const COLLECTION: &'static str = $coll;
            const FIELDS: &'static str = $fields;
            fn id(&self) -> &str {
                &self.id
            }
            fn etag(&self) -> Option<&str> {
                $crate::rest::shown!(@etag self $($versioned)?)
            }
            fn json(self) -> $json {
                ($to_json)(self)
            }
        }
    };
    (@etag $self:ident versioned) => {
        Some(&$self.etag)
    };
    (@etag $self:ident) => {
        None
    };
}

pub(crate) use shown;

/// A page of a listing as JSON, and how it is made from the service's answer:
/// `listed! { NoteList { notes: Note } from pb::ListNotesResponse, by from_proto }` declares
/// `NoteList { notes, next_page_token }` and its `From` that [`list`] answers with.
macro_rules! listed {
    ($(#[$doc:meta])* $list:ident { $items:ident: $item:ty } from $pb:ty, by $to_json:expr) => {
        $(#[$doc])*
        #[derive(Debug, serde::Serialize, utoipa::ToSchema)]
        pub struct $list {
            pub $items: Vec<$item>,
            /// Pass as `page_token` for the next page; absent on the last page.
            #[serde(skip_serializing_if = "Option::is_none")]
            pub next_page_token: Option<String>,
        }

        impl From<$pb> for $list {
            fn from(page: $pb) -> Self {
                Self {
                    $items: page.$items.into_iter().map($to_json).collect(),
                    next_page_token: $crate::rest::present(page.next_page_token),
                }
            }
        }
    };
}

pub(crate) use listed;

/// Forwards a listing: 200 with its page as JSON ([`listed!`]); a failure as `problem` says.
pub async fn list<C, J>(
    st: &crate::AppState,
    who: &iop_core::Principal,
    op: C,
    message: C::Req,
    problem: impl FnOnce(tonic::Status) -> Problem,
) -> Result<axum::Json<J>, Problem>
where
    C: crate::operation::Call,
    J: From<C::Res>,
{
    let page = st.down.forward(who, op, message).await.map_err(problem)?;
    Ok(axum::Json(J::from(page)))
}

fn respond(status: http::StatusCode, res: impl Shown) -> axum::response::Response {
    use axum::response::IntoResponse;
    match res.etag().map(str::to_owned) {
        Some(etag) => with_etag(status, res.json(), &etag),
        None => (status, axum::Json(res.json())).into_response(),
    }
}

/// Forwards a call answered by one resource: 200 with its JSON and `ETag`.
pub async fn answer<C>(
    st: &crate::AppState,
    who: &iop_core::Principal,
    op: C,
    message: C::Req,
) -> Result<axum::response::Response, Problem>
where
    C: crate::operation::Call,
    C::Res: Shown,
{
    let res = st
        .down
        .forward(who, op, message)
        .await
        .map_err(C::Res::problem)?;
    Ok(respond(http::StatusCode::OK, res))
}

/// Forwards a create: 201 with the resource, its `Location` and `ETag`. The service's
/// `request_id` is the `Idempotency-Key` header here, and `path_field` (e.g. `patient_id`) is
/// the route's `{id}`.
pub async fn create<C>(
    st: &crate::AppState,
    who: &iop_core::Principal,
    op: C,
    message: C::Req,
    path_field: Option<&str>,
) -> Result<axum::response::Response, Problem>
where
    C: crate::operation::Call,
    C::Res: Shown,
{
    let created = st.down.forward(who, op, message).await.map_err(|s| {
        let problem = C::Res::problem(s).rename_field("request_id", IDEMPOTENCY_KEY);
        match path_field {
            Some(field) => problem.rename_field(field, "id"),
            None => problem,
        }
    })?;
    let location = format!("{}/{}", C::Res::COLLECTION, created.id());
    let mut res = respond(http::StatusCode::CREATED, created);
    if let Ok(v) = http::HeaderValue::from_str(&location) {
        res.headers_mut().insert(http::header::LOCATION, v);
    }
    Ok(res)
}

/// An optional id of a create body: absent (or null) is none; an empty string is not an id.
pub fn optional_id(field: &str, value: Option<String>) -> Result<String, Problem> {
    match value {
        Some(id) if id.is_empty() => Err(Problem::field(
            field,
            "must be an id (UUID); leave it out for none",
        )),
        other => Ok(other.unwrap_or_default()),
    }
}

/// A calendar date as `YYYY-MM-DD`; empty when absent.
pub fn date_text(d: Option<&iop_proto::common::Date>) -> String {
    d.map(|d| format!("{:04}-{:02}-{:02}", d.year, d.month, d.day))
        .unwrap_or_default()
}

/// A `YYYY-MM-DD` body or query value named `field`.
pub fn parse_date(
    field: &str,
    value: Option<&str>,
) -> Result<Option<iop_proto::common::Date>, Problem> {
    use chrono::Datelike;
    value
        .map(|s| {
            // Exactly four digits of year, no sign, not year 0: `%Y` alone would take
            // `+2026-01-01`, `-0001-01-01` and `0000-01-01`.
            let plain = s.len() == 10 && s.as_bytes()[..4].iter().all(u8::is_ascii_digit);
            chrono::NaiveDate::parse_from_str(s, "%Y-%m-%d")
                .ok()
                .filter(|d| plain && d.year() >= 1)
                .ok_or(())
                .map(|d| iop_proto::common::Date {
                    year: d.year(),
                    month: d.month() as i32,
                    day: d.day() as i32,
                })
                .map_err(|()| Problem::field(field, "must be a date as YYYY-MM-DD"))
        })
        .transpose()
}

/// A protobuf string where empty means absent, as JSON: `None` when empty.
pub fn present(s: String) -> Option<String> {
    (!s.is_empty()).then_some(s)
}

/// A protobuf instant as RFC 3339 UTC with microseconds; empty when absent.
pub fn rfc3339(ts: Option<&prost_types::Timestamp>) -> String {
    ts.and_then(|t| chrono::DateTime::from_timestamp(t.seconds, t.nanos.max(0) as u32))
        .map(|d| d.to_rfc3339_opts(chrono::SecondsFormat::Micros, true))
        .unwrap_or_default()
}

/// Microseconds since the epoch of an RFC 3339 query or body value named `field`.
pub fn parse_time(field: &str, value: Option<&str>) -> Result<Option<i64>, Problem> {
    value
        .map(|s| {
            chrono::DateTime::parse_from_rfc3339(s)
                .map(|t| t.timestamp_micros())
                .map_err(|_| {
                    Problem::field(field, "must be an RFC 3339 time, e.g. 2026-11-27T09:00:00Z")
                })
        })
        .transpose()
}

/// Operation ids are the handler names, which repeat across resources (`list`, `get`);
/// OpenAPI wants them unique, so they become `<tag>_<handler>` (`patients_list`).
struct OperationIds;

impl Modify for OperationIds {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        for item in openapi.paths.paths.values_mut() {
            for op in [
                &mut item.get,
                &mut item.put,
                &mut item.post,
                &mut item.patch,
                &mut item.delete,
            ]
            .into_iter()
            .flatten()
            {
                let tag = op.tags.as_ref().and_then(|t| t.first()).cloned();
                if let (Some(tag), Some(id)) = (tag, op.operation_id.as_mut()) {
                    // An identifier in every generator's language: `appointment kinds` →
                    // `appointment_kinds_list`.
                    let tag = tag.replace(|c: char| !c.is_ascii_alphanumeric(), "_");
                    *id = format!("{tag}_{id}");
                }
            }
        }
    }
}

/// What the gateway's own rules make true of every operation, written into each one so a
/// generated client or a fuzzer reading the document is never surprised: the statuses any
/// operation can answer (problem+json), and that a resource's `{id}` is a UUID. A handler
/// documents only what is particular to it.
struct Contract;

impl Contract {
    fn problem(description: &str) -> utoipa::openapi::RefOr<utoipa::openapi::Response> {
        use utoipa::openapi::{ContentBuilder, Ref, ResponseBuilder};
        ResponseBuilder::new()
            .description(description)
            .content(
                "application/problem+json",
                ContentBuilder::new()
                    .schema(Some(Ref::from_schema_name("Problem")))
                    .build(),
            )
            .build()
            .into()
    }
}

impl Modify for Contract {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::RefOr;
        use utoipa::openapi::path::ParameterIn;
        use utoipa::openapi::schema::{ObjectBuilder, Schema, SchemaFormat, SchemaType, Type};
        for (path, item) in &mut openapi.paths.paths {
            // OAuth's token endpoint answers in OAuth's own error format (RFC 6749 §5.2),
            // documented by its handler.
            if !path.starts_with("/v1/") {
                continue;
            }
            let operations = [
                (false, &mut item.get),
                (true, &mut item.put),
                (true, &mut item.post),
                (true, &mut item.patch),
                (true, &mut item.delete),
            ];
            for (changes, op) in operations {
                let Some(op) = op.as_mut() else { continue };
                let with_body = op.request_body.is_some();
                // A resource named in the path, or a filter naming a patient or an episode,
                // may not exist.
                let with_id =
                    path.contains('{')
                        || op.parameters.iter().flatten().any(|p| {
                            p.parameter_in == ParameterIn::Query && p.name.ends_with("_id")
                        });
                // Rules beyond JSON Schema (dates against today, one value against another,
                // page tokens) apply to what a caller sends: a body or query parameters.
                let with_input = with_body
                    || op
                        .parameters
                        .iter()
                        .flatten()
                        .any(|p| p.parameter_in == ParameterIn::Query);
                // The path's parameters (`{id}`, `{clinician_id}`…) are declared here, for
                // every operation alike: each a UUID naming a resource.
                let params = op.parameters.get_or_insert_with(Vec::new);
                let names = path
                    .split('{')
                    .skip(1)
                    .filter_map(|rest| rest.split_once('}').map(|(name, _)| name));
                for (at, name) in names.enumerate() {
                    // Others (`{kind}`) are declared by their handler.
                    if !(name == "id" || name.ends_with("_id")) {
                        continue;
                    }
                    if params
                        .iter()
                        .any(|p| p.parameter_in == ParameterIn::Path && p.name == name)
                    {
                        continue;
                    }
                    use utoipa::openapi::path::ParameterBuilder;
                    let thing = match name.strip_suffix("_id") {
                        Some(thing) => thing.replace('_', " "),
                        None => thing_of(path),
                    };
                    let mut first = thing.chars();
                    let thing = first
                        .next()
                        .map(|c| c.to_uppercase().chain(first).collect::<String>())
                        .unwrap_or_default();
                    params.insert(
                        at,
                        ParameterBuilder::new()
                            .name(name)
                            .parameter_in(ParameterIn::Path)
                            .required(utoipa::openapi::Required::True)
                            .description(Some(format!("{thing} id (UUID)")))
                            .build(),
                    );
                }
                let missing = match path.split_once("/{") {
                    // `/v1/safety-flags/{id}/…` → "No such safety flag in your clinic".
                    Some(_) => format!("No such {} in your clinic", thing_of(path)),
                    None => "No such patient or episode (named by a filter) in your clinic".into(),
                };
                let statuses = [
                    (true, "400", "Invalid request: the problem names the field"),
                    (true, "401", "No valid bearer token"),
                    (
                        true,
                        "403",
                        "The token's scopes or the user's roles do not allow this",
                    ),
                    (with_id, "404", missing.as_str()),
                    (
                        changes,
                        "409",
                        "Conflict: a stale etag, a state that does not allow this, or a value \
                         already used",
                    ),
                    (
                        with_input,
                        "422",
                        "Well formed, but against a rule the description states and JSON \
                         Schema cannot (a date relative to today, two values out of order, a \
                         page token this listing did not return): the problem names the field",
                    ),
                    (
                        with_body,
                        "413",
                        "The body is larger than the gateway accepts",
                    ),
                    (with_body, "415", "The body is not application/json"),
                    (
                        true,
                        "429",
                        "Too many requests: retry after `Retry-After` seconds",
                    ),
                    (true, "431", "Request headers too large"),
                    (
                        true,
                        "503",
                        "A service or the audit trail is unavailable; retry shortly",
                    ),
                    (true, "504", "A service did not answer in time"),
                ];
                for (applies, status, description) in statuses {
                    if applies {
                        op.responses
                            .responses
                            .entry(status.to_owned())
                            .or_insert_with(|| Self::problem(description));
                    }
                }
                for param in op.parameters.iter_mut().flatten() {
                    // `extract::Query` refuses an empty value, or a control character, in
                    // any parameter.
                    if param.parameter_in == ParameterIn::Query
                        && let Some(RefOr::T(Schema::Object(text))) = param.schema.as_mut()
                        && text.schema_type == SchemaType::Type(Type::String)
                    {
                        text.min_length = Some(1);
                        if text.format.is_none() && text.enum_values.is_none() {
                            text.pattern = Some(extract::NO_CONTROL_CHARACTERS.into());
                        }
                    }
                    // A header is absent or text, never `null`. The services take up to 255
                    // printable ASCII characters as a retry key (`iop_kit::idempotency`).
                    if param.parameter_in == ParameterIn::Header
                        && let Some(RefOr::T(Schema::Object(header))) = param.schema.as_mut()
                    {
                        header.schema_type = SchemaType::Type(Type::String);
                        if param.name == IDEMPOTENCY_KEY {
                            header.pattern = Some(iop_kit::idempotency::KEY_PATTERN.into());
                        }
                    }
                    if param.parameter_in == ParameterIn::Path
                        && (param.name == "id" || param.name.ends_with("_id"))
                    {
                        param.schema = Some(
                            ObjectBuilder::new()
                                .schema_type(Type::String)
                                .format(Some(SchemaFormat::Custom("uuid".into())))
                                .into(),
                        );
                    }
                }
            }
        }
    }
}

/// What the first `{…}` of a path names: `/v1/safety-flags/{id}/…` → "safety flag".
fn thing_of(path: &str) -> String {
    let collection = path.split_once("/{").map_or(path, |(c, _)| c);
    let name = collection.rsplit('/').next().unwrap_or_default();
    name.strip_suffix('s').unwrap_or(name).replace('-', " ")
}

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

#[cfg(test)]
mod tests {
    use super::if_match;

    /// utoipa keys schemas by type name: two types of one name would silently replace each
    /// other in the document. Every schema an operation names must be the only one of its
    /// name.
    #[test]
    fn every_schema_type_has_its_own_name() {
        let mut seen: std::collections::HashMap<String, String> = Default::default();
        for op in crate::backends::operations() {
            let (schemas, _, _) = (op.rest)();
            for (name, schema) in schemas {
                let json = serde_json::to_string(&schema).unwrap();
                if let Some(other) = seen.insert(name.clone(), json.clone()) {
                    assert_eq!(other, json, "two schemas are named {name}");
                }
            }
        }
        let doc = super::openapi();
        let registered = doc.components.map(|c| c.schemas.len()).unwrap_or(0);
        assert!(registered >= seen.len(), "{registered} < {}", seen.len());
        assert!(seen.contains_key("Patient") && seen.contains_key("Problem"));
    }

    /// Every enum of the document lists the text the API reads and writes (`snake_case`),
    /// and serde agrees with it.
    #[test]
    fn enums_list_the_text_on_the_wire() {
        use crate::backends::records::consents::RecordCategory;
        let doc = serde_json::to_value(super::openapi()).unwrap();
        let schemas = doc["components"]["schemas"].as_object().unwrap();
        let mut enums = 0;
        // Time zones are the tz database's names, not text of ours.
        for (name, schema) in schemas.iter().filter(|(n, _)| *n != "TimeZone") {
            let Some(values) = schema["enum"].as_array() else {
                continue;
            };
            enums += 1;
            for v in values {
                let v = v.as_str().unwrap();
                assert!(
                    v.chars()
                        .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_'),
                    "{name} lists {v}"
                );
            }
        }
        assert!(enums >= 15, "{enums} enums");
        assert_eq!(
            schemas["RecordCategory"]["description"],
            "Parts of the record a consent covers; psychotherapy notes are never among them."
        );
        let json = serde_json::to_string(&RecordCategory::SubstanceUseTreatment).unwrap();
        assert_eq!(json, "\"substance_use_treatment\"");
        assert_eq!(
            serde_json::from_str::<RecordCategory>(&json).unwrap(),
            RecordCategory::SubstanceUseTreatment
        );
    }

    #[test]
    fn operation_ids_are_unique_identifiers() {
        let doc = super::openapi();
        let mut seen = std::collections::HashSet::new();
        for (path, item) in &doc.paths.paths {
            for op in [&item.get, &item.put, &item.post, &item.patch, &item.delete]
                .into_iter()
                .flatten()
            {
                let id = op.operation_id.clone().unwrap_or_default();
                assert!(!id.is_empty(), "{path} has no operation id");
                assert!(seen.insert(id.clone()), "{id} ({path}) is used twice");
                assert!(
                    id.chars().all(|c| c.is_ascii_alphanumeric() || c == '_'),
                    "{id} is not an identifier"
                );
            }
        }
        assert!(seen.contains("patients_list") && seen.contains("referrals_list"));
    }

    /// The statuses the gateway's own rules can answer are documented on every operation, a
    /// body's on every operation that takes one, and every path parameter is declared, a UUID.
    #[test]
    fn every_operation_documents_what_the_gateway_may_answer() {
        let doc = super::openapi();
        let mut checked = 0;
        for (path, item) in doc
            .paths
            .paths
            .iter()
            .filter(|(p, _)| p.starts_with("/v1/"))
        {
            for op in [&item.get, &item.put, &item.post, &item.patch, &item.delete]
                .into_iter()
                .flatten()
            {
                let mut expected = vec!["400", "401", "403", "429", "503", "504"];
                if op.request_body.is_some() {
                    expected.extend(["413", "415", "422"]);
                }
                if path.contains("{id}") {
                    expected.push("404");
                }
                for status in expected {
                    assert!(
                        op.responses.responses.contains_key(status),
                        "{path} does not document {status}"
                    );
                }
                let json = serde_json::to_value(op).unwrap();
                let declared = json["parameters"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter(|p| p["in"] == "path")
                    .count();
                assert_eq!(declared, path.matches('{').count(), "{path}");
                for p in json["parameters"].as_array().into_iter().flatten() {
                    let name = p["name"].as_str().unwrap_or_default();
                    if p["in"] == "path" && (name == "id" || name.ends_with("_id")) {
                        assert_eq!(p["schema"]["format"], "uuid", "{path}");
                        assert!(path.contains(&format!("{{{}}}", p["name"].as_str().unwrap())));
                    }
                }
                checked += 1;
            }
        }
        assert!(checked >= 52, "{checked}");
    }

    /// A create links to what can be done with what it created, by its id.
    #[test]
    fn creates_link_to_their_resource() {
        let doc: serde_json::Value =
            serde_json::from_str(&super::openapi_json(&super::openapi())).unwrap();
        let links = &doc["paths"]["/v1/patients"]["post"]["responses"]["201"]["links"];
        assert_eq!(links["patients_get"]["operationId"], "patients_get");
        assert_eq!(
            links["patients_get"]["parameters"]["id"],
            "$response.body#/id"
        );
        assert!(links.get("episodes_create").is_some(), "{links}");
        let episode = &doc["paths"]["/v1/patients/{id}/episodes"]["post"]["responses"]["201"];
        assert!(episode["links"].get("episodes_admit").is_some());
        // Not linked: a path with a second parameter the answer cannot fill.
        let plan = &doc["paths"]["/v1/patients/{id}/plans"]["post"]["responses"]["201"]["links"];
        assert!(plan.get("plans_record_progress").is_none(), "{plan}");
        // A PATCH body must name a field besides `etag`.
        let update = &doc["components"]["schemas"]["PatientUpdate"];
        assert_eq!(update["minProperties"], 1);
        let any: Vec<&str> = update["anyOf"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["required"][0].as_str().unwrap())
            .collect();
        assert!(
            any.contains(&"given_name") && !any.contains(&"etag"),
            "{any:?}"
        );
    }

    #[test]
    fn if_match_forms() {
        let etag = |v: &str| {
            let mut h = http::HeaderMap::new();
            h.insert(http::header::IF_MATCH, v.parse().unwrap());
            if_match(&h).unwrap()
        };
        assert_eq!(etag("\"3\""), Some("3".into()));
        assert_eq!(etag("W/\"3\""), Some("3".into()));
        assert_eq!(etag("*"), Some(String::new()));
        assert_eq!(if_match(&http::HeaderMap::new()).unwrap(), None);
    }
}
