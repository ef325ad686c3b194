//! How the clinic offers each kind of appointment: its default length (what slot search
//! looks for), the modalities it is offered in (a booking in another is refused), and its
//! billing code. Until the clinic changes one, each kind has [`defaults`].

pub mod grpc;
pub mod store;

use iop_core::{Error, Principal};
use iop_kit::violations::Violations;

use crate::appointments::Modality;
use crate::clinicians::AppointmentKind;
use store::KindStore;

/// One kind's settings, as kept (version 0: the defaults).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KindSettings {
    pub kind: AppointmentKind,
    pub default_minutes: i64,
    pub modalities: Vec<Modality>,
    pub billing_code: String,
    /// How long a waitlist offer of this kind stands ([`crate::waitlist`]).
    pub waitlist_offer_seconds: i64,
    pub version: i64,
    pub update_time_us: i64,
    pub updated_by: String,
}

impl KindSettings {
    pub fn etag(&self) -> String {
        self.version.to_string()
    }
}

/// A kind's settings before the clinic changes them: its usual length
/// ([`AppointmentKind::default_minutes`]), offered in person and by video, no billing code
/// (the clinic's biller sets the codes its payers take).
pub fn defaults(kind: AppointmentKind) -> KindSettings {
    KindSettings {
        kind,
        default_minutes: kind.default_minutes(),
        modalities: vec![Modality::InPerson, Modality::Telehealth],
        billing_code: String::new(),
        waitlist_offer_seconds: DEFAULT_OFFER_SECONDS,
        version: 0,
        update_time_us: 0,
        updated_by: String::new(),
    }
}

/// A waitlist offer stands two hours unless the clinic says otherwise: long enough for the
/// front desk to reach the patient, short enough to pass the time on the same day.
pub const DEFAULT_OFFER_SECONDS: i64 = 7200;
/// The shortest and longest a clinic may let offers stand (half a minute; a week).
pub const OFFER_SECONDS: std::ops::RangeInclusive<i64> = 30..=604_800;

/// What a client sends to change one kind.
#[derive(Debug, Clone, Default)]
pub struct KindUpdate {
    pub kind: Option<AppointmentKind>,
    pub default_minutes: i64,
    pub modalities: Vec<Modality>,
    pub billing_code: String,
    /// 0: [`DEFAULT_OFFER_SECONDS`].
    pub waitlist_offer_seconds: i64,
}

impl KindUpdate {
    fn check(&self) -> Result<(), Error> {
        let mut v = Violations::new("settings.");
        if self.kind.is_none() {
            v.push("kind", "is required");
        }
        if !(5..=720).contains(&self.default_minutes) {
            v.push("default_minutes", "must be 5-720");
        }
        if self.waitlist_offer_seconds != 0 && !OFFER_SECONDS.contains(&self.waitlist_offer_seconds)
        {
            v.push(
                "waitlist_offer_seconds",
                "must be 30-604800 (or 0 for the default, 7200)",
            );
        }
        if self.modalities.is_empty() {
            v.push("modalities", "must name at least one modality");
        }
        v.unique("modalities", &self.modalities);
        // CPT codes are five digits (Category II/III: four digits and F or T); HCPCS Level II
        // codes a letter and four digits (CMS, "HCPCS – General Information").
        let code = self.billing_code.trim();
        let well_formed = code.len() == 5
            && code
                .bytes()
                .all(|b| b.is_ascii_digit() || b.is_ascii_uppercase());
        if !code.is_empty() && !well_formed {
            v.push(
                "billing_code",
                "must be a CPT or HCPCS code: five digits or capital letters (90837, H0015)",
            );
        }
        v.finish()
    }
}

#[derive(Clone)]
pub struct Kinds {
    store: KindStore,
}

impl Kinds {
    pub fn new(store: KindStore) -> Self {
        Self { store }
    }

    /// Every kind, in the order of [`AppointmentKind::ALL`].
    pub async fn list(&self, who: &Principal) -> Result<Vec<KindSettings>, Error> {
        let kept = self.store.all(&who.tenant).await?;
        Ok(AppointmentKind::ALL
            .iter()
            .map(|k| {
                kept.iter()
                    .find(|s| s.kind == *k)
                    .cloned()
                    .unwrap_or_else(|| defaults(*k))
            })
            .collect())
    }

    /// Replaces one kind's settings; `etag`, when not empty, must be the current one.
    pub async fn update(
        &self,
        who: &Principal,
        update: KindUpdate,
        etag: &str,
    ) -> Result<KindSettings, Error> {
        update.check()?;
        let Some(kind) = update.kind else {
            return Err(Error::internal("validated kind is missing"));
        };
        let mut modalities = update.modalities;
        modalities.sort_by_key(|m| m.as_str());
        self.store
            .set(
                &who.tenant,
                &KindSettings {
                    kind,
                    default_minutes: update.default_minutes,
                    modalities,
                    billing_code: update.billing_code.trim().to_owned(),
                    waitlist_offer_seconds: match update.waitlist_offer_seconds {
                        0 => DEFAULT_OFFER_SECONDS,
                        s => s,
                    },
                    version: 0,
                    update_time_us: iop_core::now_micros(),
                    updated_by: who.subject.clone(),
                },
                etag,
            )
            .await
    }
}

#[cfg(test)]
mod tests {
    use chrono::{Datelike, Duration, NaiveTime, Utc, Weekday};
    use iop_core::PatientId;

