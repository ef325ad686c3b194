//! `iop.groups.v1.ProgramService`: programs, their tracks, and the catalog.

use iop_core::{ClinicianId, ProgramId, TrackId};
use iop_kit::dates::date_to_proto;
use iop_kit::enums::each;
use iop_kit::fields::optional_id;
use iop_kit::principal;
use iop_proto::groups::{self as pb, program_service_server::ProgramService};
use iop_proto::timestamp_from_micros;
use tonic::{Request, Response, Status};

use super::{
    LevelOfCare, Modality, NewProgram, Population, Program, ProgramPath, Programs, Treatment,
};
use crate::catalog::{Catalog, CatalogProgram};
use crate::tracks::{self, Tracks};

pub struct ProgramApi {
    programs: Programs,
    tracks: Tracks,
    catalog: Catalog,
}

impl ProgramApi {
    pub fn new(programs: Programs, tracks: Tracks, catalog: Catalog) -> Self {
        Self {
            programs,
            tracks,
            catalog,
        }
    }
}

/// Each id of a repeated field, named `field[i]` when malformed.
pub(crate) fn clinician_ids(ids: &[String], field: &str) -> Result<Vec<ClinicianId>, Status> {
    ids.iter()
        .enumerate()
        .map(|(i, id)| ClinicianId::parse(&format!("{field}[{i}]"), id).map_err(Status::from))
        .collect()
}

#[tonic::async_trait]
impl ProgramService for ProgramApi {
    async fn create_program(
        &self,
        req: Request<pb::CreateProgramRequest>,
    ) -> Result<Response<pb::Program>, Status> {
        let who = principal(&req)?;
        let r = req.into_inner();
        let new = from_proto(r.program.unwrap_or_default())?;
        let made = self.programs.create(&who, new, &r.request_id).await?;
        Ok(Response::new(to_proto(made)))
    }

    async fn update_program(
        &self,
        req: Request<pb::UpdateProgramRequest>,
    ) -> Result<Response<pb::Program>, Status> {
        let who = principal(&req)?;
        let r = req.into_inner();
        let p = r
            .program
            .ok_or_else(|| iop_core::Error::field("program", "is required"))?;
        let id = ProgramId::parse("program.id", &p.id)?;
        let etag = p.etag.clone();
        let paths = r
            .update_mask
            .map(|m| m.paths)
            .unwrap_or_default()
            .iter()
            .map(|path| {
                ProgramPath::parse(path).ok_or_else(|| {
                    iop_core::Error::field(
                        "update_mask",
                        format!("{path:?} is not a field of a program"),
                    )
                })
            })
            .collect::<Result<Vec<_>, _>>()?;
        let change = from_proto(p)?;
        let updated = self
            .programs
            .update(&who, id, change, &paths, &etag)
            .await?;
        Ok(Response::new(to_proto(updated)))
    }

    async fn get_program(
        &self,
        req: Request<pb::GetProgramRequest>,
    ) -> Result<Response<pb::Program>, Status> {
        let who = principal(&req)?;
        let id = ProgramId::parse("id", &req.get_ref().id)?;
        Ok(Response::new(to_proto(self.programs.get(&who, id).await?)))
    }

    async fn list_programs(
        &self,
        req: Request<pb::ListProgramsRequest>,
    ) -> Result<Response<pb::ListProgramsResponse>, Status> {
        let who = principal(&req)?;
        let r = req.get_ref();
        let (rows, next) = self.programs.list(&who, r.page_size, &r.page_token).await?;
        Ok(Response::new(pb::ListProgramsResponse {
            programs: rows.into_iter().map(to_proto).collect(),
            next_page_token: next.unwrap_or_default(),
        }))
    }

    async fn create_track(
        &self,
        req: Request<pb::CreateTrackRequest>,
    ) -> Result<Response<pb::Track>, Status> {
        let who = principal(&req)?;
        let r = req.into_inner();
        let new = tracks::grpc::from_proto(r.track.unwrap_or_default())?;
        let made = self.tracks.create(&who, new, &r.request_id).await?;
        Ok(Response::new(tracks::grpc::to_proto(made)))
    }

    async fn get_track(
        &self,
        req: Request<pb::GetTrackRequest>,
    ) -> Result<Response<pb::Track>, Status> {
        let who = principal(&req)?;
        let id = TrackId::parse("id", &req.get_ref().id)?;
        Ok(Response::new(tracks::grpc::to_proto(
            self.tracks.get(&who, id).await?,
        )))
    }

