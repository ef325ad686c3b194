//! `iop.scheduling.v1.CalendarFeedService`, and the gateway's internal
//! `iop.internal.v1.CalendarFeedRenderService`.

use iop_core::{ClinicianId, FeedId, RoomId};
use iop_kit::principal;
use iop_proto::internal::{
    self as internal_pb, calendar_feed_render_service_server::CalendarFeedRenderService,
};
use iop_proto::scheduling::{self as pb, calendar_feed_service_server::CalendarFeedService};
use iop_proto::timestamp_from_micros;
use tonic::{Request, Response, Status};

use super::store::FeedQuery;
use super::{Feed, Feeds};
use iop_kit::fields::optional_id;

#[derive(Clone)]
pub struct FeedApi {
    feeds: Feeds,
}

impl FeedApi {
    pub fn new(feeds: Feeds) -> Self {
        Self { feeds }
    }
}

fn to_proto(f: Feed, secret: String) -> pb::CalendarFeed {
    pb::CalendarFeed {
        id: f.id.to_string(),
        clinician_id: f.clinician_id.map(|c| c.to_string()).unwrap_or_default(),
        room_id: f.room_id.map(|r| r.to_string()).unwrap_or_default(),
        secret,
        revoked: f.revoked,
        created_by: f.created_by,
        create_time: Some(timestamp_from_micros(f.create_time_us)),
        revoked_by: f.revoked_by,
        revoke_time: f.revoked.then(|| timestamp_from_micros(f.revoke_time_us)),
    }
}

#[tonic::async_trait]
impl CalendarFeedService for FeedApi {
    async fn create_calendar_feed(
        &self,
        req: Request<pb::CreateCalendarFeedRequest>,
    ) -> Result<Response<pb::CalendarFeed>, Status> {
        let who = principal(&req)?;
        let f = req.into_inner().feed.unwrap_or_default();
        let clinician = optional_id("feed.clinician_id", &f.clinician_id, ClinicianId::parse)?;
        let room = optional_id("feed.room_id", &f.room_id, RoomId::parse)?;
        let (feed, secret) = self.feeds.create(&who, clinician, room).await?;
        Ok(Response::new(to_proto(feed, secret)))
    }

    async fn list_calendar_feeds(
        &self,
        req: Request<pb::ListCalendarFeedsRequest>,
    ) -> Result<Response<pb::ListCalendarFeedsResponse>, Status> {
        let who = principal(&req)?;
        let r = req.get_ref();
        let q = FeedQuery {
            clinician: optional_id("clinician_id", &r.clinician_id, ClinicianId::parse)?,
            room: optional_id("room_id", &r.room_id, RoomId::parse)?,
            ..Default::default()
        };
        let (rows, next) = self.feeds.list(&who, q, r.page_size, &r.page_token).await?;
        Ok(Response::new(pb::ListCalendarFeedsResponse {
            feeds: rows
                .into_iter()
                .map(|f| to_proto(f, String::new()))
                .collect(),
            next_page_token: next.unwrap_or_default(),
        }))
    }

    async fn revoke_calendar_feed(
        &self,
        req: Request<pb::RevokeCalendarFeedRequest>,
    ) -> Result<Response<pb::CalendarFeed>, Status> {
        let who = principal(&req)?;
        let id = FeedId::parse("id", &req.get_ref().id)?;
        Ok(Response::new(to_proto(
            self.feeds.revoke(&who, id).await?,
            String::new(),
        )))
    }
}

#[tonic::async_trait]
impl CalendarFeedRenderService for FeedApi {
    async fn render_calendar_feed(
        &self,
        req: Request<internal_pb::RenderCalendarFeedRequest>,
    ) -> Result<Response<internal_pb::RenderedCalendarFeed>, Status> {
        let who = principal(&req)?;
        let rendered = self.feeds.render(&who, &req.get_ref().secret).await?;
        Ok(Response::new(internal_pb::RenderedCalendarFeed {
            feed_id: rendered.feed_id.to_string(),
            calendar: rendered.calendar,
            patient_ids: rendered
                .patient_ids
                .iter()
                .map(ToString::to_string)
                .collect(),
        }))
    }
}
