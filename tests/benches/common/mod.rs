//! What the scheduling benchmarks share: the records service's answers for a clinic where
//! every patient exists and there are no contacts or referrals (the benchmarks book none for
//! them), and the front-desk principal they book as.

#![allow(clippy::unwrap_used)]

use iop_core::{ContactId, Error, PatientId, Principal, ReferralId, TenantId};
use iop_scheduling::patients::{ContactState, PatientCheck, ReferralState};

pub struct Known;

#[tonic::async_trait]
impl PatientCheck for Known {
    async fn exists(&self, _: &Principal, _: PatientId) -> Result<bool, Error> {
        Ok(true)
    }

    async fn initials(&self, _: &Principal, _: PatientId) -> Result<Option<String>, Error> {
        Ok(Some("B.P.".into()))
    }

    async fn contact(&self, _: &Principal, _: ContactId) -> Result<Option<ContactState>, Error> {
        Ok(None)
    }

    async fn referral(&self, _: &Principal, _: ReferralId) -> Result<Option<ReferralState>, Error> {
        Ok(None)
    }

    async fn set_intake(&self, _: &Principal, r: ReferralId, _: Option<i64>) -> Result<(), Error> {
        Err(Error::NotFound {
            kind: "referral",
            id: r.to_string(),
        })
    }
}

pub fn front_desk(tenant: &str) -> Principal {
    Principal {
        tenant: TenantId::parse(tenant).unwrap(),
        subject: "front-desk".into(),
        client_id: None,
        issuer: "bench".into(),
        roles: vec!["front_desk".into()],
        scopes: vec![],
        request_id: String::new(),
        source_addr: None,
    }
}
