//! `iop.records.v1.EpisodeService` over [`Episodes`].

use chrono::NaiveDate;
use iop_core::{EpisodeId, Error, PatientId};
use iop_proto::common as pbc;
use iop_proto::records::{self as pb, episode_service_server::EpisodeService};
use iop_proto::{micros_from_timestamp, timestamp_from_micros};
use tonic::{Request, Response, Status};

use super::{
    Admission, Aftercare, CareTeam, DischargeReason, Episode, EpisodePatch, EpisodePath, Episodes,
    FollowUp, Level, LevelKind, ListEpisodes, NewDischarge, NewEpisode, NewLevel, Population,
    Status as EpisodeStatus, SupportContact,
};
use iop_kit::dates::{date_from_proto, date_to_proto};
use iop_kit::principal;

pub struct EpisodeApi {
    episodes: Episodes,
}

impl EpisodeApi {
    pub fn new(episodes: Episodes) -> Self {
        Self { episodes }
    }
}

#[tonic::async_trait]
impl EpisodeService for EpisodeApi {
    async fn create_episode(
        &self,
        req: Request<pb::CreateEpisodeRequest>,
    ) -> Result<Response<pb::Episode>, Status> {
        let who = principal(&req)?;
        let r = req.into_inner();
        let e = r
            .episode
            .ok_or_else(|| Error::field("episode", "is required"))?;
        let new = NewEpisode {
            patient_id: match e.patient_id.as_str() {
                "" => None,
                id => Some(PatientId::parse("episode.patient_id", id)?),
            },
            program: e.program,
            population: Population::from_proto_field(e.population, "episode.population")?,
            referral_date: date(e.referral_date.as_ref(), "episode.referral_date")?,
            admit_date: date(e.admit_date.as_ref(), "episode.admit_date")?,
            team: CareTeam {
                primary_clinician: e.primary_clinician,
                program_director: e.program_director,
            },
            authorized_level: Level::from_proto_field(
                e.authorized_level,
                "episode.authorized_level",
            )?,
            delivered_level: Level::from_proto_field(e.delivered_level, "episode.delivered_level")?,
        };
        let created = self.episodes.create(&who, new, &r.request_id).await?;
        Ok(Response::new(to_proto(created)))
    }

    async fn get_episode(
        &self,
        req: Request<pb::GetEpisodeRequest>,
    ) -> Result<Response<pb::Episode>, Status> {
        let who = principal(&req)?;
        let id = EpisodeId::parse("id", &req.get_ref().id)?;
        Ok(Response::new(to_proto(self.episodes.get(&who, id).await?)))
    }

    async fn list_episodes(
        &self,
        req: Request<pb::ListEpisodesRequest>,
    ) -> Result<Response<pb::ListEpisodesResponse>, Status> {
        let who = principal(&req)?;
        let r = req.get_ref();
        let status = EpisodeStatus::from_proto_field(r.status, "status")?;
        let (rows, next) = self
            .episodes
            .list(
                &who,
                ListEpisodes {
                    patient_id: &r.patient_id,
                    status,
                    program: &r.program,
                    clinician: &r.clinician,
                    admitted_from: date(r.admitted_from.as_ref(), "admitted_from")?,
                    admitted_to: date(r.admitted_to.as_ref(), "admitted_to")?,
                    page_size: r.page_size,
                    page_token: &r.page_token,
                },
            )
            .await?;
        Ok(Response::new(pb::ListEpisodesResponse {
            episodes: rows.into_iter().map(to_proto).collect(),
            next_page_token: next.unwrap_or_default(),
        }))
    }

    async fn update_episode(
        &self,
        req: Request<pb::UpdateEpisodeRequest>,
    ) -> Result<Response<pb::Episode>, Status> {
        let who = principal(&req)?;
        let r = req.into_inner();
        let e = r
            .episode
            .ok_or_else(|| Error::field("episode", "is required"))?;
        let id = EpisodeId::parse("episode.id", &e.id)?;
        let paths = match r.update_mask {
            Some(mask) if !mask.paths.is_empty() => mask
                .paths
                .iter()
                .map(|p| EpisodePath::parse(p).map_err(|why| Error::field("update_mask", why)))
                .collect::<Result<Vec<_>, _>>()?,
            _ => EpisodePath::ALL.to_vec(),
        };
        let patch = EpisodePatch {
            population: if paths.contains(&EpisodePath::Population) {
                Population::from_proto_field(e.population, "episode.population")?
            } else {
                None
            },
            program: e.program,
            team: CareTeam {
                primary_clinician: e.primary_clinician,
                program_director: e.program_director,
            },
        };
        let updated = self
            .episodes
            .update(&who, id, patch, &paths, &e.etag)
            .await?;
        Ok(Response::new(to_proto(updated)))
    }

    async fn admit_episode(
        &self,
        req: Request<pb::AdmitEpisodeRequest>,
    ) -> Result<Response<pb::Episode>, Status> {
        let who = principal(&req)?;
        let r = req.into_inner();
        let id = EpisodeId::parse("id", &r.id)?;
        let admission = Admission {
            admit_date: date(r.admit_date.as_ref(), "admit_date")?,
            team: CareTeam {
                primary_clinician: r.primary_clinician,
                program_director: r.program_director,
            },
        };
        let e = self.episodes.admit(&who, id, admission, &r.etag).await?;
        Ok(Response::new(to_proto(e)))
    }

