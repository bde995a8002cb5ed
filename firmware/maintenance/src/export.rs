//! The logs and statistics as the terminal collects them: CSV documents in the facility's
//! output encoding (UTF-8 or Shift_JIS), the logs in pages that each fit one protocol frame.
//! Times are Japan's (`2026-12-07 09:31:05`); every field is a code, a number or the engineer's
//! advice from the store's own table, so no personal data can reach an export.

use crate::settings::OutputEncoding;
use kaoyomi_protocol::{LogKind, TextEncoding};
use kaoyomi_store::{ErrorCode, Store, StoreError};
use std::fmt::Write;

/// The most bytes of CSV in one log page (a frame holds 16 KiB).
pub const PAGE_BYTES: usize = 10 * 1024;
/// The most records read for one page.
const PAGE_RECORDS: usize = 400;

/// A time as Japan reads it: `2026-12-07 09:31:05`.
pub fn jst(at_ms: i64) -> String {
    let local = at_ms + kaoyomi_store::JST_OFFSET_MS;
    let days = local.div_euclid(86_400_000);
    let s = local.rem_euclid(86_400_000) / 1000;
    let (y, m, d) = kaoyomi_core::civil_from_days(days);
    format!("{y}-{m:02}-{d:02} {:02}:{:02}:{:02}", s / 3600, s / 60 % 60, s % 60)
}

/// The protocol's name of an output encoding.
pub fn wire(encoding: OutputEncoding) -> TextEncoding {
    match encoding {
        OutputEncoding::Utf8 => TextEncoding::Utf8,
        OutputEncoding::ShiftJis => TextEncoding::ShiftJis,
    }
}

/// `text` in `encoding` (a character Shift_JIS lacks becomes a numeric character reference).
pub fn encode(text: &str, encoding: OutputEncoding) -> Vec<u8> {
    match encoding {
        OutputEncoding::Utf8 => text.as_bytes().to_vec(),
        OutputEncoding::ShiftJis => encoding_rs::SHIFT_JIS.encode(text).0.into_owned(),
    }
}

/// A field quoted for CSV when it needs it.
fn field(text: &str) -> String {
    if text.contains([',', '"', '\n']) { format!("\"{}\"", text.replace('"', "\"\"")) } else { text.to_string() }
}

/// One page of a log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogPage {
    /// The CSV (header first when the page is the first).
    pub csv: Vec<u8>,
    /// The last record on the page (`after_id` again when the page is empty).
    pub last_id: u64,
    /// More records follow.
    pub more: bool,
}

/// The page of `log` after record `after_id`.
pub fn log_page(store: &Store, log: LogKind, after_id: u64, encoding: OutputEncoding) -> Result<LogPage, StoreError> {
    let after = i64::try_from(after_id).unwrap_or(i64::MAX);
    let mut text = String::new();
    if after_id == 0 {
        text.push_str(match log {
            LogKind::Operations => "id,time_jst,operation,value\r\n",
            LogKind::Errors => "id,time_jst,code,advice\r\n",
        });
    }
    let mut last = after_id;
    let mut more = false;
    let rows: Vec<(i64, String)> = match log {
        LogKind::Operations => store
            .operations_after(after, PAGE_RECORDS)?
            .into_iter()
            .map(|o| {
                let value = o.value.map(|v| v.to_string()).unwrap_or_default();
                (o.id, format!("{},{},{},{}\r\n", o.id, jst(o.at_ms), field(&o.kind), value))
            })
            .collect(),
        LogKind::Errors => store
            .errors_after(after, PAGE_RECORDS)?
            .into_iter()
            .map(|e| {
                let advice = ErrorCode::from_code(&e.code).map(ErrorCode::advice_ja).unwrap_or_default();
                (e.id, format!("{},{},{},{}\r\n", e.id, jst(e.at_ms), field(&e.code), field(advice)))
            })
            .collect(),
    };
    let full = rows.len() == PAGE_RECORDS;
    // The page's encoded size, kept as rows are added (each row encoded once).
    let mut size = encode(&text, encoding).len();
    for (id, row) in rows {
        let row_size = encode(&row, encoding).len();
        if size + row_size > PAGE_BYTES {
            more = true;
            break;
        }
        size += row_size;
        text.push_str(&row);
        last = u64::try_from(id).unwrap_or(0);
    }
    Ok(LogPage { csv: encode(&text, encoding), last_id: last, more: more || full })
}

/// The last `days` days' statistics (today included) as CSV, one row per day.
pub fn statistics_csv(store: &Store, now_ms: i64, days: u16, encoding: OutputEncoding) -> Result<Vec<u8>, StoreError> {
    let today = kaoyomi_store::day_of(now_ms);
    let first = today - i64::from(days.max(1)) + 1;
    let from = first * 86_400_000 - kaoyomi_store::JST_OFFSET_MS;
    let stats = store.statistics(from, now_ms + 1)?;
    let mut text = String::from(
        "day,sessions,face,pin,visual,no_check,verified,not_verified,cancelled,face_checks,face_verified,face_success_percent,mean_s,p95_s\r\n",
    );
    for day in first..=today {
        let s = stats.iter().find(|s| s.day == day).cloned().unwrap_or_default();
        let m = |k: &str| s.by_method.get(k).copied().unwrap_or(0);
        let o = |k: &str| s.by_outcome.get(k).copied().unwrap_or(0);
        let cancelled: u32 = s.by_outcome.iter().filter(|(k, _)| k.starts_with("cancelled")).map(|(_, n)| n).sum();
        let (y, mo, d) = kaoyomi_core::civil_from_days(day);
        let rate = if s.face_checks > 0 {
            format!("{:.1}", 100.0 * f64::from(s.face_verified) / f64::from(s.face_checks))
        } else {
            String::new()
        };
        let secs = |ms: Option<u32>| ms.map(|ms| format!("{:.1}", f64::from(ms) / 1000.0)).unwrap_or_default();
        let _ = write!(
            text,
            "{y}-{mo:02}-{d:02},{},{},{},{},{},{},{},{},{},{},{rate},{},{}\r\n",
            s.sessions,
            m("face"),
            m("pin"),
            m("visual"),
            m("none"),
            o("verified"),
            o("not-verified"),
            cancelled,
            s.face_checks,
            s.face_verified,
            secs(s.mean_ms),
            secs(s.p95_ms),
        );
    }
    Ok(encode(&text, encoding))
}
