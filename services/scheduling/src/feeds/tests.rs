use icalendar::{Calendar, CalendarComponent, Component, EventLike, EventStatus};
use iop_core::{Error, PatientId, Principal};

use super::*;
use crate::appointments::{Modality, NewAppointment};
use crate::clinicians::AppointmentKind;
use crate::testing::{Clinic, clinic, fixture_db, staff};

fn feeds(c: &Clinic) -> Feeds {
    let refs = References::new(&c.db, c.records.clone());
    Feeds::new(
        FeedStore::new(c.db.clone()),
        refs,
        AppointmentStore::new(c.db.clone()),
    )
}

fn clinician_user(tenant: &str, sub: &str) -> Principal {
    Principal {
        subject: sub.into(),
        roles: vec!["clinician".into()],
        ..staff(tenant)
    }
}

fn events(text: &str) -> Vec<icalendar::Event> {
    let parsed: Calendar = text.parse().unwrap();
    parsed
        .components
        .into_iter()
        .filter_map(|c| match c {
            CalendarComponent::Event(e) => Some(e),
            _ => None,
        })
        .collect()
}

#[tokio::test]
async fn a_feed_shows_a_clinicians_visits_by_initials_until_it_is_revoked() {
    let (_tdb, db) = fixture_db("feeds").await;
    let who = staff("clinic-a");
    let c = clinic(db, &who).await;
    let f = feeds(&c);
    let start = iop_core::now_micros() + 86_400_000_000;
    for (i, clinician) in [0, 0, 1].into_iter().enumerate() {
        let s = start + i64::try_from(i).unwrap() * 7_200_000_000;
        c.appointments
            .book(
                &who,
                NewAppointment {
                    kind: Some(AppointmentKind::IndividualTherapy),
                    patient_id: Some(PatientId::new()),
                    clinician_ids: vec![c.clinicians[clinician]],
                    location_id: Some(c.location.id),
                    modality: Some(Modality::InPerson),
                    room_id: Some(c.rooms[0]),
                    start_us: Some(s),
                    end_us: Some(s + 3_600_000_000),
                    ..Default::default()
                },
                "",
            )
            .await
            .unwrap();
    }
    let (feed, secret) = f.create(&who, Some(c.clinicians[0]), None).await.unwrap();
    assert!(secret.starts_with("clinic-a."), "{secret}");
    let shown = f.render(&who, &secret).await.unwrap();
    assert_eq!(shown.feed_id, feed.id);
    assert_eq!(shown.patient_ids.len(), 2);
    let got = events(&shown.calendar);
    assert_eq!(got.len(), 2);
    assert_eq!(got[0].get_summary(), Some("Individual therapy — T.P."));
    assert_eq!(got[0].get_location(), Some("Office 1"));
    assert_eq!(got[0].get_status(), Some(EventStatus::Confirmed));
    // Not another clinic's, and not a secret never issued.
    let other = staff("clinic-b");
    assert!(matches!(
        f.render(&other, &secret).await.unwrap_err(),
        Error::NotFound { .. }
    ));
    assert!(matches!(
        f.render(&who, &format!("{secret}x")).await.unwrap_err(),
        Error::NotFound { .. }
    ));
    // Listed without its secret; revoked, it stops at once.
    let (listed, _) = f.list(&who, FeedQuery::default(), 0, "").await.unwrap();
    assert_eq!(listed, std::slice::from_ref(&feed));
    let revoked = f.revoke(&who, feed.id).await.unwrap();
    assert!(revoked.revoked && revoked.revoked_by == "front-desk");
    assert_eq!(f.revoke(&who, feed.id).await.unwrap(), revoked);
    assert!(matches!(
        f.render(&who, &secret).await.unwrap_err(),
        Error::NotFound { .. }
    ));
}

#[tokio::test]
async fn a_clinician_makes_a_feed_of_their_own_schedule_only() {
    let (_tdb, db) = fixture_db("feeds_own").await;
    let who = staff("clinic-a");
    let c = clinic(db, &who).await;
    let f = feeds(&c);
    // Dr Kim signs in as `kim`.
    sqlx::query("UPDATE clinicians SET user_id = 'kim' WHERE id = $1")
        .bind(c.clinicians[0].to_string())
        .execute(c.db.pool())
        .await
        .unwrap();
    let kim = clinician_user("clinic-a", "kim");
    let (own, _) = f.create(&kim, Some(c.clinicians[0]), None).await.unwrap();
    let (lees, _) = f.create(&who, Some(c.clinicians[1]), None).await.unwrap();
    let err = f.revoke(&kim, lees.id).await.unwrap_err();
    assert!(matches!(err, Error::PermissionDenied(_)), "{err:?}");
    assert!(f.revoke(&kim, own.id).await.unwrap().revoked);
    for (clinician, room) in [(Some(c.clinicians[1]), None), (None, Some(c.rooms[0]))] {
        let err = f.create(&kim, clinician, room).await.unwrap_err();
        assert!(matches!(err, Error::PermissionDenied(_)), "{err:?}");
    }
    // Neither or both: named.
    let err = f.create(&who, None, None).await.unwrap_err();
    assert!(matches!(err, Error::InvalidFields(_)), "{err:?}");
    assert!(f.create(&who, None, Some(c.rooms[1])).await.is_ok());
}