    async fn change_level_of_care(
        &self,
        req: Request<pb::ChangeLevelOfCareRequest>,
    ) -> Result<Response<pb::Episode>, Status> {
        let who = principal(&req)?;
        let r = req.into_inner();
        let id = EpisodeId::parse("id", &r.id)?;
        let new = NewLevel {
            kind: LevelKind::from_proto_field(r.kind, "kind")?,
            level: Level::from_proto_field(r.level, "level")?,
            effective_date: date(r.effective_date.as_ref(), "effective_date")?,
            reason: r.reason,
        };
        let e = self.episodes.change_level(&who, id, new, &r.etag).await?;
        Ok(Response::new(to_proto(e)))
    }

    async fn discharge_episode(
        &self,
        req: Request<pb::DischargeEpisodeRequest>,
    ) -> Result<Response<pb::Episode>, Status> {
        let who = principal(&req)?;
        let r = req.into_inner();
        let id = EpisodeId::parse("id", &r.id)?;
        let new = NewDischarge {
            date: date(r.discharge_date.as_ref(), "discharge_date")?,
            reason: DischargeReason::from_proto_field(r.reason, "reason")?,
            note: r.note,
            aftercare: r.aftercare.map(aftercare_from_proto).transpose()?,
        };
        let e = self.episodes.discharge(&who, id, new, &r.etag).await?;
        Ok(Response::new(to_proto(e)))
    }
}

fn date(d: Option<&pbc::Date>, field: &str) -> Result<Option<NaiveDate>, Error> {
    d.map(|d| date_from_proto(d).ok_or_else(|| Error::field(field, "is not a calendar date")))
        .transpose()
}

fn aftercare_from_proto(a: pb::AftercarePlan) -> Result<Aftercare, Error> {
    Ok(Aftercare {
        step_down_level: Level::from_proto_field(a.step_down_level, "aftercare.step_down_level")?,
        support_groups: a.support_groups,
        follow_ups: a
            .follow_ups
            .into_iter()
            .enumerate()
            .map(|(i, f)| {
                let time = f.time.as_ref().ok_or_else(|| {
                    Error::field(format!("aftercare.follow_ups[{i}].time"), "is required")
                })?;
                Ok(FollowUp {
                    time_us: micros_from_timestamp(time),
                    with: f.with,
                    purpose: f.purpose,
                })
            })
            .collect::<Result<_, Error>>()?,
        contacts: a
            .contacts
            .into_iter()
            .map(|c| SupportContact {
                name: c.name,
                role: c.role,
                phone: c.phone,
            })
            .collect(),
        notes: a.notes,
    })
}

fn to_proto(e: Episode) -> pb::Episode {
    let authorized = e.current(LevelKind::Authorized);
    let delivered = e.current(LevelKind::Delivered);
    let etag = e.etag();
    let (discharge_date, discharge_reason, discharge_note, aftercare) = match e.discharge {
        None => (
            None,
            pb::DischargeReason::Unspecified as i32,
            String::new(),
            None,
        ),
        Some(d) => (
            Some(date_to_proto(d.date)),
            d.reason.to_proto(),
            d.note,
            Some(pb::AftercarePlan {
                step_down_level: d.aftercare.step_down_level.map_or(0, |l| l.to_proto()),
                support_groups: d.aftercare.support_groups,
                follow_ups: d
                    .aftercare
                    .follow_ups
                    .into_iter()
                    .map(|f| pb::FollowUp {
                        time: Some(timestamp_from_micros(f.time_us)),
                        with: f.with,
                        purpose: f.purpose,
                    })
                    .collect(),
                contacts: d
                    .aftercare
                    .contacts
                    .into_iter()
                    .map(|c| pb::SupportContact {
                        name: c.name,
                        role: c.role,
                        phone: c.phone,
                    })
                    .collect(),
                notes: d.aftercare.notes,
            }),
        ),
    };
    pb::Episode {
        id: e.id.to_string(),
        patient_id: e.patient_id.to_string(),
        program: e.program,
        population: e.population.to_proto(),
        status: e.status.to_proto(),
        referral_date: Some(date_to_proto(e.referral_date)),
        admit_date: e.admit_date.map(date_to_proto),
        primary_clinician: e.team.primary_clinician,
        program_director: e.team.program_director,
        authorized_level: authorized.map_or(0, |l| l.to_proto()),
        delivered_level: delivered.map_or(0, |l| l.to_proto()),
        level_history: e
            .levels
            .into_iter()
            .map(|l| pb::LevelChange {
                kind: l.kind.to_proto(),
                level: l.level.to_proto(),
                effective_date: Some(date_to_proto(l.effective_date)),
                reason: l.reason,
                changed_by: l.changed_by,
                change_time: Some(timestamp_from_micros(l.change_time_us)),
            })
            .collect(),
        discharge_date,
        discharge_reason,
        discharge_note,
        aftercare,
        create_time: Some(timestamp_from_micros(e.create_time_us)),
        update_time: Some(timestamp_from_micros(e.update_time_us)),
        version: e.version,
        etag,
    }
}
