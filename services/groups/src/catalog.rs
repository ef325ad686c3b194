//! The program catalog: the clinic's active programs with their active tracks, as a person
//! choosing one (or a referral partner choosing for them) reads it — when each track meets
//! in its location's local time, where, who staffs the program with what credentials, and
//! the next day each track meets. It holds no patient data.

use std::collections::HashMap;
use std::sync::Arc;

use chrono::{DateTime, Days, Utc};
use chrono_tz::Tz;
use iop_core::{ClinicianId, Error, Principal};

use crate::programs::Program;
use crate::programs::store::ProgramStore;
use crate::schedule::{self, Planned};
use crate::sites::{Location, Sites};
use crate::tracks::Track;
use crate::tracks::store::TrackStore;

/// A clinic runs a handful of programs: the catalog reads at most this many, and this many
/// tracks.
const MOST: usize = 500;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CatalogProgram {
    pub program: Program,
    /// Its staff in the order the program lists them.
    pub staff: Vec<(ClinicianId, crate::sites::Clinician)>,
    pub tracks: Vec<CatalogTrack>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CatalogTrack {
    pub track: Track,
    pub location: Location,
    /// Its next session that has not begun, within a week: `None` for a track that does
    /// not meet in that week, or whose location's zone is not one.
    pub next: Option<Planned>,
}

#[derive(Clone)]
pub struct Catalog {
    programs: ProgramStore,
    tracks: TrackStore,
    sites: Arc<dyn Sites>,
}

impl Catalog {
    pub fn new(programs: ProgramStore, tracks: TrackStore, sites: Arc<dyn Sites>) -> Self {
        Self {
            programs,
            tracks,
            sites,
        }
    }

    /// Active programs by name, each with its staff and its active tracks by name.
    pub async fn read(&self, who: &Principal) -> Result<Vec<CatalogProgram>, Error> {
        let (programs, tracks) = tokio::join!(
            self.programs.list(&who.tenant, None, true, MOST),
            self.tracks.list(&who.tenant, None, None, true, MOST),
        );
        let (mut programs, tracks) = (programs?, tracks?);
        programs.sort_by_key(|p| p.name.to_lowercase());
        let sites = self.sites.as_ref();
        // Each location and each staff clinician asked once, side by side, however many
        // tracks meet there or programs list them.
        let staff_ids = programs
            .iter()
            .flat_map(|p| p.staff_clinician_ids.iter().copied());
        let (places, people) = tokio::try_join!(
            each_once(tracks.iter().map(|t| t.location_id), |id| sites
                .location(who, id)),
            each_once(staff_ids, |id| sites.clinician(who, id)),
        )?;
        let now = Utc::now();
        let mut by_program: HashMap<_, Vec<CatalogTrack>> = HashMap::new();
        for track in tracks {
            // A track whose location is gone is not one a person can choose.
            let Some(location) = places.get(&track.location_id).cloned() else {
                continue;
            };
            let next = iop_kit::clock::zone("time_zone", &location.time_zone)
                .ok()
                .and_then(|tz| next_session(&track, tz, now));
            by_program
                .entry(track.program_id)
                .or_default()
                .push(CatalogTrack {
                    track,
                    location,
                    next,
                });
        }
        let mut catalog = Vec::with_capacity(programs.len());
        for program in programs {
            // A clinician since made inactive or removed is left out, not the program.
            let staff = program
                .staff_clinician_ids
                .iter()
                .filter_map(|id| Some((*id, people.get(id).filter(|c| c.active)?.clone())))
                .collect();
            let mut tracks = by_program.remove(&program.id).unwrap_or_default();
            tracks.sort_by_key(|t| t.track.name.to_lowercase());
            catalog.push(CatalogProgram {
                program,
                staff,
                tracks,
            });
        }
        Ok(catalog)
    }
}

/// The answer for each distinct key of `keys`, asked once each and side by side; keys the
/// other service does not know are left out.
async fn each_once<K, V, F, Fut>(
    keys: impl IntoIterator<Item = K>,
    ask: F,
) -> Result<HashMap<K, V>, Error>
where
    K: Copy + Eq + std::hash::Hash,
    F: Fn(K) -> Fut,
    Fut: std::future::Future<Output = Result<Option<V>, Error>>,
{
    let mut distinct: Vec<K> = Vec::new();
    for k in keys {
        if !distinct.contains(&k) {
            distinct.push(k);
        }
    }
    let found = futures::future::try_join_all(distinct.iter().map(|k| ask(*k))).await?;
    Ok(distinct
        .into_iter()
        .zip(found)
        .filter_map(|(k, v)| Some((k, v?)))
        .collect())
}

/// The first session of `track` starting after `now`, within a week of today (in `tz`).
fn next_session(track: &Track, tz: Tz, now: DateTime<Utc>) -> Option<Planned> {
    let today = crate::sessions::today(tz, now);
    let week = today.checked_add_days(Days::new(7))?;
    schedule::sessions(track, tz, today, week)
        .into_iter()
        .find(|s| s.start > now)
}
