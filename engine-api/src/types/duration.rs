//! Go's duration syntax, as docker's duration flags take it (`--health-interval
//! 300ms`, `1m30s`, `1.5h`, `-2s`) and as Go prints one back (`Duration.String`,
//! which docker uses in its messages). The one parser for clients: the CLI and
//! anything else that reads what a docker user types.

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

/// A signed duration in nanoseconds (Go's `time.Duration`). Signed because Go's
/// syntax is: `-5s` parses, and a flag that cannot be negative says so itself.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct GoDuration(pub i64);

/// Go's own texts (`time.ParseDuration`'s errors), so a message reads as docker's.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InvalidDuration {
    #[error("time: invalid duration {0:?}")]
    Invalid(String),
    #[error("time: missing unit in duration {0:?}")]
    MissingUnit(String),
    #[error("time: unknown unit {unit:?} in duration {text:?}")]
    UnknownUnit { unit: String, text: String },
}

impl GoDuration {
    pub const ZERO: GoDuration = GoDuration(0);

    pub fn from_std(d: Duration) -> GoDuration {
        GoDuration(i64::try_from(d.as_nanos()).unwrap_or(i64::MAX))
    }

    /// `None` when negative.
    pub fn to_std(self) -> Option<Duration> {
        u64::try_from(self.0).ok().map(Duration::from_nanos)
    }

    pub fn is_negative(self) -> bool {
        self.0 < 0
    }
}

fn unit_nanos(unit: &str) -> Option<u64> {
    Some(match unit {
        "ns" => 1,
        // Go takes the micro sign (U+00B5) and the Greek mu (U+03BC).
        "us" | "µs" | "μs" => 1_000,
        "ms" => 1_000_000,
        "s" => 1_000_000_000,
        "m" => 60_000_000_000,
        "h" => 3_600_000_000_000,
        _ => return None,
    })
}

impl FromStr for GoDuration {
    type Err = InvalidDuration;

    /// `[-+]` then one or more `<decimal><unit>`; a bare `0` needs no unit.
    /// Integer arithmetic, as Go's: `1.1s` is exactly 1_100_000_000 ns.
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let invalid = || InvalidDuration::Invalid(text.to_string());
        let (neg, mut rest) = match text.as_bytes().first() {
            Some(b'-') => (true, &text[1..]),
            Some(b'+') => (false, &text[1..]),
            _ => (false, text),
        };
        if rest == "0" {
            return Ok(GoDuration(0));
        }
        if rest.is_empty() {
            return Err(invalid());
        }
        let mut total: u64 = 0;
        while !rest.is_empty() {
            let int_end = rest
                .find(|c: char| !c.is_ascii_digit())
                .unwrap_or(rest.len());
            let (int_digits, after) = rest.split_at(int_end);
            let (frac_digits, after) = match after.strip_prefix('.') {
                Some(a) => {
                    let end = a.find(|c: char| !c.is_ascii_digit()).unwrap_or(a.len());
                    a.split_at(end)
                }
                None => ("", after),
            };
            if int_digits.is_empty() && frac_digits.is_empty() {
                return Err(invalid());
            }
            let unit_end = after
                .find(|c: char| c == '.' || c.is_ascii_digit())
                .unwrap_or(after.len());
            let (unit, after) = after.split_at(unit_end);
            if unit.is_empty() {
                return Err(InvalidDuration::MissingUnit(text.to_string()));
            }
            let scale = unit_nanos(unit).ok_or_else(|| InvalidDuration::UnknownUnit {
                unit: unit.to_string(),
                text: text.to_string(),
            })?;
            let int: u64 = if int_digits.is_empty() {
                0
            } else {
                int_digits.parse().map_err(|_| invalid())?
            };
            let mut v = int.checked_mul(scale).ok_or_else(invalid)?;
            // The fraction, digit by digit, as far as it still adds a nanosecond.
            let mut place = scale as f64;
            let mut frac = 0f64;
            for d in frac_digits.bytes() {
                place /= 10.0;
                frac += f64::from(d - b'0') * place;
            }
            v = v.checked_add(frac as u64).ok_or_else(invalid)?;
            total = total.checked_add(v).ok_or_else(invalid)?;
            rest = after;
        }
        if total > i64::MAX as u64 {
            return Err(invalid());
        }
        let n = total as i64;
        Ok(GoDuration(if neg { -n } else { n }))
    }
}

