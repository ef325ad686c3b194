//! Scoring of the standardized questionnaires an IOP gives at intake and every few weeks,
//! free of I/O: PHQ-9 (depression) and GAD-7 (anxiety), answered item by item.
//!
//! Bands are the published ones (Kroenke, Spitzer & Williams 2001 for PHQ-9; Spitzer et al.
//! 2006 for GAD-7). PHQ-9 item 9 asks about thoughts of self-harm: any answer above 0 raises a
//! safety flag, whatever the total.

use iop_core::{Error, FieldViolation};

iop_kit::text_enum! {
    pub enum Instrument: iop_proto::records::Instrument {
        Phq9 = "phq9",
        Gad7 = "gad7",
    }
}

impl Instrument {
    /// Number of scored items.
    pub fn items(self) -> usize {
        match self {
            Self::Phq9 => 9,
            Self::Gad7 => 7,
        }
    }

    fn label(self) -> &'static str {
        match self {
            Self::Phq9 => "PHQ-9",
            Self::Gad7 => "GAD-7",
        }
    }

    /// Upper bounds (inclusive) of each band's total, from the lowest band up.
    fn bands(self) -> &'static [(u32, Severity)] {
        match self {
            Self::Phq9 => &[
                (4, Severity::Minimal),
                (9, Severity::Mild),
                (14, Severity::Moderate),
                (19, Severity::ModeratelySevere),
                (27, Severity::Severe),
            ],
            Self::Gad7 => &[
                (4, Severity::Minimal),
                (9, Severity::Mild),
                (14, Severity::Moderate),
                (21, Severity::Severe),
            ],
        }
    }
}

iop_kit::text_enum! {
    pub enum Severity: iop_proto::records::Severity {
        Minimal = "minimal",
        Mild = "mild",
        Moderate = "moderate",
        /// PHQ-9 only.
        ModeratelySevere = "moderately_severe",
        Severe = "severe",
    }
}

/// What a completed questionnaire says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Score {
    pub total: u32,
    pub severity: Severity,
    /// PHQ-9 item 9 above 0: a clinician must see and acknowledge it.
    pub safety_flag: bool,
}

/// Each answer is 0 ("not at all") to 3 ("nearly every day").
pub const MAX_ANSWER: i32 = 3;

/// Validates `answers` (field `answers`, items `answers[i]`) and scores them.
pub fn score(instrument: Instrument, answers: &[i32]) -> Result<Score, Error> {
    let mut bad = Vec::new();
    if answers.len() != instrument.items() {
        bad.push(FieldViolation {
            field: "answers".into(),
            description: format!(
                "{} has {} items; {} answers were given",
                instrument.label(),
                instrument.items(),
                answers.len()
            ),
        });
    }
    for (i, a) in answers.iter().enumerate() {
        if !(0..=MAX_ANSWER).contains(a) {
            bad.push(FieldViolation {
                field: format!("answers[{i}]"),
                description: format!("must be 0 to {MAX_ANSWER}; got {a}"),
            });
        }
    }
    if !bad.is_empty() {
        return Err(Error::InvalidFields(bad));
    }
    // Every answer is 0..=3 here, so the sum is small and non-negative.
    let total: u32 = answers.iter().map(|a| a.unsigned_abs()).sum();
    let severity = instrument
        .bands()
        .iter()
        .find(|(upper, _)| total <= *upper)
        .map_or(Severity::Severe, |(_, s)| *s);
    let safety_flag = instrument == Instrument::Phq9 && answers.get(8).is_some_and(|a| *a > 0);
    Ok(Score {
        total,
        severity,
        safety_flag,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Answers summing to `total` (as evenly as the items allow), item 9 left at 0.
    fn summing_to(instrument: Instrument, total: u32) -> Vec<i32> {
        let scored = match instrument {
            Instrument::Phq9 => 8, // keep item 9 at 0: these tests are about the bands
            Instrument::Gad7 => 7,
        };
        let mut answers = vec![0; instrument.items()];
        let mut left = total as i32;
        for a in answers.iter_mut().take(scored) {
            *a = left.min(MAX_ANSWER);
            left -= *a;
        }
        assert_eq!(left, 0, "{total} does not fit");
        answers
    }

    #[test]
    fn phq9_bands_are_the_published_ones() {
        use Severity::*;
        let cases = [
            (0, Minimal),
            (4, Minimal),
            (5, Mild),
            (9, Mild),
            (10, Moderate),
            (14, Moderate),
            (15, ModeratelySevere),
            (19, ModeratelySevere),
            (20, Severe),
            (24, Severe),
        ];
        for (total, band) in cases {
            let s = score(Instrument::Phq9, &summing_to(Instrument::Phq9, total)).unwrap();
            assert_eq!((s.total, s.severity, s.safety_flag), (total, band, false));
        }
        let all_threes = score(Instrument::Phq9, &[3; 9]).unwrap();
        assert_eq!((all_threes.total, all_threes.severity), (27, Severe));
    }

    #[test]
    fn gad7_bands_are_the_published_ones() {
        use Severity::*;
        let cases = [
            (0, Minimal),
            (4, Minimal),
            (5, Mild),
            (9, Mild),
            (10, Moderate),
            (14, Moderate),
            (15, Severe),
            (21, Severe),
        ];
        for (total, band) in cases {
            let s = score(Instrument::Gad7, &summing_to(Instrument::Gad7, total)).unwrap();
            assert_eq!((s.total, s.severity, s.safety_flag), (total, band, false));
        }
    }

    #[test]
    fn phq9_item_9_raises_the_safety_flag_whatever_the_total() {
        let mut answers = vec![0; 9];
        answers[8] = 1;
        let s = score(Instrument::Phq9, &answers).unwrap();
        assert_eq!(
            (s.total, s.severity, s.safety_flag),
            (1, Severity::Minimal, true)
        );
        // GAD-7 has no such item: its last answer is just an answer.
        let s = score(Instrument::Gad7, &[0, 0, 0, 0, 0, 0, 3]).unwrap();
        assert!(!s.safety_flag);
    }

    #[test]
    fn bad_answers_are_refused_naming_the_field() {
        let fields = |instrument, answers: &[i32]| match score(instrument, answers) {
            Err(Error::InvalidFields(v)) => v.into_iter().map(|f| f.field).collect::<Vec<_>>(),
            other => panic!("expected invalid fields, got {other:?}"),
        };
        assert_eq!(fields(Instrument::Phq9, &[0; 8]), ["answers"]);
        assert_eq!(fields(Instrument::Gad7, &[0; 9]), ["answers"]);
        assert_eq!(fields(Instrument::Phq9, &[]), ["answers"]);
        assert_eq!(
            fields(Instrument::Phq9, &[0, 4, 0, 0, -1, 0, 0, 0, 0]),
            ["answers[1]", "answers[4]"]
        );
        assert_eq!(
            fields(Instrument::Gad7, &[0, 0, 9]),
            ["answers", "answers[2]"]
        );
    }

    #[test]
    fn instrument_names_round_trip() {
        for i in Instrument::ALL {
            assert_eq!(Instrument::parse(i.as_str()), Some(*i));
        }
        assert_eq!(Instrument::parse("phq-9"), None);
    }
}
