//! Fixtures of the use-case tests: a migrated database (SQLite, or PostgreSQL when
//! `IOP_TEST_DATABASE_URL` is set), a staff principal and a stored patient.

use chrono::NaiveDate;
use iop_core::{PatientId, Principal, TenantId};
use iop_db::Db;
use iop_db::testing::TestDatabase;

use crate::domain::{Patient, PatientFields, Sex};
use crate::patients::store::Store;

/// Keep the `TestDatabase` alive as long as the `Db`.
pub async fn database(name: &str) -> (TestDatabase, Db) {
    TestDatabase::migrated(name, &crate::MIGRATIONS).await
}

/// A clinician of `tenant` signed in as `sub`.
pub fn staff(tenant: &str, sub: &str) -> Principal {
    Principal {
        tenant: TenantId::parse(tenant).unwrap(),
        subject: sub.into(),
        client_id: None,
        issuer: "test".into(),
        roles: vec!["clinician".into()],
        scopes: vec![],
        request_id: "r".into(),
        source_addr: None,
    }
}

/// Stores a new patient of `who`'s tenant.
pub async fn patient(db: &Db, who: &Principal) -> PatientId {
    let p = Patient {
        id: PatientId::new(),
        fields: PatientFields {
            given_name: "Sam".into(),
            family_name: "Rivera".into(),
            birth_date: NaiveDate::from_ymd_opt(2009, 4, 1),
            sex_at_birth: Sex::Male,
            ..Default::default()
        },
        version: 1,
        create_time_us: 1,
        update_time_us: 1,
    };
    Store::new(db.clone())
        .insert(&who.tenant, &p, None)
        .await
        .unwrap();
    p.id
}
