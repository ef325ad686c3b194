//! The scheduling service: `iop.scheduling.v1` over gRPC, its own database. Served so far:
//! locations ([`locations`]) and clinicians ([`clinicians`]). Beneath them is time itself, free of I/O: local wall-clock
//! times in a location's zone and their instants across daylight-saving changes
//! ([`clock`]), intervals ([`interval`]), weekly recurring series ([`recurrence`]) and
//! clinicians' working hours ([`availability`]) — what booking, slot search and the
//! waitlist stand on — conflicts naming every clashing occurrence ([`conflicts`]), slot
//! search ([`slots`]), a patient's minutes per week ([`week`]) and calendar feeds
//! ([`feed`]).

pub mod availability;
pub mod clinicians;
pub mod clock;
pub mod conflicts;
pub mod feed;
pub mod interval;
pub mod locations;
pub mod recurrence;
pub mod slots;
pub mod week;

use std::future::Future;

use iop_db::{Db, Migrations};
use iop_proto::scheduling::clinician_service_server::ClinicianServiceServer;
use iop_proto::scheduling::location_service_server::LocationServiceServer;
use sqlx::migrate::Migrator;
use tokio::net::TcpListener;

static SQLITE_MIGRATIONS: Migrator = sqlx::migrate!("./migrations/sqlite");
static POSTGRES_MIGRATIONS: Migrator = sqlx::migrate!("./migrations/postgres");

pub static MIGRATIONS: Migrations = Migrations {
    sqlite: &SQLITE_MIGRATIONS,
    postgres: &POSTGRES_MIGRATIONS,
};

pub use iop_kit::{ServeError, ServiceConfig as Config};

/// Serves `iop.scheduling.v1` on `listener` until `shutdown`.
pub async fn serve(
    config: Config,
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), ServeError> {
    let db = Db::connect(&config.database_url, &MIGRATIONS, &config.pool).await?;
    let locations = locations::Locations::new(locations::store::LocationStore::new(db.clone()));
    let clinicians =
        clinicians::Clinicians::new(clinicians::store::ClinicianStore::new(db.clone()));
    let host = iop_kit::Host::new("scheduling", db, config.internal_key)
        .serve(LocationServiceServer::new(
            locations::grpc::LocationApi::new(locations),
        ))
        .serve(ClinicianServiceServer::new(
            clinicians::grpc::ClinicianApi::new(clinicians),
        ));
    Ok(host.run(listener, shutdown).await?)
}
