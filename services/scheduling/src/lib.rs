//! The scheduling service: `iop.scheduling.v1` over gRPC, its own database. Served so far:
//! locations and their rooms ([`locations`], [`rooms`]), clinicians ([`clinicians`]), their
//! working hours, exceptions and free slots ([`availability`]), appointments, single or
//! weekly series, never double-booked ([`appointments`]), and the waitlist that freed time
//! is offered to ([`waitlist`]), and calendar feeds of a clinician's or a room's schedule
//! ([`feeds`]); whether a
//! patient exists is asked of the records service ([`patients`]). Beneath them is time itself, free of I/O: local wall-clock
//! times in a location's zone and their instants across daylight-saving changes
//! ([`clock`]), intervals ([`interval`]), weekly recurring series ([`recurrence`]) and
//! clinicians' working hours ([`availability`]) — what booking, slot search and the
//! waitlist stand on — conflicts naming every clashing occurrence ([`conflicts`]), slot
//! search ([`slots`]), a patient's minutes per week ([`week`]) and calendar feeds
//! ([`feed`]).

pub mod appointments;
pub mod availability;
pub mod clinicians;
pub use iop_kit::clock;
pub mod conflicts;
pub mod feed;
pub mod feeds;
pub mod interval;
pub mod kinds;
pub mod locations;
pub mod patients;
pub mod recurrence;
pub mod references;
pub mod rooms;
pub mod sight;
pub mod slots;
#[cfg(test)]
mod testing;
pub mod waitlist;
pub mod week;

use std::future::Future;

use iop_db::{Db, Migrations};
use iop_kit::owners::{OwnerApi, Tables};
use iop_proto::internal::calendar_feed_render_service_server::CalendarFeedRenderServiceServer;
use iop_proto::internal::resource_owner_service_server::ResourceOwnerServiceServer;
use iop_proto::scheduling::appointment_kind_service_server::AppointmentKindServiceServer;
use iop_proto::scheduling::appointment_service_server::AppointmentServiceServer;
use iop_proto::scheduling::availability_service_server::AvailabilityServiceServer;
use iop_proto::scheduling::calendar_feed_service_server::CalendarFeedServiceServer;
use iop_proto::scheduling::clinician_service_server::ClinicianServiceServer;
use iop_proto::scheduling::location_service_server::LocationServiceServer;
use iop_proto::scheduling::waitlist_service_server::WaitlistServiceServer;
use sqlx::migrate::Migrator;
use tokio::net::TcpListener;

static SQLITE_MIGRATIONS: Migrator = sqlx::migrate!("./migrations/sqlite");
static POSTGRES_MIGRATIONS: Migrator = sqlx::migrate!("./migrations/postgres");

pub static MIGRATIONS: Migrations = Migrations {
    sqlite: &SQLITE_MIGRATIONS,
    postgres: &POSTGRES_MIGRATIONS,
};

pub use iop_kit::{ServeError, ServiceConfig as Config};

/// The resources of the gateway's policy this service holds with a patient: appointments,
/// and places on the waitlist (FHIR's Appointment with status `waitlist`).
const OWNED: Tables = &[
    ("Appointment", "appointments", "patient_id"),
    ("Appointment", "waitlist_entries", "patient_id"),
];

/// Serves `iop.scheduling.v1` on `listener` until `shutdown`.
pub async fn serve(
    config: Config,
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), ServeError> {
    let records = config.backend("records")?;
    let db = Db::connect(&config.database_url, &MIGRATIONS, &config.pool).await?;
    let patients =
        std::sync::Arc::new(patients::Records::new(records, config.internal_key.clone()));
    let refs = references::References::new(&db, patients);
    let appointment_store = appointments::store::AppointmentStore::new(db.clone());
    let availability = availability::Availability::new(
        availability::store::AvailabilityStore::new(db.clone()),
        refs.clone(),
        appointment_store.clone(),
    );
    let appointments = appointments::Appointments::new(appointment_store.clone(), refs.clone());
    let feeds = feeds::grpc::FeedApi::new(feeds::Feeds::new(
        feeds::store::FeedStore::new(db.clone()),
        refs.clone(),
        appointment_store,
    ));
    let waitlist = waitlist::Waitlist::new(
        waitlist::store::WaitlistStore::new(db.clone()),
        refs.clone(),
        appointments.clone(),
    );
    let host = iop_kit::Host::new("scheduling", db.clone(), config.internal_key)
        .serve(LocationServiceServer::new(
            locations::grpc::LocationApi::new(
                locations::Locations::new(refs.locations.clone()),
                rooms::Rooms::new(refs.rooms.clone()),
            ),
        ))
        .serve(ClinicianServiceServer::new(
            clinicians::grpc::ClinicianApi::new(clinicians::Clinicians::new(
                refs.clinicians.clone(),
            )),
        ))
        .serve(AppointmentServiceServer::new(
            appointments::grpc::AppointmentApi::new(appointments),
        ))
        .serve(AppointmentKindServiceServer::new(
            kinds::grpc::KindApi::new(kinds::Kinds::new(refs.kinds.clone())),
        ))
        .serve(AvailabilityServiceServer::new(
            availability::grpc::AvailabilityApi::new(availability),
        ))
        .serve(WaitlistServiceServer::new(
            waitlist::grpc::WaitlistApi::new(waitlist.clone()),
        ))
        .serve(CalendarFeedServiceServer::new(feeds.clone()))
        .serve(CalendarFeedRenderServiceServer::new(feeds))
        .serve(ResourceOwnerServiceServer::new(OwnerApi::new(db, OWNED)));
    // The waitlist offers freed time on its own, for as long as the service serves.
    let worker = tokio::spawn(waitlist.run());
    let served = host.run(listener, shutdown).await;
    worker.abort();
    Ok(served?)
}
