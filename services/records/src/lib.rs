//! The patient-record service: owns patients and their clinical record — episodes of care,
//! treatment plans, notes, assessments and safety flags, consents, family contacts and
//! referrals — in its own database, and serves them over gRPC (`iop.records.v1`) to the
//! gateway. Each area is one module: use cases (validation and rules), `store` (SQL, scoped
//! by tenant), `grpc` (transport), `tests` (use cases on both databases).

#[macro_use]
mod macros;

mod assessments;
mod consents;
mod domain;
mod episodes;
mod grpc;
mod idempotency;
mod notes;
mod owners;
mod patients;
mod plans;
mod referrals;
pub mod scoring;
mod store;
#[cfg(test)]
mod test_support;

use std::future::Future;
use std::sync::Arc;

use iop_auth::{InternalKey, PrincipalLayer};
use iop_db::{Db, DbError, Migrations, PoolConfig};
use iop_proto::internal::resource_owner_service_server::ResourceOwnerServiceServer;
use iop_proto::records::assessment_service_server::AssessmentServiceServer;
use iop_proto::records::consent_service_server::ConsentServiceServer;
use iop_proto::records::contact_service_server::ContactServiceServer;
use iop_proto::records::episode_service_server::EpisodeServiceServer;
use iop_proto::records::note_service_server::NoteServiceServer;
use iop_proto::records::patient_service_server::PatientServiceServer;
use iop_proto::records::referral_service_server::ReferralServiceServer;
use iop_proto::records::treatment_plan_service_server::TreatmentPlanServiceServer;
use sqlx::migrate::Migrator;
use tokio::net::TcpListener;

static SQLITE_MIGRATIONS: Migrator = sqlx::migrate!("./migrations/sqlite");
static POSTGRES_MIGRATIONS: Migrator = sqlx::migrate!("./migrations/postgres");

/// This service's schema, for both backends.
pub static MIGRATIONS: Migrations = Migrations {
    sqlite: &SQLITE_MIGRATIONS,
    postgres: &POSTGRES_MIGRATIONS,
};

pub struct Config {
    /// `sqlite://path?mode=rwc` or `postgres://…`.
    pub database_url: String,
    pub pool: PoolConfig,
    /// Opens the principal the gateway seals onto every call.
    pub internal_key: Arc<InternalKey>,
}

