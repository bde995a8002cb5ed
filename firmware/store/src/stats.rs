//! Statistics per day (Japan's calendar day): sessions by method and outcome, the face check's
//! success rate, and the mean and 95th-percentile session time, from the session records.

use crate::{Store, StoreError};
use std::collections::BTreeMap;

/// Japan Standard Time's offset from UTC (Japan keeps no summer time).
pub const JST_OFFSET_MS: i64 = 9 * 3_600_000;

/// The day (days since 1970-01-01 in Japan) of a time in milliseconds since the Unix epoch.
pub fn day_of(at_ms: i64) -> i64 {
    (at_ms + JST_OFFSET_MS).div_euclid(86_400_000)
}

/// One day's figures.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DayStatistics {
    /// The day ([`day_of`]).
    pub day: i64,
    /// Sessions that ended that day.
    pub sessions: u32,
    /// Sessions by the check that decided them (`face`, `pin`, `visual`, `none`).
    pub by_method: BTreeMap<String, u32>,
    /// Sessions by outcome (`verified`, `not-verified`, `cancelled:…`).
    pub by_outcome: BTreeMap<String, u32>,
    /// Sessions decided by the face check.
    pub face_checks: u32,
    /// Of those, verified.
    pub face_verified: u32,
    /// Mean time from the card accepted to the session's end, in milliseconds (sessions with a
    /// card only).
    pub mean_ms: Option<u32>,
    /// Its 95th percentile (nearest rank).
    pub p95_ms: Option<u32>,
}

impl DayStatistics {
    /// The face check's success rate, if it decided any session.
    pub fn face_success_rate(&self) -> Option<f64> {
        (self.face_checks > 0).then(|| f64::from(self.face_verified) / f64::from(self.face_checks))
    }
}

impl Store {
    /// The statistics of every day from `from_ms` to `to_ms` (exclusive) that had a session,
    /// oldest first.
    pub fn statistics(&self, from_ms: i64, to_ms: i64) -> Result<Vec<DayStatistics>, StoreError> {
        let conn = self.conn()?;
        let mut q = conn.prepare(
            "SELECT at_ms, method, outcome, duration_ms FROM session WHERE at_ms >= ?1 AND at_ms < ?2 ORDER BY at_ms",
        )?;
        let rows = q.query_map([from_ms, to_ms], |r| {
            Ok((
                r.get::<_, i64>(0)?,
                r.get::<_, Option<String>>(1)?,
                r.get::<_, String>(2)?,
                r.get::<_, Option<i64>>(3)?,
            ))
        })?;
        let mut days: BTreeMap<i64, (DayStatistics, Vec<i64>)> = BTreeMap::new();
        for row in rows {
            let (at, method, outcome, duration) = row?;
            let day = day_of(at);
            let (s, durations) =
                days.entry(day).or_insert_with(|| (DayStatistics { day, ..Default::default() }, Vec::new()));
            s.sessions += 1;
            if method.as_deref() == Some("face") {
                s.face_checks += 1;
                s.face_verified += u32::from(outcome == "verified");
            }
            *s.by_method.entry(method.unwrap_or_else(|| "none".into())).or_default() += 1;
            *s.by_outcome.entry(outcome).or_default() += 1;
            durations.extend(duration.filter(|d| *d >= 0));
        }
        Ok(days
            .into_values()
            .map(|(mut s, mut durations)| {
                durations.sort_unstable();
                if !durations.is_empty() {
                    let sum: i64 = durations.iter().sum();
                    s.mean_ms = Some(clamp(sum / durations.len() as i64));
                    // Nearest rank: the smallest value with at least 95% of the values at or below it.
                    let rank = (durations.len() * 95).div_ceil(100).max(1);
                    s.p95_ms = Some(clamp(durations[rank - 1]));
                }
                s
            })
            .collect())
    }
}

fn clamp(ms: i64) -> u32 {
    u32::try_from(ms.max(0)).unwrap_or(u32::MAX)
}
