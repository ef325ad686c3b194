//! Querying the trail: admins of a tenant search it by patient, user, client and time. The
//! search is itself authorized and audited like any other access.

use iop_core::page::{self, Cursor};
use iop_core::{Error, Principal};
use iop_db::Db;

use super::{AuditEvent, AuditLog, EventQuery, Outcome, StoredEvent};
use crate::backends::own::ListAuditEvents;
use crate::operation::Declared;
use crate::policy;

pub const DEFAULT_PAGE_SIZE: i32 = 100;
pub const MAX_PAGE_SIZE: i32 = 1000;

/// A search as the client sent it.
#[derive(Debug, Default)]
pub struct Search<'a> {
    pub page_size: i32,
    pub page_token: &'a str,
    pub patient_id: &'a str,
    pub subject: &'a str,
    pub client_id: &'a str,
    pub start_us: Option<i64>,
    pub end_us: Option<i64>,
}

pub async fn search(
    db: &Db,
    log: &AuditLog,
    who: &Principal,
    s: Search<'_>,
) -> Result<(Vec<StoredEvent>, Option<String>), Error> {
    let op = ListAuditEvents::OP;
    let record = |outcome, code| {
        let mut e = AuditEvent::new(who, op.audit_action, op.resource.name(), outcome, code);
        e.patient_id = s.patient_id.to_owned();
        e
    };
    if let Err(denied) = policy::authorize(who, op) {
        log.record_kept(
            vec![record(Outcome::Denied, tonic::Code::PermissionDenied)],
            log.deadline(),
        )
        .await?;
        return Err(Error::PermissionDenied(denied.0));
    }
    let size = match s.page_size {
        0 => DEFAULT_PAGE_SIZE,
        n if n < 0 => return Err(Error::field("page_size", "must not be negative")),
        n => n.min(MAX_PAGE_SIZE),
    } as usize;
    let nonempty = |v: &str| (!v.is_empty()).then(|| v.to_owned());
    let fingerprint = page::fingerprint(&[
        s.patient_id,
        s.subject,
        s.client_id,
        &format!("{:?}", s.start_us),
        &format!("{:?}", s.end_us),
    ]);
    let after_seq = match Cursor::decode(s.page_token, fingerprint)? {
        Some(c) => Some(
            c.after
                .parse::<i64>()
                .map_err(|_| Error::rule("page_token", "is not a token returned by this query"))?,
        ),
        None => None,
    };
    let query = EventQuery {
        patient_id: nonempty(s.patient_id),
        subject: nonempty(s.subject),
        client_id: nonempty(s.client_id),
        from_us: s.start_us,
        to_us: s.end_us,
        after_seq,
    };
    let mut events = super::query(db, who.tenant.as_str(), &query, size + 1)
        .await
        .map_err(Error::internal)?;
    let next = if events.len() > size {
        events.truncate(size);
        events.last().map(|e| {
            Cursor {
                after: e.seq.to_string(),
                query: fingerprint,
            }
            .encode()
        })
    } else {
        None
    };
    log.record(vec![record(Outcome::Success, tonic::Code::Ok)])
        .await?;
    Ok((events, next))
}
