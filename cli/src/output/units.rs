//! Human units as docker prints them.

use chrono::{DateTime, Utc};

/// "12.3MB", docker's decimal units (go-units HumanSize, 4 significant digits).
pub fn size(bytes: f64) -> String {
    let units = ["B", "kB", "MB", "GB", "TB", "PB"];
    let mut v = bytes;
    let mut i = 0;
    while v >= 1000.0 && i + 1 < units.len() {
        v /= 1000.0;
        i += 1;
    }
    format!("{}{}", sig4(v), units[i])
}

/// `%.4g` without trailing zeros.
fn sig4(v: f64) -> String {
    let digits = if v >= 100.0 {
        1
    } else if v >= 10.0 {
        2
    } else {
        3
    };
    let s = format!("{v:.digits$}");
    if s.contains('.') {
        s.trim_end_matches('0').trim_end_matches('.').to_string()
    } else {
        s
    }
}

/// "1.5GiB", binary units (go-units BytesSize), for memory.
pub fn bytes(b: f64) -> String {
    let units = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut v = b;
    let mut i = 0;
    while v >= 1024.0 && i + 1 < units.len() {
        v /= 1024.0;
        i += 1;
    }
    format!("{v:.4}")
        .parse::<f64>()
        .map(|x| format!("{}{}", trim(x), units[i]))
        .unwrap_or_default()
}

fn trim(x: f64) -> String {
    let s = format!("{x:.2}");
    s.trim_end_matches('0').trim_end_matches('.').to_string()
}

/// "3 seconds", "About a minute", "2 hours" (go-units HumanDuration).
pub fn duration(secs: i64) -> String {
    let s = secs.max(0);
    match s {
        0 => "Less than a second".into(),
        1 => "1 second".into(),
        2..=59 => format!("{s} seconds"),
        60..=119 => "About a minute".into(),
        _ if s < 3600 => format!("{} minutes", s / 60),
        _ if s < 2 * 3600 => "About an hour".into(),
        _ if s < 48 * 3600 => format!("{} hours", s / 3600),
        _ if s < 7 * 24 * 3600 * 2 => format!("{} days", s / 86400),
        _ if s < 30 * 24 * 3600 * 3 => format!("{} weeks", s / (7 * 86400)),
        _ if s < 365 * 24 * 3600 * 2 => format!("{} months", s / (30 * 86400)),
        _ => format!("{} years", s / (365 * 86400)),
    }
}

pub fn parse_time(s: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(s)
        .ok()
        .map(|t| t.with_timezone(&Utc))
}

/// Seconds since an RFC 3339 time.
pub fn ago(s: &str) -> i64 {
    parse_time(s)
        .map(|t| (Utc::now() - t).num_seconds())
        .unwrap_or(0)
}

/// docker's `--since`/`--until`: RFC 3339, unix seconds (with fraction), or a
/// relative duration ("10m", "1h30m", "45s") before now. Unix nanoseconds.
pub fn parse_since(s: &str) -> Option<i64> {
    if let Some(t) = parse_time(s) {
        return t.timestamp_nanos_opt();
    }
    if let Ok(f) = s.parse::<f64>() {
        return Some((f * 1e9) as i64);
    }
    let mut total = 0f64;
    let mut num = String::new();
    for ch in s.chars() {
        if ch.is_ascii_digit() || ch == '.' {
            num.push(ch);
            continue;
        }
        let n: f64 = num.parse().ok()?;
        num.clear();
        total += n * match ch {
            's' => 1.0,
            'm' => 60.0,
            'h' => 3600.0,
            'd' => 86400.0,
            _ => return None,
        };
    }
    if !num.is_empty() {
        return None;
    }
    let now = Utc::now().timestamp_nanos_opt()?;
    Some(now - (total * 1e9) as i64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_and_durations() {
        assert_eq!(size(4_400_000.0), "4.4MB");
        assert_eq!(size(999.0), "999B");
        assert_eq!(size(1_234_567_890.0), "1.235GB");
        assert_eq!(bytes(1024.0 * 1024.0 * 1.5), "1.5MiB");
        assert_eq!(duration(3), "3 seconds");
        assert_eq!(duration(90), "About a minute");
        assert_eq!(duration(7200), "2 hours");
    }

    #[test]
    fn since_forms() {
        assert_eq!(parse_since("1700000000"), Some(1_700_000_000_000_000_000));
        let now = Utc::now().timestamp_nanos_opt().unwrap();
        let t = parse_since("10m").unwrap();
        assert!((now - t - 600_000_000_000).abs() < 5_000_000_000);
        assert!(parse_since("x").is_none());
        assert!(parse_since("2024-01-02T03:04:05Z").is_some());
    }
}
