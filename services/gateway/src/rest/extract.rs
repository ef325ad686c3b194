//! Extractors whose rejections are problem+json naming the offending field.

use axum::extract::{FromRequest, FromRequestParts, Request};
use http::request::Parts;
use serde::de::DeserializeOwned;

use crate::problem::Problem;

/// A JSON object body, kept as a map so PATCH can see which fields were sent.
pub struct JsonObject(pub serde_json::Map<String, serde_json::Value>);

impl<S: Send + Sync> FromRequest<S> for JsonObject {
    type Rejection = Problem;

    async fn from_request(req: Request, state: &S) -> Result<Self, Problem> {
        let is_json = req
            .headers()
            .get(http::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|ct| {
                let mime = ct
                    .split(';')
                    .next()
                    .unwrap_or("")
                    .trim()
                    .to_ascii_lowercase();
                mime == "application/json"
                    || (mime.starts_with("application/") && mime.ends_with("+json"))
            });
        if !is_json {
            return Err(Problem::new(
                iop_core::ErrorCode::InvalidArgument,
                "body must be application/json",
            )
            .with_status(
                http::StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "unsupported-media-type",
                "Unsupported media type",
            ));
        }
        let bytes = axum::body::Bytes::from_request(req, state)
            .await
            .map_err(|e| {
                if crate::server::is_body_timeout(&e) {
                    Problem::new(
                        iop_core::ErrorCode::InvalidArgument,
                        "the request body did not arrive in time",
                    )
                    .with_status(
                        http::StatusCode::REQUEST_TIMEOUT,
                        "request-timeout",
                        "Request timeout",
                    )
                } else if e.status() == http::StatusCode::PAYLOAD_TOO_LARGE {
                    Problem::new(
                        iop_core::ErrorCode::PayloadTooLarge,
                        "request body is too large",
                    )
                } else {
                    Problem::new(
                        iop_core::ErrorCode::InvalidArgument,
                        "cannot read request body",
                    )
                }
            })?;
        match serde_json::from_slice::<serde_json::Value>(&bytes) {
            Ok(serde_json::Value::Object(map)) => Ok(Self(map)),
            Ok(_) => Err(Problem::new(
                iop_core::ErrorCode::InvalidArgument,
                "body must be a JSON object",
            )),
            Err(e) => Err(Problem::new(
                iop_core::ErrorCode::InvalidArgument,
                format!(
                    "body is not valid JSON (line {}, column {})",
                    e.line(),
                    e.column()
                ),
            )),
        }
    }
}

impl JsonObject {
    /// Deserializes into `T`, naming the field that does not fit.
    pub fn parse<T: DeserializeOwned>(&self) -> Result<T, Problem> {
        let value = serde_json::Value::Object(self.0.clone());
        serde_path_to_error::deserialize(value)
            .map_err(|e| path_problem(&e.path().to_string(), &e.inner().to_string()))
    }

    /// The body of a PATCH: what it says, and the update mask of the fields it names (all
    /// but an `etag` it carries); naming none is 400.
    pub fn patch<T: DeserializeOwned>(&self) -> Result<(T, prost_types::FieldMask), Problem> {
        let change = self.parse()?;
        let paths: Vec<String> = self.0.keys().filter(|k| *k != "etag").cloned().collect();
        if paths.is_empty() {
            return Err(Problem::field("body", "names no field to change"));
        }
        Ok((change, prost_types::FieldMask { paths }))
    }
}

/// The pattern of a value without control characters (Unicode Cc, as `char::is_control`),
/// for the OpenAPI document.
pub const NO_CONTROL_CHARACTERS: &str = r"^[^\u0000-\u001F\u007F-\u009F]*$";

/// Query parameters, refusing unknown ones (a misspelt filter must not list everyone).
pub struct Query<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequestParts<S> for Query<T> {
    type Rejection = Problem;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Problem> {
        let query = parts.uri.query().unwrap_or("");
        // A NUL (or other control character) is no part of any search term; some databases
        // would refuse it, others cut the term short there and match more than was asked.
        // These two rules hold for every parameter; `rest::Contract` writes them into the
        // OpenAPI document.
        for (name, value) in form_urlencoded_parse(query) {
            if value.chars().any(char::is_control) {
                return Err(Problem::field(
                    name.into_owned(),
                    "must not contain control characters",
                ));
            }
            // `?patient_id=` is neither a filter nor its absence: say which was meant.
            if value.is_empty() {
                return Err(Problem::field(
                    name.into_owned(),
                    "must not be empty: leave the parameter out instead",
                ));
            }
        }
        let de = serde_urlencoded::Deserializer::new(form_urlencoded_parse(query));
        serde_path_to_error::deserialize(de)
            .map(Query)
            .map_err(|e| path_problem(&e.path().to_string(), &e.inner().to_string()))
    }
}

