//! `iop.internal.v1.ResourceOwnerService`: whose record a resource is, for the gateway's audit
//! trail when it refuses an access named by resource id. Tenant-scoped like everything else;
//! the answer never reaches the caller whose access was refused.

use iop_core::Error;
use iop_db::Db;
use iop_proto::internal::{self as pb, resource_owner_service_server::ResourceOwnerService};
use tonic::{Request, Response, Status};

use iop_kit::principal;

/// The table holding each resource type the gateway's policy names, and its patient column.
const TABLES: &[(&str, &str, &str)] = &[
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

pub struct OwnerApi {
    db: Db,
}

impl OwnerApi {
    pub fn new(db: Db) -> Self {
        Self { db }
    }
}

#[tonic::async_trait]
impl ResourceOwnerService for OwnerApi {
    async fn get_resource_owner(
        &self,
        req: Request<pb::GetResourceOwnerRequest>,
    ) -> Result<Response<pb::ResourceOwner>, Status> {
        let who = principal(&req)?;
        let r = req.into_inner();
        let Some((_, table, column)) = TABLES.iter().find(|(t, ..)| *t == r.resource_type) else {
            return Err(Error::field("resource_type", "is not a resource of this service").into());
        };
        // Table and column come from the list above, never from the request.
        let patient: Option<Option<String>> = sqlx::query_scalar(&format!(
            "SELECT {column} FROM {table} WHERE tenant_id = $1 AND id = $2 LIMIT 1"
        ))
        .bind(who.tenant.as_str())
        .bind(&r.id)
        .fetch_optional(self.db.pool())
        .await
        .map_err(Error::internal)?;
        match patient {
            Some(patient_id) => Ok(Response::new(pb::ResourceOwner {
                patient_id: patient_id.unwrap_or_default(),
            })),
            None => Err(Error::NotFound {
                kind: "resource",
                id: r.id,
            }
            .into()),
        }
    }
}