#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    #[error(transparent)]
    Db(#[from] DbError),
    #[error("cannot build the reflection service")]
    Reflection(#[from] tonic_reflection::server::Error),
    #[error("grpc server failed")]
    Transport(#[from] tonic::transport::Error),
}

/// Runs the service on `listener` until `shutdown` resolves.
pub async fn serve(
    config: Config,
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), ServeError> {
    let db = Db::connect(&config.database_url, &MIGRATIONS, &config.pool).await?;
    let patients = patients::Patients::new(store::Store::new(db.clone()));
    let assessments = assessments::Assessments::new(assessments::AssessmentStore::new(db.clone()));
    let episodes = episodes::Episodes::new(episodes::EpisodeStore::new(db.clone()));
    let notes = notes::Notes::new(notes::NoteStore::new(db.clone()));
    let plans = plans::Plans::new(plans::PlanStore::new(db.clone()));
    let referrals = referrals::Referrals::new(
        referrals::ReferralStore::new(db.clone()),
        patients.clone(),
        episodes.clone(),
    );
    let consent_store = consents::ConsentStore::new(db.clone());
    let consent_api = || {
        consents::grpc::ConsentApi::new(
            consents::Consents::new(consent_store.clone()),
            consents::Contacts::new(consent_store.clone()),
        )
    };

    let (health_reporter, health_service) = tonic_health::server::health_reporter();
    health_reporter
        .set_serving::<PatientServiceServer<grpc::PatientApi>>()
        .await;
    health_reporter
        .set_serving::<AssessmentServiceServer<assessments::grpc::AssessmentApi>>()
        .await;
    health_reporter
        .set_serving::<EpisodeServiceServer<episodes::grpc::EpisodeApi>>()
        .await;
    health_reporter
        .set_serving::<NoteServiceServer<notes::grpc::NoteApi>>()
        .await;
    health_reporter
        .set_serving::<TreatmentPlanServiceServer<plans::grpc::PlanApi>>()
        .await;
    health_reporter
        .set_serving::<ConsentServiceServer<consents::grpc::ConsentApi>>()
        .await;
    health_reporter
        .set_serving::<ContactServiceServer<consents::grpc::ConsentApi>>()
        .await;
    health_reporter
        .set_serving::<ReferralServiceServer<referrals::grpc::ReferralApi>>()
        .await;
    let watcher = tokio::spawn(watch_database(db.clone(), health_reporter));
    let mut served = SERVICES.to_vec();
    served.push("iop.internal.v1.ResourceOwnerService");
    let (reflection, reflection_v1alpha) = iop_proto::reflection(&served)?;

    tracing::info!(addr = ?listener.local_addr().ok(), "records service listening");
    // Shutdown order: the signal stops accepting, in-flight calls drain inside
    // serve_with_incoming_shutdown, then the pool closes.
    let result = tonic::transport::Server::builder()
        .layer(
            tower_http::trace::TraceLayer::new_for_grpc()
                .make_span_with(iop_telemetry::server_span),
        )
        .layer(PrincipalLayer::new(config.internal_key))
        .add_service(health_service)
        .add_service(reflection)
        .add_service(reflection_v1alpha)
        .add_service(PatientServiceServer::new(grpc::PatientApi::new(patients)))
        .add_service(AssessmentServiceServer::new(
            assessments::grpc::AssessmentApi::new(assessments),
        ))
        .add_service(EpisodeServiceServer::new(episodes::grpc::EpisodeApi::new(
            episodes,
        )))
        .add_service(NoteServiceServer::new(notes::grpc::NoteApi::new(notes)))
        .add_service(TreatmentPlanServiceServer::new(plans::grpc::PlanApi::new(
            plans,
        )))
        .add_service(ConsentServiceServer::new(consent_api()))
        .add_service(ContactServiceServer::new(consent_api()))
        .add_service(ReferralServiceServer::new(
            referrals::grpc::ReferralApi::new(referrals),
        ))
        .add_service(ResourceOwnerServiceServer::new(owners::OwnerApi::new(
            db.clone(),
        )))
        // TCP_NODELAY: an HTTP/2 response is several small frames; with Nagle's algorithm
        // and delayed ACKs some of them would wait 40 ms.
        .serve_with_incoming_shutdown(
            tonic::transport::server::TcpIncoming::from(listener).with_nodelay(Some(true)),
            shutdown,
        )
        .await;
    watcher.abort();
    db.close().await;
    tracing::info!("records service stopped");
    result.map_err(ServeError::from)
}

/// The gRPC services this binary serves, as health checks name them.
const SERVICES: [&str; 8] = [
    "iop.records.v1.ReferralService",
    "iop.records.v1.ConsentService",
    "iop.records.v1.ContactService",
    "iop.records.v1.TreatmentPlanService",
    "iop.records.v1.NoteService",
    "iop.records.v1.PatientService",
    "iop.records.v1.AssessmentService",
    "iop.records.v1.EpisodeService",
];

/// Health follows the database: a load balancer (and the gateway's `/readyz`) stops
/// sending traffic while it is unreachable, and resumes when it is back.
async fn watch_database(db: Db, reporter: tonic_health::server::HealthReporter) {
    use tonic_health::ServingStatus;
    let mut last = true;
    let mut tick = tokio::time::interval(std::time::Duration::from_secs(5));
    loop {
        tick.tick().await;
        let up = db.ping().await;
        if up != last {
            let status = if up {
                ServingStatus::Serving
            } else {
                ServingStatus::NotServing
            };
            reporter.set_service_status("", status).await;
            for service in SERVICES {
                reporter.set_service_status(service, status).await;
            }
            if up {
                tracing::info!("database reachable again");
            } else {
                tracing::warn!("database unreachable; reporting not serving");
            }
            last = up;
        }
    }
}