    async fn list_tracks(
        &self,
        req: Request<pb::ListTracksRequest>,
    ) -> Result<Response<pb::ListTracksResponse>, Status> {
        let who = principal(&req)?;
        let r = req.get_ref();
        let program = optional_id("program_id", &r.program_id, ProgramId::parse)?;
        let (rows, next) = self
            .tracks
            .list(&who, program, r.page_size, &r.page_token)
            .await?;
        Ok(Response::new(pb::ListTracksResponse {
            tracks: rows.into_iter().map(tracks::grpc::to_proto).collect(),
            next_page_token: next.unwrap_or_default(),
        }))
    }

    async fn list_sessions(
        &self,
        req: Request<pb::ListSessionsRequest>,
    ) -> Result<Response<pb::ListSessionsResponse>, Status> {
        let who = principal(&req)?;
        let id = TrackId::parse("track_id", &req.get_ref().track_id)?;
        let sessions = self.tracks.sessions(&who, id).await?;
        Ok(Response::new(pb::ListSessionsResponse {
            sessions: sessions
                .into_iter()
                .map(|s| pb::Session {
                    id: s.id.to_string(),
                    track_id: s.track_id.to_string(),
                    date: Some(date_to_proto(s.planned.date)),
                    start_time: Some(timestamp_from_micros(s.planned.start.timestamp_micros())),
                    end_time: Some(timestamp_from_micros(s.planned.end.timestamp_micros())),
                    number: i32::try_from(s.planned.number).unwrap_or(i32::MAX),
                    topic: s.planned.topic.unwrap_or_default(),
                    hold_id: s.hold_id,
                })
                .collect(),
        }))
    }

    async fn get_catalog(
        &self,
        req: Request<pb::GetCatalogRequest>,
    ) -> Result<Response<pb::Catalog>, Status> {
        let who = principal(&req)?;
        let programs = self.catalog.read(&who).await?;
        Ok(Response::new(pb::Catalog {
            programs: programs.into_iter().map(catalog_to_proto).collect(),
        }))
    }
}

fn catalog_to_proto(c: CatalogProgram) -> pb::CatalogProgram {
    pb::CatalogProgram {
        program: Some(to_proto(c.program)),
        staff: c
            .staff
            .into_iter()
            .map(|(id, s)| pb::CatalogClinician {
                id: id.to_string(),
                name: s.name,
                credentials: s.credentials,
            })
            .collect(),
        tracks: c
            .tracks
            .into_iter()
            .map(|t| pb::CatalogTrack {
                track: Some(tracks::grpc::to_proto(t.track)),
                location_name: t.location.name,
                time_zone: t.location.time_zone,
                next_session_date: t.next.as_ref().map(|n| date_to_proto(n.date)),
                next_session_start: t
                    .next
                    .as_ref()
                    .map(|n| timestamp_from_micros(n.start.timestamp_micros())),
                next_session_end: t
                    .next
                    .as_ref()
                    .map(|n| timestamp_from_micros(n.end.timestamp_micros())),
                next_session_topic: t.next.and_then(|n| n.topic).unwrap_or_default(),
            })
            .collect(),
    }
}

fn to_proto(p: Program) -> pb::Program {
    pb::Program {
        id: p.id.to_string(),
        name: p.name,
        description: p.description,
        population: p.population.to_proto(),
        level_of_care: p.level_of_care.to_proto(),
        substance_use_disorder: p.substance_use_disorder,
        therapies: p.therapies.iter().map(|t| t.to_proto()).collect(),
        modality: p.modality.to_proto(),
        expected_weeks: p.expected_weeks,
        weekly_minutes: p.weekly_minutes,
        staff_clinician_ids: p
            .staff_clinician_ids
            .iter()
            .map(ToString::to_string)
            .collect(),
        active: p.active,
        create_time: Some(timestamp_from_micros(p.create_time_us)),
        etag: p.version.to_string(),
    }
}

/// A program's fields as sent, to create one or to change one.
fn from_proto(p: pb::Program) -> Result<NewProgram, Status> {
    Ok(NewProgram {
        name: p.name,
        description: p.description,
        population: Population::from_proto_field(p.population, "program.population")?,
        level_of_care: LevelOfCare::from_proto_field(p.level_of_care, "program.level_of_care")?,
        substance_use_disorder: p.substance_use_disorder,
        therapies: each(
            &p.therapies,
            "program.therapies",
            Treatment::from_proto_field,
        )?,
        modality: Modality::from_proto_field(p.modality, "program.modality")?,
        expected_weeks: p.expected_weeks,
        weekly_minutes: p.weekly_minutes,
        staff_clinician_ids: clinician_ids(&p.staff_clinician_ids, "program.staff_clinician_ids")?,
        active: p.active,
    })
}
