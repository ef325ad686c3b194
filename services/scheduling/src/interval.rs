//! Half-open spans of time and the arithmetic booking needs: overlap, union, difference,
//! and the slots of a length that fit in what is free.

use chrono::{DateTime, Duration, Utc};

/// `[start, end)`: a booking from 9:00 to 10:00 and one from 10:00 to 11:00 do not overlap.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Span {
    pub start: DateTime<Utc>,
    pub end: DateTime<Utc>,
}

impl Span {
    /// `None` unless `end` is after `start`.
    pub fn new(start: DateTime<Utc>, end: DateTime<Utc>) -> Option<Self> {
        (end > start).then_some(Self { start, end })
    }

    /// From microseconds since the epoch, as instants are kept: `None` out of range or
    /// unless `end_us` is after `start_us`.
    pub fn from_micros(start_us: i64, end_us: i64) -> Option<Self> {
        Self::new(
            DateTime::from_timestamp_micros(start_us)?,
            DateTime::from_timestamp_micros(end_us)?,
        )
    }

    pub fn overlaps(&self, other: &Span) -> bool {
        self.start < other.end && other.start < self.end
    }

    pub fn length(&self) -> Duration {
        self.end - self.start
    }

    pub fn contains(&self, other: &Span) -> bool {
        self.start <= other.start && other.end <= self.end
    }
}

/// The same time as `spans`, sorted, with overlapping and touching spans merged.
pub fn union(mut spans: Vec<Span>) -> Vec<Span> {
    spans.sort();
    let mut out: Vec<Span> = Vec::with_capacity(spans.len());
    for s in spans {
        match out.last_mut() {
            Some(last) if s.start <= last.end => last.end = last.end.max(s.end),
            _ => out.push(s),
        }
    }
    out
}

/// The time of `from` not in `taken`; both sorted and merged (as [`union`] leaves them).
pub fn subtract(from: &[Span], taken: &[Span]) -> Vec<Span> {
    let mut out = Vec::new();
    let mut t = 0;
    for f in from {
        let mut start = f.start;
        while t < taken.len() && taken[t].end <= start {
            t += 1;
        }
        let mut k = t;
        while k < taken.len() && taken[k].start < f.end {
            if let Some(free) = Span::new(start, taken[k].start) {
                out.push(free);
            }
            start = start.max(taken[k].end);
            k += 1;
        }
        if let Some(rest) = Span::new(start, f.end) {
            out.push(rest);
        }
    }
    out
}

/// Every span of `length` inside `free` that starts on a multiple of `step` since the Unix
/// epoch (so on the quarter hour for a 15-minute step, in every zone whose offset is whole
/// quarter hours), earliest first.
pub fn slots(free: &[Span], length: Duration, step: Duration) -> impl Iterator<Item = Span> + '_ {
    let step_s = step.num_seconds().max(60);
    free.iter().flat_map(move |f| {
        let first = f.start.timestamp().div_euclid(step_s) * step_s;
        let first = if first < f.start.timestamp() {
            first + step_s
        } else {
            first
        };
        (0..)
            .map(move |i| first + i * step_s)
            .map(|s| DateTime::from_timestamp(s, 0).unwrap_or(f.end))
            .map(move |start| Span {
                start,
                end: start + length,
            })
            .take_while(move |s| s.end <= f.end)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(hm: &str) -> DateTime<Utc> {
        format!("2026-12-07T{hm}:00Z").parse().unwrap()
    }

    fn span(a: &str, b: &str) -> Span {
        Span::new(at(a), at(b)).unwrap()
    }

    #[test]
    fn touching_spans_do_not_overlap() {
        assert!(!span("09:00", "10:00").overlaps(&span("10:00", "11:00")));
        assert!(span("09:00", "10:01").overlaps(&span("10:00", "11:00")));
        assert!(span("09:00", "12:00").overlaps(&span("10:00", "11:00")));
        assert!(Span::new(at("10:00"), at("10:00")).is_none());
    }

    #[test]
    fn union_merges_overlapping_and_touching() {
        let u = union(vec![
            span("13:00", "14:00"),
            span("09:00", "10:00"),
            span("10:00", "11:00"),
            span("10:30", "12:00"),
        ]);
        assert_eq!(u, [span("09:00", "12:00"), span("13:00", "14:00")]);
    }

    #[test]
    fn subtract_cuts_out_what_is_taken() {
        let free = [span("09:00", "12:00"), span("13:00", "17:00")];
        let taken = [
            span("08:00", "09:30"),
            span("10:00", "10:30"),
            span("11:30", "13:30"),
            span("16:00", "18:00"),
        ];
        assert_eq!(
            subtract(&free, &taken),
            [
                span("09:30", "10:00"),
                span("10:30", "11:30"),
                span("13:30", "16:00")
            ]
        );
        assert_eq!(subtract(&free, &[]), free);
        assert!(subtract(&free, &[span("00:00", "23:00")]).is_empty());
    }

    #[test]
    fn slots_start_on_the_step_and_fit() {
        let free = [span("09:10", "11:00")];
        let got: Vec<Span> = slots(&free, Duration::minutes(50), Duration::minutes(15)).collect();
        assert_eq!(
            got,
            [
                span("09:15", "10:05"),
                span("09:30", "10:20"),
                span("09:45", "10:35"),
                span("10:00", "10:50")
            ]
        );
    }
}