    use super::*;
    use crate::appointments::NewAppointment;
    use crate::availability::WeeklyHours;
    use crate::availability::search::SlotQuery;
    use crate::testing::{clinic, fixture_db, staff};

    fn fields(e: Error) -> Vec<String> {
        match e {
            Error::InvalidFields(v) | Error::Unmet(v) | Error::Unprocessable(v) => {
                v.into_iter().map(|v| v.field).collect()
            }
            other => panic!("{other:?}"),
        }
    }

    #[tokio::test]
    async fn a_kind_offered_in_person_only_refuses_video_and_its_length_is_searched() {
        let (_tdb, db) = fixture_db("kinds").await;
        let who = staff("clinic-a");
        let c = clinic(db.clone(), &who).await;
        let kinds = Kinds::new(KindStore::new(db));
        let all = kinds.list(&who).await.unwrap();
        assert_eq!(all.len(), AppointmentKind::ALL.len());
        assert_eq!(all[1], defaults(AppointmentKind::IndividualTherapy));
        assert_eq!((all[1].default_minutes, all[1].etag()), (60, "0".into()));

        let update = KindUpdate {
            kind: Some(AppointmentKind::IndividualTherapy),
            default_minutes: 45,
            modalities: vec![Modality::InPerson],
            billing_code: "90834".into(),
            waitlist_offer_seconds: 0,
        };
        let set = kinds.update(&who, update.clone(), "0").await.unwrap();
        assert_eq!(
            (set.etag(), set.billing_code.as_str()),
            ("1".into(), "90834")
        );
        assert_eq!(kinds.list(&who).await.unwrap()[1], set);
        // Stale, malformed: refused, nothing written.
        let err = kinds.update(&who, update.clone(), "0").await.unwrap_err();
        assert!(matches!(err, Error::Conflict(_)), "{err:?}");
        let bad = KindUpdate {
            default_minutes: 4,
            modalities: vec![],
            billing_code: "9083".into(),
            waitlist_offer_seconds: 29,
            ..update.clone()
        };
        assert_eq!(
            fields(kinds.update(&who, bad, "").await.unwrap_err()),
            [
                "settings.default_minutes",
                "settings.waitlist_offer_seconds",
                "settings.modalities",
                "settings.billing_code"
            ]
        );
        // Another clinic keeps the defaults.
        assert_eq!(
            kinds.list(&staff("clinic-b")).await.unwrap()[1],
            defaults(AppointmentKind::IndividualTherapy)
        );

        // By video: refused, naming the modality.
        let start = (Utc::now() + Duration::days(30)).timestamp_micros();
        let video = NewAppointment {
            kind: Some(AppointmentKind::IndividualTherapy),
            patient_id: Some(PatientId::new()),
            clinician_ids: vec![c.clinicians[0]],
            location_id: Some(c.location.id),
            modality: Some(Modality::Telehealth),
            join_url: "https://meet.example.com/r/1".into(),
            start_us: Some(start),
            end_us: Some(start + 3_600_000_000),
            ..Default::default()
        };
        let err = c.appointments.book(&who, video, "").await.unwrap_err();
        assert_eq!(fields(err), ["appointment.modality"]);

        // A search without a length looks for the clinic's 45 minutes.
        let mut monday = Utc::now().date_naive() + Duration::days(14);
        while monday.weekday() != Weekday::Mon {
            monday = monday.succ_opt().unwrap();
        }
        let mornings = vec![WeeklyHours {
            day: Weekday::Mon,
            start: NaiveTime::from_hms_opt(9, 0, 0).unwrap(),
            end: NaiveTime::from_hms_opt(12, 0, 0).unwrap(),
        }];
        c.availability
            .set_hours(&who, c.clinicians[0], c.location.id, mornings, "")
            .await
            .unwrap();
        let q = SlotQuery {
            location: Some(c.location.id),
            kind: Some(AppointmentKind::IndividualTherapy),
            clinician: Some(c.clinicians[0]),
            from: Some(monday),
            to: Some(monday),
            ..Default::default()
        };
        let (slots, _) = c.availability.search(&who, q, 0, "").await.unwrap();
        assert!(!slots.is_empty());
        assert!(
            slots
                .iter()
                .all(|s| s.end_us - s.start_us == 45 * 60_000_000)
        );
    }

    /// Editors who read the same version change it at once: exactly one wins, the others
    /// are told to read again. On both databases.
    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn of_concurrent_editors_of_one_read_exactly_one_wins() {
        let (_tdb, db) = fixture_db("kinds_race").await;
        let kinds = Kinds::new(KindStore::new(db));
        let mut tasks = Vec::new();
        for minutes in 40..48 {
            let (kinds, who) = (kinds.clone(), staff("clinic-a"));
            tasks.push(tokio::spawn(async move {
                let update = KindUpdate {
                    kind: Some(AppointmentKind::CaseManagement),
                    default_minutes: minutes,
                    modalities: vec![Modality::Telehealth],
                    billing_code: String::new(),
                    waitlist_offer_seconds: 0,
                };
                kinds.update(&who, update, "0").await
            }));
        }
        let mut won = Vec::new();
        for t in tasks {
            match t.await.unwrap() {
                Ok(s) => won.push(s),
                Err(Error::Conflict(_)) => {}
                Err(other) => panic!("{other:?}"),
            }
        }
        assert_eq!(won.len(), 1, "{won:?}");
        let kept = kinds.list(&staff("clinic-a")).await.unwrap();
        assert_eq!(kept[5], won[0]);
        assert_eq!(kept[5].etag(), "1");
    }
}
