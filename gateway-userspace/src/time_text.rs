//! Times as people read and write them: RFC 3339 in UTC, without a
//! calendar crate (the civil-date conversion is Howard Hinnant's).

/// `2026-11-25T09:40:00.123Z` for milliseconds since the epoch.
#[must_use]
pub fn rfc3339(unix_ms: u64) -> String {
    let secs = unix_ms / 1000;
    let days = i64::try_from(secs / 86_400).unwrap_or(0);
    let rem = secs % 86_400;
    let (y, m, d) = civil_from_days(days);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{:03}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60,
        unix_ms % 1000
    )
}

/// Milliseconds since the epoch from digits (already milliseconds) or
/// RFC 3339 (`2026-11-25T09:40:00Z`, fractions and `±HH:MM` allowed).
pub fn parse(text: &str) -> Result<u64, String> {
    let text = text.trim();
    if text.bytes().all(|b| b.is_ascii_digit()) {
        return text.parse().map_err(|e| format!("{text:?}: {e}"));
    }
    let bad = || format!("{text:?}: expected RFC 3339 (2026-11-25T09:40:00Z) or unix milliseconds");
    let (date, rest) = text.split_once(['T', 't', ' ']).ok_or_else(bad)?;
    let mut parts = date.splitn(3, '-');
    let number = |s: Option<&str>| s.and_then(|s| s.parse::<i64>().ok()).ok_or_else(bad);
    let (y, mo, d) = (
        number(parts.next())?,
        number(parts.next())?,
        number(parts.next())?,
    );
    let (clock, offset_secs) = if let Some(clock) = rest.strip_suffix(['Z', 'z']) {
        (clock, 0)
    } else if let Some(at) = rest.rfind(['+', '-']) {
        let (clock, offset) = rest.split_at(at);
        let sign = if offset.starts_with('-') { -1 } else { 1 };
        let (h, m) = offset[1..].split_once(':').ok_or_else(bad)?;
        let h: i64 = h.parse().map_err(|_| bad())?;
        let m: i64 = m.parse().map_err(|_| bad())?;
        (clock, sign * (h * 3600 + m * 60))
    } else {
        return Err(bad());
    };
    let (hms, fraction) = clock.split_once('.').unwrap_or((clock, ""));
    let mut hms = hms
        .splitn(3, ':')
        .map(|s| s.parse::<i64>().map_err(|_| bad()));
    let (h, mi, s) = (
        hms.next().ok_or_else(bad)??,
        hms.next().ok_or_else(bad)??,
        hms.next().ok_or_else(bad)??,
    );
    if !fraction.bytes().all(|b| b.is_ascii_digit()) {
        return Err(bad());
    }
    let millis: i64 = format!("{fraction:0<3}")[..3].parse().map_err(|_| bad())?;
    // A day the month does not have (2026-02-31) is refused, not carried
    // into the next month.
    if !(1..=12).contains(&mo)
        || !(1..=31).contains(&d)
        || civil_from_days(days_from_civil(y, mo, d)) != (y, mo, d)
        || h > 23
        || mi > 59
        || s > 60
    {
        return Err(bad());
    }
    let secs = days_from_civil(y, mo, d) * 86_400 + h * 3600 + mi * 60 + s - offset_secs;
    u64::try_from(secs * 1000 + millis).map_err(|_| bad())
}

fn civil_from_days(z: i64) -> (i64, i64, i64) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    (yoe + era * 400 + i64::from(m <= 2), m, d)
}

fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y.rem_euclid(400);
    let mp = if m > 2 { m - 3 } else { m + 9 };
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

#[cfg(test)]
mod tests {
    use super::{parse, rfc3339};

    #[test]
    fn round_trips() {
        for ms in [0, 1_764_063_600_123, 951_782_400_000, 4_102_444_799_999] {
            assert_eq!(parse(&rfc3339(ms)).unwrap(), ms, "{}", rfc3339(ms));
        }
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00.000Z");
        assert_eq!(rfc3339(951_782_400_000), "2000-02-29T00:00:00.000Z");
    }

    #[test]
    fn offsets_digits_and_nonsense() {
        assert_eq!(parse("1970-01-01T01:00:00+01:00").unwrap(), 0);
        assert_eq!(parse("1234").unwrap(), 1234);
        assert!(parse("yesterday").is_err());
        assert!(parse("2026-13-01T00:00:00Z").is_err());
        assert!(parse("2026-02-31T00:00:00Z").is_err(), "no 31 February");
        assert!(parse("2025-02-29T00:00:00Z").is_err(), "not a leap year");
        assert!(parse("2024-02-29T00:00:00Z").is_ok());
        assert!(
            parse("2026-01-01T00:00:00.ééZ").is_err(),
            "a fraction of other characters is refused, not sliced"
        );
        assert_eq!(parse("1970-01-01T00:00:00.5Z").unwrap(), 500);
    }
}