fn form_urlencoded_parse(query: &str) -> form_urlencoded::Parse<'_> {
    form_urlencoded::parse(query.as_bytes())
}

/// serde reports missing and unknown fields at the parent's path, with the name in the
/// message; pull it out so the client sees which field.
fn path_problem(path: &str, message: &str) -> Problem {
    let named = ["missing field `", "unknown field `"]
        .iter()
        .find_map(|prefix| message.strip_prefix(prefix))
        .and_then(|rest| rest.split('`').next());
    let field = match (named, path) {
        (Some(name), "." | "") => name.to_owned(),
        // Unknown fields already carry their own name in the path.
        (Some(name), p) if p == name || p.ends_with(&format!(".{name}")) => p.to_owned(),
        (Some(name), parent) => format!("{parent}.{name}"),
        (None, p) => p.to_owned(),
    };
    let detail = message.split(" at line ").next().unwrap_or(message);
    Problem::field(
        if field.is_empty() {
            "body".to_owned()
        } else {
            field
        },
        detail,
    )
}

#[cfg(test)]
mod tests {
    use super::path_problem;

    #[test]
    fn missing_and_unknown_fields_are_named() {
        assert_eq!(
            path_problem(".", "unknown field `nmae`, expected one of `name`").errors[0].field,
            "nmae"
        );
        assert_eq!(
            path_problem("contact.fax", "unknown field `fax`, expected `phone`").errors[0].field,
            "contact.fax"
        );
        assert_eq!(
            path_problem("contact", "missing field `phone`").errors[0].field,
            "contact.phone"
        );
        assert_eq!(
            path_problem("page_size", "invalid digit found in string").errors[0].field,
            "page_size"
        );
    }
}

/// A list of whole numbers as JSON Schema counts them: `2` and `2.0` alike (a client's JSON
/// library may write either); `2.5`, or one beyond `i32`, is refused.
pub fn whole_numbers<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Vec<i32>, D::Error> {
    use serde::de::Deserialize;
    Vec::<serde_json::Number>::deserialize(d)?
        .iter()
        .map(whole::<D::Error>)
        .collect()
}

/// One whole number, as [`whole_numbers`] reads each.
pub fn whole_number<'de, D: serde::Deserializer<'de>>(d: D) -> Result<i32, D::Error> {
    use serde::de::Deserialize;
    whole(&serde_json::Number::deserialize(d)?)
}

/// As [`whole_number`], for a field that may be left out or null (with `#[serde(default)]`).
pub fn optional_whole_number<'de, D: serde::Deserializer<'de>>(
    d: D,
) -> Result<Option<i32>, D::Error> {
    use serde::de::Deserialize;
    Option::<serde_json::Number>::deserialize(d)?
        .map(|n| whole(&n))
        .transpose()
}

fn whole<E: serde::de::Error>(n: &serde_json::Number) -> Result<i32, E> {
    n.as_i64()
        .or_else(|| n.as_f64().filter(|f| f.fract() == 0.0).map(|f| f as i64))
        .and_then(|i| i32::try_from(i).ok())
        .ok_or_else(|| E::custom(format!("{n} is not a whole number")))
}

#[cfg(test)]
mod whole_number_tests {
    #[derive(serde::Deserialize)]
    struct Answers {
        #[serde(deserialize_with = "super::whole_numbers")]
        answers: Vec<i32>,
    }

    #[test]
    fn whole_numbers_may_be_written_with_a_zero_fraction() {
        let a: Answers = serde_json::from_str(r#"{"answers": [1, 2.0, 0]}"#).unwrap();
        assert_eq!(a.answers, [1, 2, 0]);
        assert!(serde_json::from_str::<Answers>(r#"{"answers": [2.5]}"#).is_err());
        assert!(serde_json::from_str::<Answers>(r#"{"answers": [1e12]}"#).is_err());
    }

    #[derive(serde::Deserialize)]
    struct Room {
        #[serde(deserialize_with = "super::whole_number")]
        capacity: i32,
    }

    #[test]
    fn one_whole_number_too() {
        let r: Room = serde_json::from_str(r#"{"capacity": 484.0}"#).unwrap();
        assert_eq!(r.capacity, 484);
        assert!(serde_json::from_str::<Room>(r#"{"capacity": 4.5}"#).is_err());
    }

    #[derive(serde::Deserialize)]
    struct Track {
        #[serde(default, deserialize_with = "super::optional_whole_number")]
        capacity: Option<i32>,
    }

    #[test]
    fn and_one_that_may_be_left_out() {
        let t = |json: &str| serde_json::from_str::<Track>(json).map(|t| t.capacity);
        assert_eq!(t(r#"{"capacity": 12.0}"#).unwrap(), Some(12));
        assert_eq!(t(r#"{"capacity": null}"#).unwrap(), None);
        assert_eq!(t("{}").unwrap(), None);
        assert!(t(r#"{"capacity": 4.5}"#).is_err());
    }
}
