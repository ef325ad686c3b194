//! The patient-record service: owns patients and their clinical record — episodes of care,
//! treatment plans, notes, assessments and safety flags, consents, family contacts and
//! referrals — in its own database, and serves them over gRPC (`iop.records.v1`) to the
//! gateway. Each area is one module: use cases (validation and rules), `store` (SQL, scoped
//! by tenant), `grpc` (transport), `tests` (use cases on both databases).

mod assessments;
mod consents;
mod domain;
mod episodes;
mod grpc;
mod notes;
mod patients;
mod plans;
mod referrals;
pub mod scoring;
#[cfg(test)]
mod test_support;

use std::future::Future;

use iop_db::{Db, Migrations};
use iop_kit::owners::{OwnerApi, Tables};
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

/// Where each resource type of the gateway's policy lives, and its patient column.
const OWNED: Tables = &[
    ("Patient", "patients", "id"),
    ("EpisodeOfCare", "episodes", "patient_id"),
    ("DocumentReference", "notes", "patient_id"),
    ("CarePlan", "treatment_plans", "patient_id"),
    ("Consent", "consents", "patient_id"),
    ("RelatedPerson", "family_contacts", "patient_id"),
    ("ServiceRequest", "referrals", "patient_id"),
    ("QuestionnaireResponse", "assessments", "patient_id"),
    ("Flag", "safety_flags", "patient_id"),
];

static SQLITE_MIGRATIONS: Migrator = sqlx::migrate!("./migrations/sqlite");
static POSTGRES_MIGRATIONS: Migrator = sqlx::migrate!("./migrations/postgres");

/// This service's schema, for both backends.
pub static MIGRATIONS: Migrations = Migrations {
    sqlite: &SQLITE_MIGRATIONS,
    postgres: &POSTGRES_MIGRATIONS,
};

pub use iop_kit::{ServeError, ServiceConfig as Config};

/// Runs the service on `listener` until `shutdown` resolves.
pub async fn serve(
    config: Config,
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), ServeError> {
    let db = Db::connect(&config.database_url, &MIGRATIONS, &config.pool).await?;
    let patients = patients::Patients::new(patients::store::Store::new(db.clone()));
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

    let host = iop_kit::Host::new("records", db.clone(), config.internal_key)
        .serve(PatientServiceServer::new(patients::grpc::PatientApi::new(
            patients,
        )))
        .serve(AssessmentServiceServer::new(
            assessments::grpc::AssessmentApi::new(assessments),
        ))
        .serve(EpisodeServiceServer::new(episodes::grpc::EpisodeApi::new(
            episodes,
        )))
        .serve(NoteServiceServer::new(notes::grpc::NoteApi::new(notes)))
        .serve(TreatmentPlanServiceServer::new(plans::grpc::PlanApi::new(
            plans,
        )))
        .serve(ConsentServiceServer::new(consent_api()))
        .serve(ContactServiceServer::new(consent_api()))
        .serve(ReferralServiceServer::new(
            referrals::grpc::ReferralApi::new(referrals),
        ))
        .serve(ResourceOwnerServiceServer::new(OwnerApi::new(db, OWNED)));
    Ok(host.run(listener, shutdown).await?)
}
