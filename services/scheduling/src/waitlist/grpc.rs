//! `iop.scheduling.v1.WaitlistService`.

use iop_core::{ClinicianId, Error, LocationId, PatientId, WaitlistEntryId, WaitlistOfferId};
use iop_kit::principal;
use iop_proto::scheduling::{self as pb, waitlist_service_server::WaitlistService};
use iop_proto::timestamp_from_micros;
use tonic::{Request, Response, Status};

use super::store::EntryQuery;
use super::{Entry, EntryStatus, NewEntry, Offer, Preferences, Waitlist, Window};
use crate::appointments::Modality;
use crate::availability::Day;
use crate::availability::grpc::clock_time;
use crate::clinicians::AppointmentKind;
use iop_kit::fields::optional_id;

pub struct WaitlistApi {
    waitlist: Waitlist,
}

impl WaitlistApi {
    pub fn new(waitlist: Waitlist) -> Self {
        Self { waitlist }
    }
}

fn new_from_proto(e: pb::WaitlistEntry) -> Result<NewEntry, Error> {
    let windows = e
        .windows
        .iter()
        .enumerate()
        .map(|(i, w)| {
            let at = |f: &str| format!("entry.windows[{i}].{f}");
            Ok(Window {
                start: clock_time(&at("start_time"), &w.start_time)?,
                end: clock_time(&at("end_time"), &w.end_time)?,
            })
        })
        .collect::<Result<_, Error>>()?;
    Ok(NewEntry {
        patient_id: optional_id("entry.patient_id", &e.patient_id, PatientId::parse)?,
        kind: AppointmentKind::from_proto_field(e.kind, "entry.kind")?,
        location_id: optional_id("entry.location_id", &e.location_id, LocationId::parse)?,
        wants: Preferences {
            clinician_ids: e
                .clinician_ids
                .iter()
                .enumerate()
                .map(|(i, c)| ClinicianId::parse(&format!("entry.clinician_ids[{i}]"), c))
                .collect::<Result<_, _>>()?,
            days: iop_kit::enums::each(&e.days, "entry.days", Day::from_proto_field)?
                .into_iter()
                .map(Day::weekday)
                .collect(),
            windows,
            modalities: iop_kit::enums::each(
                &e.modalities,
                "entry.modalities",
                Modality::from_proto_field,
            )?,
        },
    })
}

fn offer_to_proto(o: &Offer) -> pb::WaitlistOffer {
    pb::WaitlistOffer {
        id: o.id.to_string(),
        clinician_id: o.clinician_id.to_string(),
        room_id: o.room_id.map(|r| r.to_string()).unwrap_or_default(),
        modality: o.modality.to_proto(),
        start_time: Some(timestamp_from_micros(o.start_us)),
        end_time: Some(timestamp_from_micros(o.end_us)),
        expire_time: Some(timestamp_from_micros(o.expire_us)),
        status: o.status.to_proto(),
        create_time: Some(timestamp_from_micros(o.create_time_us)),
    }
}

fn to_proto(e: Entry) -> pb::WaitlistEntry {
    let w = &e.wants;
    pb::WaitlistEntry {
        id: e.id.to_string(),
        patient_id: e.patient_id.to_string(),
        kind: e.kind.to_proto(),
        location_id: e.location_id.to_string(),
        clinician_ids: w.clinician_ids.iter().map(ToString::to_string).collect(),
        days: w.days.iter().map(|d| Day::of(*d).to_proto()).collect(),
        windows: w
            .windows
            .iter()
            .map(|w| pb::TimeWindow {
                start_time: w.start.format("%H:%M").to_string(),
                end_time: w.end.format("%H:%M").to_string(),
            })
            .collect(),
        modalities: w.modalities.iter().map(|m| m.to_proto()).collect(),
        status: e.status.to_proto(),
        offers: e.offers.iter().map(offer_to_proto).collect(),
        appointment_id: e.appointment_id.map(|a| a.to_string()).unwrap_or_default(),
        withdraw_reason: e.withdraw_reason,
        created_by: e.created_by,
        create_time: Some(timestamp_from_micros(e.create_time_us)),
    }
}

#[tonic::async_trait]
impl WaitlistService for WaitlistApi {
    async fn create_waitlist_entry(
        &self,
        req: Request<pb::CreateWaitlistEntryRequest>,
    ) -> Result<Response<pb::WaitlistEntry>, Status> {
        let who = principal(&req)?;
        let r = req.into_inner();
        let new = new_from_proto(r.entry.unwrap_or_default())?;
        let made = self.waitlist.create(&who, new, &r.request_id).await?;
        Ok(Response::new(to_proto(made)))
    }

    async fn get_waitlist_entry(
        &self,
        req: Request<pb::GetWaitlistEntryRequest>,
    ) -> Result<Response<pb::WaitlistEntry>, Status> {
        let who = principal(&req)?;
        let id = WaitlistEntryId::parse("id", &req.get_ref().id)?;
        Ok(Response::new(to_proto(self.waitlist.get(&who, id).await?)))
    }

    async fn list_waitlist_entries(
        &self,
        req: Request<pb::ListWaitlistEntriesRequest>,
    ) -> Result<Response<pb::ListWaitlistEntriesResponse>, Status> {
        let who = principal(&req)?;
        let r = req.get_ref();
        let q = EntryQuery {
            patient: optional_id("patient_id", &r.patient_id, PatientId::parse)?,
            location: optional_id("location_id", &r.location_id, LocationId::parse)?,
            kind: AppointmentKind::from_proto_field(r.kind, "kind")?,
            status: EntryStatus::from_proto_field(r.status, "status")?,
            ..Default::default()
        };
        let (rows, next) = self
            .waitlist
            .list(&who, q, r.page_size, &r.page_token)
            .await?;
        Ok(Response::new(pb::ListWaitlistEntriesResponse {
            entries: rows.into_iter().map(to_proto).collect(),
            next_page_token: next.unwrap_or_default(),
        }))
    }

    async fn withdraw_waitlist_entry(
        &self,
        req: Request<pb::WithdrawWaitlistEntryRequest>,
    ) -> Result<Response<pb::WaitlistEntry>, Status> {
        let who = principal(&req)?;
        let r = req.get_ref();
        let id = WaitlistEntryId::parse("id", &r.id)?;
        Ok(Response::new(to_proto(
            self.waitlist.withdraw(&who, id, &r.reason).await?,
        )))
    }

    async fn accept_waitlist_offer(
        &self,
        req: Request<pb::AcceptWaitlistOfferRequest>,
    ) -> Result<Response<pb::AcceptWaitlistOfferResponse>, Status> {
        let who = principal(&req)?;
        let r = req.get_ref();
        let id = WaitlistEntryId::parse("id", &r.id)?;
        let offer = WaitlistOfferId::parse("offer_id", &r.offer_id)?;
        let (entry, appointment) = self.waitlist.accept(&who, id, offer, &r.join_url).await?;
        Ok(Response::new(pb::AcceptWaitlistOfferResponse {
            entry: Some(to_proto(entry)),
            appointment: Some(crate::appointments::grpc::to_proto(appointment)),
        }))
    }

    async fn decline_waitlist_offer(
        &self,
        req: Request<pb::DeclineWaitlistOfferRequest>,
    ) -> Result<Response<pb::WaitlistEntry>, Status> {
        let who = principal(&req)?;
        let r = req.get_ref();
        let id = WaitlistEntryId::parse("id", &r.id)?;
        let offer = WaitlistOfferId::parse("offer_id", &r.offer_id)?;
        Ok(Response::new(to_proto(
            self.waitlist.decline(&who, id, offer).await?,
        )))
    }
}
