//! The group-session service: `iop.groups.v1` over gRPC, its own database. Served so far: the
//! clinic's treatment programs ([`programs`]), their tracks — rolling groups meeting on a
//! weekly pattern in a location's local time ([`tracks`]) — and the catalog a person
//! choosing a program reads ([`catalog`]), with each track's sessions as its pattern lays them
//! out in local time ([`schedule`]) and stored, each holding its room and facilitators in
//! the scheduling service ([`sessions`]). Locations, rooms and clinicians are the
//! scheduling service's, asked over gRPC ([`sites`]).

pub mod catalog;
mod columns;
pub mod programs;
pub mod schedule;
pub mod sessions;
pub mod sites;
mod staff;
#[cfg(test)]
mod testing;
pub mod tracks;

use std::future::Future;
use std::sync::Arc;

use iop_db::{Db, Migrations};
use iop_kit::owners::{OwnerApi, Tables};
use iop_proto::groups::program_service_server::ProgramServiceServer;
use iop_proto::internal::resource_owner_service_server::ResourceOwnerServiceServer;
use sqlx::migrate::Migrator;
use tokio::net::TcpListener;

static SQLITE_MIGRATIONS: Migrator = sqlx::migrate!("./migrations/sqlite");
static POSTGRES_MIGRATIONS: Migrator = sqlx::migrate!("./migrations/postgres");

pub static MIGRATIONS: Migrations = Migrations {
    sqlite: &SQLITE_MIGRATIONS,
    postgres: &POSTGRES_MIGRATIONS,
};

pub use iop_kit::{ServeError, ServiceConfig as Config};

/// The resources of the gateway's policy this service holds with a patient: none yet
/// (programs and tracks hold no patient data).
const OWNED: Tables = &[];

/// Serves `iop.groups.v1` on `listener` until `shutdown`.
pub async fn serve(
    config: Config,
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), ServeError> {
    let scheduling = config.backend("scheduling")?;
    let db = Db::connect(&config.database_url, &MIGRATIONS, &config.pool).await?;
    let sites: Arc<dyn sites::Sites> = Arc::new(sites::Scheduling::new(
        scheduling,
        config.internal_key.clone(),
    ));
    let program_store = programs::store::ProgramStore::new(db.clone());
    let track_store = tracks::store::TrackStore::new(db.clone());
    let sessions = sessions::Sessions::new(
        sessions::store::SessionStore::new(db.clone()),
        sites.clone(),
    );
    let api = programs::grpc::ProgramApi::new(
        programs::Programs::new(program_store.clone(), sites.clone()),
        tracks::Tracks::new(
            track_store.clone(),
            program_store.clone(),
            sessions.clone(),
            sites.clone(),
        ),
        catalog::Catalog::new(program_store, track_store.clone(), sites),
    );
    let host = iop_kit::Host::new("groups", db.clone(), config.internal_key)
        .serve(ProgramServiceServer::new(api))
        .serve(ResourceOwnerServiceServer::new(OwnerApi::new(db, OWNED)));
    // Tracks whose create gave up half-way are settled on their own.
    let worker = tokio::spawn(sessions.run(track_store));
    let served = host.run(listener, shutdown).await;
    worker.abort();
    Ok(served?)
}
