//! A track's sessions as its weekly pattern lays them out: every meeting day in a window of
//! dates, at its local times in the location's zone, and the curriculum topic of each.
//!
//! Local times are read by [`iop_kit::clock`]'s rules, so 18:00 stays 18:00 on the wall
//! clock across both daylight-saving changes (the instant moves an hour), a time the clock
//! skips lands as far past the change, and a time it shows twice is the first. Sessions are
//! numbered from the track's first meeting, so the curriculum rotates in order whatever
//! window is asked for — the sessions of March continue the topics of February.

use chrono::{DateTime, Datelike, Days, NaiveDate, Utc};
use chrono_tz::Tz;
use iop_kit::clock;

use crate::tracks::Track;

/// One session of a track as its pattern places it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Planned {
    /// The local date it meets on.
    pub date: NaiveDate,
    pub start: DateTime<Utc>,
    pub end: DateTime<Utc>,
    /// 1 for the track's first meeting, counting every meeting day since.
    pub number: u32,
    /// The curriculum's topic for it, in rotation; `None` without a curriculum.
    pub topic: Option<String>,
}

/// The track's sessions meeting from `from` to `to` (both included, local dates), by date.
pub fn sessions(track: &Track, tz: Tz, from: NaiveDate, to: NaiveDate) -> Vec<Planned> {
    let first = from.max(track.start_date);
    let mut number = meetings_before(track, first);
    let mut planned = Vec::new();
    let mut day = first;
    while day <= to {
        if let Some(m) = track
            .meetings
            .iter()
            .find(|m| m.day.weekday() == day.weekday())
        {
            number += 1;
            let topic = (!track.curriculum.is_empty()).then(|| {
                let i = (number as usize - 1) % track.curriculum.len();
                track.curriculum[i].clone()
            });
            planned.push(Planned {
                date: day,
                start: clock::at(tz, day, m.start),
                end: clock::at(tz, day, m.end),
                number,
                topic,
            });
        }
        match day.checked_add_days(Days::new(1)) {
            Some(next) => day = next,
            None => break,
        }
    }
    planned
}

/// How many times the track meets from its start date up to, not including, `date`.
fn meetings_before(track: &Track, date: NaiveDate) -> u32 {
    let days = (date - track.start_date).num_days();
    if days <= 0 {
        return 0;
    }
    let per_week = track.meetings.len() as i64;
    let (weeks, rest) = (days / 7, days % 7);
    let tail = (0..rest)
        .filter_map(|n| {
            track
                .start_date
                .checked_add_days(Days::new((weeks * 7 + n) as u64))
        })
        .filter(|d| {
            track
                .meetings
                .iter()
                .any(|m| m.day.weekday() == d.weekday())
        })
        .count() as i64;
    u32::try_from(weeks * per_week + tail).unwrap_or(u32::MAX)
}

#[cfg(test)]
mod tests {
    use chrono::NaiveTime;
    use iop_core::{LocationId, ProgramId, TrackId};

    use super::*;
    use crate::programs::Modality;
    use crate::tracks::{Day, Meeting};

    fn hm(s: &str) -> NaiveTime {
        NaiveTime::parse_from_str(s, "%H:%M").unwrap()
    }

