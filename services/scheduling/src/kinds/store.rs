//! `appointment_kinds`: a row per kind the clinic changed.

use iop_core::{Error, TenantId};
use iop_db::Db;
use iop_kit::etag::Whole;
use sqlx::Row;

use super::KindSettings;
use crate::appointments::Modality;
use crate::clinicians::AppointmentKind;

#[derive(Clone)]
pub struct KindStore {
    db: Db,
}

const COLUMNS: &str = "kind, default_minutes, modalities, billing_code, waitlist_offer_seconds, version, \
     update_time_us, updated_by";

fn from_row(r: &sqlx::any::AnyRow) -> Result<KindSettings, Error> {
    let text = |c: &str| r.try_get::<String, _>(c).map_err(Error::internal);
    let number = |c: &str| r.try_get::<i64, _>(c).map_err(Error::internal);
    let bad = || Error::internal("stored appointment kind settings are malformed");
    Ok(KindSettings {
        kind: AppointmentKind::parse(&text("kind")?).ok_or_else(bad)?,
        default_minutes: number("default_minutes")?,
        modalities: text("modalities")?
            .split(',')
            .filter(|m| !m.is_empty())
            .map(|m| Modality::parse(m).ok_or_else(bad))
            .collect::<Result<_, _>>()?,
        billing_code: text("billing_code")?,
        waitlist_offer_seconds: number("waitlist_offer_seconds")?,
        version: number("version")?,
        update_time_us: number("update_time_us")?,
        updated_by: text("updated_by")?,
    })
}

impl KindStore {
    pub fn new(db: Db) -> Self {
        Self { db }
    }

    /// The kinds the clinic changed.
    pub async fn all(&self, tenant: &TenantId) -> Result<Vec<KindSettings>, Error> {
        let rows = sqlx::query(&format!(
            "SELECT {COLUMNS} FROM appointment_kinds WHERE tenant_id = $1"
        ))
        .bind(tenant.as_str())
        .fetch_all(self.db.pool())
        .await
        .map_err(Error::internal)?;
        rows.iter().map(from_row).collect()
    }

    /// One kind, as the clinic set it or by default.
    pub async fn get(
        &self,
        tenant: &TenantId,
        kind: AppointmentKind,
    ) -> Result<KindSettings, Error> {
        let row = sqlx::query(&format!(
            "SELECT {COLUMNS} FROM appointment_kinds WHERE tenant_id = $1 AND kind = $2"
        ))
        .bind(tenant.as_str())
        .bind(kind.as_str())
        .fetch_optional(self.db.pool())
        .await
        .map_err(Error::internal)?;
        match row {
            Some(r) => from_row(&r),
            None => Ok(super::defaults(kind)),
        }
    }

    /// Replaces `s.kind`'s row unless `etag` is set and not the current version; answers it
    /// as kept.
    pub async fn set(
        &self,
        tenant: &TenantId,
        s: &KindSettings,
        etag: &str,
    ) -> Result<KindSettings, Error> {
        let modalities: Vec<&str> = s.modalities.iter().map(|m| m.as_str()).collect();
        let version = iop_kit::etag::replace(
            &self.db,
            tenant,
            Whole {
                table: "appointment_kinds",
                key: &[("kind", s.kind.as_str().into())],
                fields: &[
                    ("default_minutes", s.default_minutes.into()),
                    ("modalities", modalities.join(",").into()),
                    ("billing_code", s.billing_code.as_str().into()),
                    ("waitlist_offer_seconds", s.waitlist_offer_seconds.into()),
                    ("update_time_us", s.update_time_us.into()),
                    ("updated_by", s.updated_by.as_str().into()),
                ],
            },
            etag,
            "appointment kind",
            &s.kind.as_str(),
        )
        .await?;
        Ok(KindSettings {
            version,
            ..s.clone()
        })
    }
}
