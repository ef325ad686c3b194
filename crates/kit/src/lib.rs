//! What every IOP service is built from, so the next one is not a copy of the last:
//!
//! - [`host`]: serving gRPC behind the principal layer, with health, reflection and a
//!   graceful shutdown;
//! - [`principal`]: who is calling, and `require_user` for acts that need a person;
//! - [`violations`]: every broken rule of a request, each under its field path;
//! - [`enums`]: domain enums as database text and protobuf values, for any proto package;
//! - [`clock`]: local wall-clock times in a location's zone and the instants they name,
//!   across daylight-saving changes (decided once for every service);
//! - [`dates`]: UTC days and instants, as stored and as sent, and the days of the week;
//! - [`fields`]: a request's optional ids and dates;
//! - [`idempotency`]: creates made safe to retry by the client's key;
//! - [`etag`]: read → check etag → write;
//! - [`internal`]: calls to another of our services, carrying the principal, deadline and
//!   trace;
//! - [`owners`]: whose record a resource is, for the gateway's audit of refusals.
//!
//! Writes that must not interleave (no double booking, group capacity) take the database's
//! primitive for it: `iop_db::Db::begin_serialized(key)`.

pub mod clock;
pub mod dates;
pub mod enums;
pub mod etag;
pub mod fields;
pub mod host;
pub mod idempotency;
pub mod internal;
pub mod owners;
pub mod principal;
pub mod text;
pub mod violations;

pub use host::{Host, HostError, ServeError, ServiceConfig};
#[doc(hidden)]
pub use iop_core;
pub use principal::{principal, require_user};
pub use violations::Violations;