    fn date(y: i32, m: u32, d: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, d).unwrap()
    }

    fn track(meetings: &[(Day, &str, &str)], start: NaiveDate, curriculum: &[&str]) -> Track {
        Track {
            id: TrackId::new(),
            program_id: ProgramId::new(),
            name: "Evenings".into(),
            location_id: LocationId::new(),
            room_id: None,
            modality: Modality::Telehealth,
            meetings: meetings
                .iter()
                .map(|(day, a, b)| Meeting {
                    day: *day,
                    start: hm(a),
                    end: hm(b),
                })
                .collect(),
            facilitator_clinician_ids: vec![],
            capacity: 12,
            curriculum: curriculum.iter().map(|t| (*t).to_owned()).collect(),
            start_date: start,
            active: true,
            create_time_us: 0,
        }
    }

    fn la() -> Tz {
        clock::zone("time_zone", "America/Los_Angeles").unwrap()
    }

    /// Mondays and Wednesdays 18:00–21:00 in Los Angeles stay 18:00 local across both
    /// changes of 2026 (March 8th, November 1st): UTC 02:00 in winter, 01:00 in summer.
    #[test]
    fn evening_sessions_keep_their_local_time_across_both_changes() {
        let t = track(
            &[
                (Day::Monday, "18:00", "21:00"),
                (Day::Wednesday, "18:00", "21:00"),
            ],
            date(2026, 1, 5),
            &[],
        );
        let march = sessions(&t, la(), date(2026, 3, 2), date(2026, 3, 11));
        let starts: Vec<String> = march.iter().map(|s| s.start.to_rfc3339()).collect();
        assert_eq!(
            starts,
            [
                "2026-03-03T02:00:00+00:00", // Mon 2 March, PST
                "2026-03-05T02:00:00+00:00", // Wed 4 March
                "2026-03-10T01:00:00+00:00", // Mon 9 March, PDT
                "2026-03-12T01:00:00+00:00", // Wed 11 March
            ]
        );
        let november = sessions(&t, la(), date(2026, 10, 28), date(2026, 11, 2));
        let local: Vec<String> = november
            .iter()
            .map(|s| clock::local(la(), s.start).to_string())
            .collect();
        assert_eq!(local, ["2026-10-28 18:00:00", "2026-11-02 18:00:00"]);
        assert_eq!(
            november[1].end - november[1].start,
            chrono::Duration::hours(3),
            "three hours on the wall clock and in fact"
        );
    }

    /// A Sunday meeting at 02:30 on the day clocks spring forward lands at 03:30 PDT; the
    /// one on the day they fall back is the first 01:30.
    #[test]
    fn change_day_times_follow_the_clock_rules() {
        let t = track(&[(Day::Sunday, "02:30", "04:00")], date(2026, 3, 1), &[]);
        let spring = sessions(&t, la(), date(2026, 3, 8), date(2026, 3, 8));
        assert_eq!(spring[0].start.to_rfc3339(), "2026-03-08T10:30:00+00:00");
        let t = track(&[(Day::Sunday, "01:30", "03:00")], date(2026, 3, 1), &[]);
        let fall = sessions(&t, la(), date(2026, 11, 1), date(2026, 11, 1));
        assert_eq!(fall[0].start.to_rfc3339(), "2026-11-01T08:30:00+00:00");
    }

    /// Topics rotate from the track's first meeting: a window starting later continues
    /// where the earlier sessions left off, and nothing meets before the start date.
    #[test]
    fn the_curriculum_rotates_from_the_first_meeting_whatever_the_window() {
        let t = track(
            &[
                (Day::Monday, "18:00", "21:00"),
                (Day::Wednesday, "18:00", "21:00"),
                (Day::Thursday, "18:00", "21:00"),
            ],
            // A Wednesday: its first week has two meetings.
            date(2026, 1, 7),
            &[
                "Coping skills",
                "Relapse prevention",
                "Mindfulness",
                "Family group",
            ],
        );
        let all = sessions(&t, la(), date(2026, 1, 1), date(2026, 2, 28));
        assert_eq!(all[0].date, date(2026, 1, 7), "none before the start");
        assert_eq!(
            all.iter().map(|s| s.number).collect::<Vec<_>>(),
            (1..=all.len() as u32).collect::<Vec<_>>()
        );
        let topics: Vec<&str> = all[..6]
            .iter()
            .map(|s| s.topic.as_deref().unwrap())
            .collect();
        assert_eq!(
            topics,
            [
                "Coping skills",
                "Relapse prevention",
                "Mindfulness",
                "Family group",
                "Coping skills",
                "Relapse prevention"
            ]
        );
        // Every later window agrees with the whole.
        for from in [date(2026, 1, 12), date(2026, 1, 15), date(2026, 2, 4)] {
            let part = sessions(&t, la(), from, date(2026, 2, 28));
            let whole: Vec<&Planned> = all.iter().filter(|s| s.date >= from).collect();
            assert_eq!(part.iter().collect::<Vec<_>>(), whole, "from {from}");
        }
        assert!(sessions(&t, la(), date(2026, 2, 1), date(2026, 1, 1)).is_empty());
    }
}
