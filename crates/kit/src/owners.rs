//! `iop.internal.v1.ResourceOwnerService`: whose record a resource is, for the gateway's audit
//! trail when it refuses an access named by resource id. Tenant-scoped like everything else;
//! the answer never reaches the caller whose access was refused. Each service serves it for
//! the resources it holds, from a list of where each one lives.

use iop_core::Error;
use iop_db::Db;
use iop_proto::internal::{self as pb, resource_owner_service_server::ResourceOwnerService};
use tonic::{Request, Response, Status};

use crate::principal;

/// Where a service keeps a resource type of the gateway's policy: (FHIR type, table, the
/// column naming its patient — `id` for patients themselves); a type may be listed with
/// more than one table. Every table has `tenant_id` and `id`.
pub type Tables = &'static [(&'static str, &'static str, &'static str)];

pub struct OwnerApi {
    db: Db,
    tables: Tables,
}

impl OwnerApi {
    pub fn new(db: Db, tables: Tables) -> Self {
        Self { db, tables }
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
        let tables: Vec<(&str, &str)> = self
            .tables
            .iter()
            .filter(|kept| kept.0 == r.resource_type)
            .map(|kept| (kept.1, kept.2))
            .collect();
        if tables.is_empty() {
            return Err(Error::field("resource_type", "is not a resource of this service").into());
        }
        // A type may live in more than one table (an appointment, a place on the waitlist):
        // ids are UUIDs, so at most one holds it.
        for (table, column) in tables {
            // Table and column come from the list above, never from the request.
            let patient: Option<Option<String>> = sqlx::query_scalar(&format!(
                "SELECT {column} FROM {table} WHERE tenant_id = $1 AND id = $2 LIMIT 1"
            ))
            .bind(who.tenant.as_str())
            .bind(&r.id)
            .fetch_optional(self.db.pool())
            .await
            .map_err(Error::internal)?;
            if let Some(patient_id) = patient {
                return Ok(Response::new(pb::ResourceOwner {
                    patient_id: patient_id.unwrap_or_default(),
                }));
            }
        }
        Err(Error::NotFound {
            kind: "resource",
            id: r.id,
        }
        .into())
    }
}
