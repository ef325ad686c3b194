//! The program catalog: the clinic's active programs with their active tracks, as a person
//! choosing one (or a referral partner choosing for them) reads it — when each track meets
//! in its location's local time, where, who staffs the program with what credentials, and
//! the next day each track meets. It holds no patient data.

use std::collections::HashMap;
use std::sync::Arc;

use chrono::{DateTime, Days, Utc};
use chrono_tz::Tz;
use iop_core::{ClinicianId, Error, LocationId, Principal};

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
        // Each location once, whatever number of tracks meet there.
        let mut locations: Vec<LocationId> = tracks.iter().map(|t| t.location_id).collect();
        locations.sort_by_key(|l| l.to_string());
        locations.dedup();
        let found =
            futures::future::try_join_all(locations.iter().map(|id| sites.location(who, *id)))
                .await?;
        let places: HashMap<LocationId, Location> = locations
            .into_iter()
            .zip(found)
            .filter_map(|(id, l)| Some((id, l?)))
            .collect();
        let mut by_program: HashMap<_, Vec<CatalogTrack>> = HashMap::new();
        for track in tracks {
            // A track whose location is gone is not one a person can choose.
            let Some(location) = places.get(&track.location_id).cloned() else {
                continue;
            };
            let next = location
                .time_zone
                .parse::<chrono_tz::Tz>()
                .ok()
                .and_then(|tz| next_session(&track, tz, Utc::now()));
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
            let people = self
                .staff_present(who, &program.staff_clinician_ids)
                .await?;
            let mut tracks = by_program.remove(&program.id).unwrap_or_default();
            tracks.sort_by_key(|t| t.track.name.to_lowercase());
            catalog.push(CatalogProgram {
                program,
                staff: people,
                tracks,
            });
        }
        Ok(catalog)
    }

    /// The active ones of `ids` the scheduling service still has.
    async fn staff_present(
        &self,
        who: &Principal,
        ids: &[ClinicianId],
    ) -> Result<Vec<(ClinicianId, crate::sites::Clinician)>, Error> {
        let found =
            futures::future::try_join_all(ids.iter().map(|id| self.sites.clinician(who, *id)))
                .await?;
        Ok(ids
            .iter()
            .copied()
            .zip(found)
            .filter_map(|(id, c)| c.filter(|c| c.active).map(|c| (id, c)))
            .collect())
    }
}

/// The first session of `track` starting after `now`, within a week of today (in `tz`).
fn next_session(track: &Track, tz: Tz, now: DateTime<Utc>) -> Option<Planned> {
    let today = crate::sessions::today(tz, now);
    let week = today.checked_add_days(Days::new(7))?;
    schedule::sessions(track, tz, today, week)
        .into_iter()
        .find(|s| s.start > now)
}
