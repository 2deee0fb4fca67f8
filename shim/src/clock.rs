//! Wall-clock instants and their RFC 3339 text (Go's `time.RFC3339Nano`, as
//! docker writes it). A few lines instead of chrono: every dependency's code
//! counts in each shim's resident memory.

use std::time::{SystemTime, UNIX_EPOCH};

/// Nanoseconds since the Unix epoch, UTC.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Instant {
    pub unix_nanos: i64,
}

impl Instant {
    pub fn now() -> Instant {
        let nanos = match SystemTime::now().duration_since(UNIX_EPOCH) {
            Ok(d) => i64::try_from(d.as_nanos()).unwrap_or(i64::MAX),
            Err(e) => -i64::try_from(e.duration().as_nanos()).unwrap_or(i64::MAX),
        };
        Instant { unix_nanos: nanos }
    }

    /// `2006-01-02T15:04:05.999999999Z`: trailing zeros of the fraction
    /// dropped, and the dot too when nothing is left.
    pub fn rfc3339_nano(self) -> String {
        let secs = self.unix_nanos.div_euclid(1_000_000_000);
        let nanos = self.unix_nanos.rem_euclid(1_000_000_000);
        let days = secs.div_euclid(86_400);
        let sod = secs.rem_euclid(86_400);
        let (y, m, d) = civil_from_days(days);
        let base = format!(
            "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}",
            sod / 3600,
            sod % 3600 / 60,
            sod % 60
        );
        if nanos == 0 {
            return format!("{base}Z");
        }
        let frac = format!("{nanos:09}");
        format!("{base}.{}Z", frac.trim_end_matches('0'))
    }
}

/// Days since 1970-01-01 to (year, month, day) in the proleptic Gregorian
/// calendar (H. Hinnant's `civil_from_days`).
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(secs: i64, nanos: i64) -> String {
        Instant {
            unix_nanos: secs * 1_000_000_000 + nanos,
        }
        .rfc3339_nano()
    }

    #[test]
    fn formats_like_go_rfc3339nano() {
        assert_eq!(at(0, 0), "1970-01-01T00:00:00Z");
        assert_eq!(at(1_700_000_000, 120_000_000), "2023-11-14T22:13:20.12Z");
        assert_eq!(at(1_700_000_000, 1), "2023-11-14T22:13:20.000000001Z");
        assert_eq!(at(951_782_400, 0), "2000-02-29T00:00:00Z");
        assert_eq!(
            at(4_107_542_399, 999_999_999),
            "2100-02-28T23:59:59.999999999Z"
        );
        assert_eq!(at(-1, 0), "1969-12-31T23:59:59Z");
    }

    #[test]
    fn agrees_with_chrono_over_many_days() {
        for i in 0..10_000i64 {
            let secs = i * 86_400 * 7 + i * 3_601;
            let ours = at(secs, 0);
            let theirs = chrono::DateTime::from_timestamp(secs, 0)
                .unwrap()
                .format("%Y-%m-%dT%H:%M:%SZ")
                .to_string();
            assert_eq!(ours, theirs);
        }
    }

    #[test]
    fn now_is_after_2020() {
        assert!(Instant::now().unix_nanos > 1_577_836_800 * 1_000_000_000);
    }
}