/// `v / 10^prec` as `.digits`, trailing zeros (and a bare point) left out.
fn frac(v: u64, prec: u32) -> (String, u64) {
    let p = 10u64.pow(prec);
    let digits = format!("{:0width$}", v % p, width = prec as usize);
    let digits = digits.trim_end_matches('0');
    let s = if digits.is_empty() {
        String::new()
    } else {
        format!(".{digits}")
    };
    (s, v / p)
}

impl fmt::Display for GoDuration {
    /// Go's `Duration.String`: `0s`, `300ms`, `1.5µs`, `30s`, `1m30s`, `1h0m0s`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let neg = if self.0 < 0 { "-" } else { "" };
        let u = self.0.unsigned_abs();
        if u == 0 {
            return f.write_str("0s");
        }
        if u < 1_000_000_000 {
            let (unit, prec) = match u {
                0..=999 => ("ns", 0),
                1_000..=999_999 => ("µs", 3),
                _ => ("ms", 6),
            };
            let (fr, int) = frac(u, prec);
            return write!(f, "{neg}{int}{fr}{unit}");
        }
        let (fr, secs) = frac(u, 9);
        let (s, mins) = (secs % 60, secs / 60);
        let (m, hours) = (mins % 60, mins / 60);
        match (hours, mins) {
            (0, 0) => write!(f, "{neg}{s}{fr}s"),
            (0, _) => write!(f, "{neg}{m}m{s}{fr}s"),
            _ => write!(f, "{neg}{hours}h{m}m{s}{fr}s"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(s: &str) -> Result<i64, InvalidDuration> {
        s.parse::<GoDuration>().map(|d| d.0)
    }

    #[test]
    fn parses_what_go_parses() {
        assert_eq!(p("0"), Ok(0));
        assert_eq!(p("300ms"), Ok(300_000_000));
        assert_eq!(p("1m30s"), Ok(90_000_000_000));
        assert_eq!(p("1.5h"), Ok(5_400_000_000_000));
        assert_eq!(p("1.1s"), Ok(1_100_000_000));
        assert_eq!(p(".5s"), Ok(500_000_000));
        assert_eq!(p("2us"), Ok(2_000));
        assert_eq!(p("2µs"), Ok(2_000));
        assert_eq!(p("7ns"), Ok(7));
        assert_eq!(p("-2s"), Ok(-2_000_000_000));
        assert_eq!(p("+2s"), Ok(2_000_000_000));
        assert_eq!(p("1h2m3s4ms"), Ok(3_723_004_000_000));
    }

    #[test]
    fn refuses_with_gos_texts() {
        assert_eq!(
            p("5").unwrap_err().to_string(),
            "time: missing unit in duration \"5\""
        );
        assert_eq!(
            p("5d").unwrap_err().to_string(),
            "time: unknown unit \"d\" in duration \"5d\""
        );
        for bad in ["", "-", "s", "x", "1..5s", "99999999999h", "."] {
            assert!(p(bad).is_err(), "{bad}");
        }
        assert_eq!(
            p("x").unwrap_err().to_string(),
            "time: invalid duration \"x\""
        );
    }

    #[test]
    fn prints_as_go_prints() {
        let s = |n: i64| GoDuration(n).to_string();
        assert_eq!(s(0), "0s");
        assert_eq!(s(300_000_000), "300ms");
        assert_eq!(s(1_500), "1.5µs");
        assert_eq!(s(30_000_000_000), "30s");
        assert_eq!(s(90_000_000_000), "1m30s");
        assert_eq!(s(3_600_000_000_000), "1h0m0s");
        assert_eq!(s(1_500_000_000), "1.5s");
        assert_eq!(s(-2_000_000_000), "-2s");
        assert_eq!(s(12), "12ns");
        for text in ["300ms", "1m30s", "2h0m5.5s", "250µs"] {
            assert_eq!(text.parse::<GoDuration>().unwrap().to_string(), text);
        }
    }
}
