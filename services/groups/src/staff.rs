//! Clinicians a program or a track names, read from the scheduling service side by side and
//! judged alike: one not of the clinic is 404 naming it, an inactive one a violation of its
//! field (409).

use iop_core::{ClinicianId, Error, Principal};
use iop_kit::violations::Violations;

use crate::sites::{Clinician, Sites};

/// Each of `ids` as the scheduling service has it, in order.
pub async fn read(
    sites: &dyn Sites,
    who: &Principal,
    ids: &[ClinicianId],
) -> Result<Vec<Clinician>, Error> {
    let found =
        futures::future::try_join_all(ids.iter().map(|id| sites.clinician(who, *id))).await?;
    ids.iter()
        .zip(found)
        .map(|(id, c)| {
            c.ok_or_else(|| Error::NotFound {
                kind: "clinician",
                id: id.to_string(),
            })
        })
        .collect()
}

/// Every one of `ids` not in `already` is an active clinician of the clinic; `field` names
/// the list (`program.staff_clinician_ids`), each violation its place in it.
pub async fn check_active(
    sites: &dyn Sites,
    who: &Principal,
    field: &str,
    ids: &[ClinicianId],
    already: &[ClinicianId],
) -> Result<(), Error> {
    let new: Vec<(usize, ClinicianId)> = ids
        .iter()
        .copied()
        .enumerate()
        .filter(|(_, c)| !already.contains(c))
        .collect();
    let only: Vec<ClinicianId> = new.iter().map(|(_, c)| *c).collect();
    let found = read(sites, who, &only).await?;
    let mut v = Violations::new("");
    inactive(&mut v, field, new.iter().map(|(i, _)| *i).zip(&found));
    v.finish_unmet()
}

/// Names `{field}[i]` for each clinician of `found` (at its place `i` in the list) who is
/// inactive: the one rule a program's staff and a track's facilitators both keep.
pub fn inactive<'c>(
    v: &mut Violations<'_>,
    field: &str,
    found: impl IntoIterator<Item = (usize, &'c Clinician)>,
) {
    for (i, c) in found {
        if !c.active {
            v.push(&format!("{field}[{i}]"), "is inactive");
        }
    }
}
